// Package sim simulates the replicas of a read service on loopback, for the
// gateway's tests, the demo and `gateway sim`: each Replica draws its latency
// from a Dist, adds a rare tail, fails or serves an old version as its Profile
// says, can hang or refuse on demand, and is driven at run time through its
// /_sim/ control endpoint. A Cluster starts several that share one version
// epoch, so a write (Bump) is seen by all. docs/simulator.md is the user's guide.
//
// The package imports neither the gateway nor any HTTP framework or metrics
// library: a load test against simulated replicas links only net/http.
package sim
