// Package integration runs hedgegate in front of real replicated servers that nobody
// here wrote: a three-member etcd cluster and three nginx instances, all on 127.0.0.1.
//
// The tests are behind the integration build tag and need etcd, etcdctl and nginx
// on the PATH (Debian's etcd-server, etcd-client and nginx packages):
//
//	scripts/ci-integration.sh                       # installs what is missing, runs them
//	go test -tags integration -count=1 -v ./integration/
//
// They start the servers with scripts/etcd-cluster.sh and scripts/nginx-replicas.sh
// (on free loopback ports, in temporary directories), run the gateway in-process
// from examples/etcd.yaml and examples/static.yaml with the ports rewritten, inject
// faults (SIGSTOP, SIGKILL, a member cut off from its peers by an in-test proxy) and
// log the figures docs/etcd.md and docs/static.md quote. Each test stops exactly the
// processes it started.
package integration
