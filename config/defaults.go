package config

import (
	"strconv"
	"time"
)

// The defaults of every key a file may leave out, written down here only: the fields
// in types.go point here, and docs/config.md shows them (TestDocsShowTheDefaults
// checks its tables against these). A key written out keeps its value, zero
// included; see applyDefaults.
const (
	DefaultListen               = "127.0.0.1:8080"
	DefaultAdminListen          = "127.0.0.1:9901"
	DefaultMaxInflight          = 4096
	DefaultMaxRequestBodyBytes  = 1 << 20
	DefaultMaxResponseBodyBytes = 8 << 20
	DefaultMaxHeaderBytes       = 64 << 10
	DefaultWindow               = 10 * time.Second
	DefaultBuckets              = 6
	DefaultMinSamples           = 50
	DefaultConnectTimeout       = 200 * time.Millisecond
	DefaultWarmConnections      = 2
	DefaultProtocol             = ProtocolHTTP1
	DefaultClient               = ClientAuto
	DefaultTimeout              = time.Second
	DefaultPercentile           = 95
	DefaultInitialDelay         = 10 * time.Millisecond
	DefaultMinDelay             = time.Millisecond
	DefaultMaxDelay             = 200 * time.Millisecond
	DefaultMaxAttempts          = 3
	DefaultFanout               = 2
	DefaultMaxKeys              = 100000
	DefaultBackoffBase          = 2 * time.Millisecond
	DefaultBackoffMax           = 50 * time.Millisecond
	DefaultBudgetRatio          = 0.1
	DefaultBudgetMinPerSecond   = 10
	DefaultDrainDelay           = 0 * time.Second
	DefaultShutdownTimeout      = 30 * time.Second
	DefaultMetricsListen        = ""
	DefaultH2C                  = false
	DefaultLogLevel             = LogInfo
	DefaultLogFormat            = LogJSON
	DefaultAccessSample         = 1.0
	DefaultOTLPEndpoint         = ""
	DefaultSampleRatio          = 0.01
	DefaultDiscoveryRefresh     = 10 * time.Second
	DefaultDiscoveryScheme      = "http"
	DefaultDiscoveryFamily      = "ip"
)

// Bounds of a discovery set. Below MinDiscoveryRefresh a fleet of gateways loads its
// resolver for nothing (Kubernetes' DNS records live 5s). Above MaxDiscoveredMembers a
// name is likelier a mistake than a replica set: every member costs a connection pool,
// metrics series and about 208 KiB of latency histograms (default buckets).
const (
	MinDiscoveryRefresh  = time.Second
	MaxDiscoveredMembers = 64
)

// DefaultStrategy is a route's strategy, DefaultConflict a quorum's conflict rule.
// quorum.read defaults to a majority of the route's set, len(replicas)/2+1.
const (
	DefaultStrategy = StrategyHedge
	DefaultConflict = ConflictMajority
)

// DefaultMinVersionHeader is min_version_header on a route that has a version;
// a route without one has none.
const DefaultMinVersionHeader = "X-Min-Version"

// DefaultAttemptTimeout returns a route's default attempt_timeout, auto: derived
// from the replica's measured latency.
func DefaultAttemptTimeout() AttemptTimeout { return AttemptTimeout{Auto: true} }

// DefaultMethods returns a route's default methods, GET and HEAD (a fresh slice).
func DefaultMethods() []string { return []string{"GET", "HEAD"} }

// DefaultRetryOn returns a route's default retry.on: every transport failure and 5xx
// (a fresh slice).
func DefaultRetryOn() []string {
	return []string{RetryConnectFailure, RetryReset, RetryTimeout, Retry5xx}
}

// applyDefaults fills every key that given reports absent. Presence comes from the
// node walk, not from zero values, so an explicit 0 (warm_connections: 0,
// budget.ratio: 0) or an explicit empty list (retry.on: []) stays as written.
func applyDefaults(c *Config, given func(path string) bool) {
	setDefault(given, "listen", &c.Listen, DefaultListen)
	setDefault(given, "admin_listen", &c.AdminListen, DefaultAdminListen)
	setDefault(given, "metrics_listen", &c.MetricsListen, DefaultMetricsListen)
	setDefault(given, "h2c", &c.H2C, DefaultH2C)
	setDefault(given, "log.level", &c.Log.Level, DefaultLogLevel)
	setDefault(given, "log.format", &c.Log.Format, DefaultLogFormat)
	setDefault(given, "log.access.sample", &c.Log.Access.Sample, DefaultAccessSample)

	setDefault(given, "limits.max_inflight", &c.Limits.MaxInflight, DefaultMaxInflight)
	setDefault(given, "limits.max_request_body_bytes", &c.Limits.MaxRequestBodyBytes, DefaultMaxRequestBodyBytes)
	setDefault(given, "limits.max_response_body_bytes", &c.Limits.MaxResponseBodyBytes, DefaultMaxResponseBodyBytes)
	setDefault(given, "limits.max_header_bytes", &c.Limits.MaxHeaderBytes, DefaultMaxHeaderBytes)

	setDefault(given, "shutdown.drain_delay", &c.Shutdown.DrainDelay, Duration(DefaultDrainDelay))
	setDefault(given, "shutdown.timeout", &c.Shutdown.Timeout, Duration(DefaultShutdownTimeout))
	setDefault(given, "tracing.otlp_endpoint", &c.Tracing.OTLPEndpoint, DefaultOTLPEndpoint)
	setDefault(given, "tracing.sample_ratio", &c.Tracing.SampleRatio, DefaultSampleRatio)
	if !given("trusted_proxies") {
		c.TrustedProxies = []string{}
	}

	setDefault(given, "latency.window", &c.Latency.Window, Duration(DefaultWindow))
	setDefault(given, "latency.buckets", &c.Latency.Buckets, DefaultBuckets)
	setDefault(given, "latency.min_samples", &c.Latency.MinSamples, DefaultMinSamples)

	for name, rs := range c.ReplicaSets {
		p := joinKey("replica_sets", name) + "."
		setDefault(given, p+"connect_timeout", &rs.ConnectTimeout, Duration(DefaultConnectTimeout))
		setDefault(given, p+"warm_connections", &rs.WarmConnections, DefaultWarmConnections)
		setDefault(given, p+"protocol", &rs.Protocol, DefaultProtocol)
		setDefault(given, p+"client", &rs.Client, DefaultClient)
		if rs.Discovery != nil {
			setDefault(given, p+"discovery.refresh", &rs.Discovery.Refresh, Duration(DefaultDiscoveryRefresh))
			setDefault(given, p+"discovery.scheme", &rs.Discovery.Scheme, DefaultDiscoveryScheme)
			setDefault(given, p+"discovery.family", &rs.Discovery.Family, DefaultDiscoveryFamily)
		}
	}

	for i, r := range c.Routes {
		p := "routes[" + strconv.Itoa(i) + "]."
		if !given(p + "methods") {
			r.Methods = DefaultMethods()
		}
		setDefault(given, p+"strategy", &r.Strategy, DefaultStrategy)
		setDefault(given, p+"timeout", &r.Timeout, Duration(DefaultTimeout))
		setDefault(given, p+"attempt_timeout", &r.AttemptTimeout, DefaultAttemptTimeout())
		if _, versioned := r.ResponseVersion(); versioned {
			setDefault(given, p+"min_version_header", &r.MinVersionHeader, DefaultMinVersionHeader)
		}

		setDefault(given, p+"hedge.percentile", &r.Hedge.Percentile, HedgePercentile{Fixed: DefaultPercentile})
		setDefault(given, p+"hedge.initial_delay", &r.Hedge.InitialDelay, Duration(DefaultInitialDelay))
		setDefault(given, p+"hedge.min_delay", &r.Hedge.MinDelay, Duration(DefaultMinDelay))
		setDefault(given, p+"hedge.max_delay", &r.Hedge.MaxDelay, Duration(DefaultMaxDelay))
		setDefault(given, p+"hedge.max_attempts", &r.Hedge.MaxAttempts, DefaultMaxAttempts)

		setDefault(given, p+"parallel.fanout", &r.Parallel.Fanout, DefaultFanout)

		// A majority of a set that does not exist is unknowable; validation reports
		// the missing set instead. So is one of a discovery set, whose size changes:
		// its quorum routes must write read.
		if rs, ok := c.ReplicaSets[r.ReplicaSet]; ok && rs != nil && rs.Discovery == nil {
			setDefault(given, p+"quorum.read", &r.Quorum.Read, len(rs.Replicas)/2+1)
		}
		setDefault(given, p+"quorum.conflict", &r.Quorum.Conflict, DefaultConflict)
		setDefault(given, p+"quorum.monotonic.max_keys", &r.Quorum.Monotonic.MaxKeys, DefaultMaxKeys)

		if !given(p + "retry.on") {
			r.Retry.On = DefaultRetryOn()
		}
		setDefault(given, p+"retry.backoff_base", &r.Retry.BackoffBase, Duration(DefaultBackoffBase))
		setDefault(given, p+"retry.backoff_max", &r.Retry.BackoffMax, Duration(DefaultBackoffMax))

		setDefault(given, p+"budget.ratio", &r.Budget.Ratio, DefaultBudgetRatio)
		setDefault(given, p+"budget.min_per_second", &r.Budget.MinPerSecond, DefaultBudgetMinPerSecond)
	}
}

func setDefault[T any](given func(string) bool, path string, field *T, def T) {
	if !given(path) {
		*field = def
	}
}
