// Package config holds hedgegate's YAML schema, its defaults and its validation.
//
// Settings only: nothing here holds runtime state. A Config is built once by Load or
// Parse, validated as a whole, and then treated as immutable; a reload builds a new one.
package config

import (
	"net"
	"strings"
	"time"
)

// Config is one whole gateway configuration file.
type Config struct {
	// Listen is the address of the client-facing listener. Default [DefaultListen].
	Listen string `yaml:"listen" json:"listen"`
	// AdminListen serves /metrics, /healthz, /readyz, /debug/* and POST /reload: the
	// control port. Default [DefaultAdminListen]. Hazard: anyone who reaches it can
	// reload the config and read it; keep it on loopback or a private interface and
	// give Prometheus and probes MetricsListen instead.
	AdminListen string `yaml:"admin_listen" json:"admin_listen"`
	// MetricsListen, when set, is a third listener serving only /metrics, /healthz and
	// /readyz: read-only, for Prometheus and kubelet probes on the pod's address,
	// while AdminListen stays on loopback. Default [DefaultMetricsListen] (none; the
	// admin listener serves all three either way).
	MetricsListen string `yaml:"metrics_listen" json:"metrics_listen"`
	// TLS, when its files are set, makes Listen serve HTTPS, with HTTP/2 by ALPN and
	// HTTP/1.1. The pair is read again on every reload. Default: off.
	TLS TLS `yaml:"tls" json:"tls"`
	// H2C accepts cleartext HTTP/2 with prior knowledge on Listen (besides HTTP/1.1),
	// for clients inside a cluster. Not with TLS, which negotiates HTTP/2 by ALPN.
	// Default [DefaultH2C].
	H2C bool `yaml:"h2c" json:"h2c"`
	// Log shapes the gateway's own log lines and the optional access log.
	Log Log `yaml:"log" json:"log"`

	Limits  Limits  `yaml:"limits" json:"limits"`
	Latency Latency `yaml:"latency" json:"latency"`

	// Shutdown shapes the drain on SIGTERM/SIGINT.
	Shutdown Shutdown `yaml:"shutdown" json:"shutdown"`
	// Tracing sends OpenTelemetry traces of client requests and their attempts.
	// Default: off.
	Tracing Tracing `yaml:"tracing" json:"tracing"`
	// TrustedProxies are the peers (CIDRs such as 10.0.0.0/8, or single addresses)
	// whose X-Forwarded-For/-Proto/-Host, Forwarded and X-Real-IP headers are passed on
	// as sent. From any other peer they are replaced by what the gateway saw. Default
	// [] (no peer is trusted). Hazard: a range wider than your load balancers lets
	// clients in it forge their address for every replica's logs and ACLs.
	TrustedProxies []string `yaml:"trusted_proxies" json:"trusted_proxies"`

	// ReplicaSets maps a set name to its replicas. At least one is required.
	ReplicaSets map[string]*ReplicaSet `yaml:"replica_sets" json:"replica_sets"`
	// Routes are matched in order by the router. At least one is required.
	Routes []*Route `yaml:"routes" json:"routes"`

	Debug Debug `yaml:"debug" json:"debug"`

	// Source is the file the config was read from ("" when parsed from memory).
	Source string `yaml:"-" json:"source,omitempty"`

	// lines maps a field path to the line of its key, for Line and for problems
	// found after parsing. nil for a Config built in code.
	lines map[string]int
}

// Limits bound what one client request may cost the gateway.
type Limits struct {
	// MaxInflight is the number of client requests served at once; past it the gateway
	// answers 503 with Retry-After at once. Default [DefaultMaxInflight].
	MaxInflight int `yaml:"max_inflight" json:"max_inflight"`
	// MaxRequestBodyBytes bounds the buffered request body (replayed per attempt); 413
	// past it. Default [DefaultMaxRequestBodyBytes].
	MaxRequestBodyBytes int64 `yaml:"max_request_body_bytes" json:"max_request_body_bytes"`
	// MaxResponseBodyBytes bounds what a quorum route buffers per replica answer, and
	// the read-ahead of hedge and parallel answers (64 KiB, or this when lower).
	// Default [DefaultMaxResponseBodyBytes].
	MaxResponseBodyBytes int64 `yaml:"max_response_body_bytes" json:"max_response_body_bytes"`
	// MaxHeaderBytes bounds request headers; net/http answers 431 past it.
	// Default [DefaultMaxHeaderBytes].
	MaxHeaderBytes int `yaml:"max_header_bytes" json:"max_header_bytes"`
}

// Shutdown is what SIGTERM (or SIGINT) does: /readyz turns 503 at once; the gateway
// keeps serving for DrainDelay, answering with Connection: close; then it closes its
// listeners and waits for requests in flight up to Timeout. A second signal stops at once.
type Shutdown struct {
	// DrainDelay is how long the listeners stay open after the signal, so load
	// balancers see /readyz fail and stop sending first. Default [DefaultDrainDelay]. Set it to a little
	// more than your readiness probe's period × failure threshold.
	DrainDelay Duration `yaml:"drain_delay" json:"drain_delay"`
	// Timeout bounds the wait for requests in flight after the listeners close; those
	// still running then are cut off. Default [DefaultShutdownTimeout]; must be > 0.
	Timeout Duration `yaml:"timeout" json:"timeout"`
}

// TLS names the client listener's certificate and key: PEM files, the certificate
// file holding the leaf first and then any intermediates. Both or neither must be
// set. Relative paths are relative to the gateway's working directory.
type TLS struct {
	// CertFile is the certificate chain. Default "" (no TLS).
	CertFile string `yaml:"cert_file" json:"cert_file"`
	// KeyFile is the private key matching the leaf. Default "" (no TLS).
	KeyFile string `yaml:"key_file" json:"key_file"`
}

// Enabled reports whether a certificate is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Log levels and formats accepted in log.level and log.format.
const (
	LogDebug = "debug"
	LogInfo  = "info"
	LogWarn  = "warn"
	LogError = "error"

	LogJSON = "json"
	LogText = "text"
)

// Log configures the gateway's logs, written to standard error.
type Log struct {
	// Level is the least severe level written: debug, info, warn or error; follows
	// reloads. Default [DefaultLogLevel].
	Level string `yaml:"level" json:"level"`
	// Format is json (one JSON object a line) or text (key=value). Cannot change on
	// reload. Default [DefaultLogFormat].
	Format string `yaml:"format" json:"format"`
	// Access is the access log: one line per client request.
	Access AccessLog `yaml:"access" json:"access"`
}

// AccessLog configures the per-request log lines. Both fields follow reloads.
type AccessLog struct {
	// Enabled turns the access log on. Its lines are written whatever log.level is.
	// Default false.
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Sample is the share of requests logged, in (0,1], each request drawn at random;
	// answers with a 5xx status the gateway did not choose to shed are logged always.
	// Default [DefaultAccessSample].
	Sample float64 `yaml:"sample" json:"sample"`
}

// Tracing exports one span per client request and one per attempt, by OTLP/HTTP
// (docs/operate.md, Traces). OTLPEndpoint cannot change on reload; SampleRatio can.
type Tracing struct {
	// OTLPEndpoint is the OTLP/HTTP receiver's URL, http:// or https://, such as
	// http://otel-collector:4318 (an OpenTelemetry Collector, Jaeger or Tempo): with
	// no path, spans go to its /v1/traces; with a path, to that path as written.
	// Default [DefaultOTLPEndpoint]: tracing off, at no cost, and a client's
	// traceparent goes to replicas as it came.
	OTLPEndpoint string `yaml:"otlp_endpoint" json:"otlp_endpoint"`
	// SampleRatio is the share of requests the gateway starts a trace for, in
	// [0, 1], drawn from the trace ID. A request whose traceparent says its caller
	// sampled it (or did not) follows the caller instead. 0: the gateway starts no
	// trace and only joins its callers' sampled ones. Default [DefaultSampleRatio].
	SampleRatio float64 `yaml:"sample_ratio" json:"sample_ratio"`
}

// Latency shapes every replica's rolling HDR histogram.
type Latency struct {
	// Window is the span of one histogram bucket. Default [DefaultWindow].
	Window Duration `yaml:"window" json:"window"`
	// Buckets is how many windows are kept: the rolling window is Buckets × Window.
	// Default [DefaultBuckets].
	Buckets int `yaml:"buckets" json:"buckets"`
	// MinSamples is the number of recorded latencies below which a replica's histogram
	// is not trusted and a route's hedge.initial_delay is used instead.
	// Default [DefaultMinSamples].
	MinSamples int `yaml:"min_samples" json:"min_samples"`
}

// ReplicaSet is a group of interchangeable replicas of one read service: a fixed list
// (Replicas) or the members DNS names (Discovery), never both.
type ReplicaSet struct {
	// Replicas must have unique names and absolute http:// or https:// URLs. Required
	// unless Discovery is set.
	Replicas []Replica `yaml:"replicas" json:"replicas,omitempty"`
	// Discovery, instead of Replicas, takes the members from DNS and follows them as
	// they change. Default nil (a fixed list).
	Discovery *Discovery `yaml:"discovery" json:"discovery,omitempty"`
	// ConnectTimeout bounds TCP connect (and TLS handshake) per attempt.
	// Default [DefaultConnectTimeout].
	ConnectTimeout Duration `yaml:"connect_timeout" json:"connect_timeout"`
	// WarmConnections are opened to each replica before /readyz answers 200 and kept
	// idle (the idle pool otherwise follows the load). Default [DefaultWarmConnections];
	// 0 disables warm-up.
	WarmConnections int `yaml:"warm_connections" json:"warm_connections"`
	// Protocol is what the gateway speaks to the set's replicas: [ProtocolHTTP1]
	// (default), [ProtocolH2C] (HTTP/2 with prior knowledge, http:// URLs only) or
	// [ProtocolH2] (HTTP/2 by ALPN over TLS, https:// URLs only). Over HTTP/2 a
	// cancelled attempt resets its stream and the connection stays; every attempt to
	// a replica shares one TCP connection (and its losses). See docs/config.md.
	Protocol string `yaml:"protocol" json:"protocol"`
	// Client is which HTTP client sends the attempts: [ClientAuto] (default:
	// hedgegate's own HTTP/1.1 client for http:// replicas with protocol http1,
	// net/http's Transport otherwise), [ClientHedgegate] (that client, an error where
	// it does not apply) or [ClientNetHTTP] (net/http's Transport always, to compare).
	Client string `yaml:"client" json:"client"`
}

// Protocols to replicas (replica_sets.NAME.protocol).
const (
	ProtocolHTTP1 = "http1"
	ProtocolH2C   = "h2c"
	ProtocolH2    = "h2"
)

// Clients that send attempts (replica_sets.NAME.client).
const (
	ClientAuto      = "auto"
	ClientHedgegate = "hedgegate"
	ClientNetHTTP   = "net/http"
)

// Debug switches on diagnostics that are off by default.
type Debug struct {
	// Pprof serves Go's profiler (net/http/pprof) under /debug/pprof/ on the admin
	// listener. Default false: a profile costs CPU while it runs and shows the
	// process's internals, so it is opt-in, and follows reloads.
	Pprof bool `yaml:"pprof" json:"pprof"`
}

// Discovery finds a replica set's members in DNS: exactly one of DNS and SRV is set.
// Each member is named by its address (10.0.0.5:9101, [fd00::5]:9101), which labels
// its metrics; a name resolving to more than [MaxDiscoveredMembers] members is a
// failed lookup.
type Discovery struct {
	// DNS is NAME:PORT: every A and AAAA record of NAME is a member at PORT (a
	// Kubernetes headless Service). Default "".
	DNS string `yaml:"dns" json:"dns,omitempty"`
	// SRV is _service._tcp.NAME: every SRV record is a member at each address of its
	// target and at its port. Priorities and weights are ignored: every member serves
	// (no standby tier: principle 1), and the picker weighs measured latency. Default "".
	SRV string `yaml:"srv" json:"srv,omitempty"`
	// Refresh is how often the name is resolved again, plus a per-host offset of up to a
	// tenth of it. Default [DefaultDiscoveryRefresh]; at least [MinDiscoveryRefresh].
	Refresh Duration `yaml:"refresh" json:"refresh"`
	// Scheme is http or https. With https, a member's certificate is verified against
	// the name (Host), not its address. Default [DefaultDiscoveryScheme].
	Scheme string `yaml:"scheme" json:"scheme"`
	// Family is which address records make members: ip (A and AAAA), ip4 (A only) or
	// ip6 (AAAA only); the resolver's own network names. Default [DefaultDiscoveryFamily].
	Family string `yaml:"family" json:"family"`
}

// Host is the name Discovery resolves, without port, service labels or the root's
// trailing dot: what an https member's certificate must name. "" when neither DNS nor
// SRV is valid.
func (d *Discovery) Host() string {
	var host string
	switch {
	case d.DNS != "":
		h, _, err := net.SplitHostPort(d.DNS)
		if err != nil {
			return ""
		}
		host = h
	case d.SRV != "":
		parts := strings.SplitN(d.SRV, ".", 3)
		if len(parts) < 3 {
			return ""
		}
		host = parts[2]
	}
	return strings.TrimSuffix(host, ".")
}

// SameMembers reports whether d and o find the same members (they differ at most in
// Refresh), so a reload keeps the members already found.
func (d *Discovery) SameMembers(o *Discovery) bool {
	if d == nil || o == nil {
		return d == o
	}
	return d.DNS == o.DNS && d.SRV == o.SRV && d.Scheme == o.Scheme && d.Family == o.Family
}

// Replica is one backend of a set.
type Replica struct {
	// Name labels metrics and debug output; unique in its set. Required.
	Name string `yaml:"name" json:"name"`
	// URL is the base URL; a request's (stripped) path is appended to its path. Required.
	URL string `yaml:"url" json:"url"`
}

// Strategy names how a route spends its attempts.
const (
	StrategyHedge    = "hedge"
	StrategyParallel = "parallel"
	StrategyQuorum   = "quorum"
)

// Conflict rules for quorum routes.
const (
	ConflictMajority = "majority"
	ConflictLatest   = "latest"
)

// Retry conditions accepted in retry.on, besides three-digit status codes such as 404.
const (
	RetryConnectFailure = "connect_failure"
	RetryReset          = "reset"
	RetryTimeout        = "timeout"
	Retry5xx            = "5xx"
)

// Route binds a path pattern to a replica set and a strategy.
type Route struct {
	// Name labels metrics and error bodies; unique. Required.
	Name string `yaml:"name" json:"name"`
	// Match is a chi pattern such as /kv/{key} or /search/*. Required.
	Match string `yaml:"match" json:"match"`
	// Methods are the reads this route serves; any other method gets 405. Only these
	// are hedged or retried, so list POST only for POST requests that are reads.
	// Default [DefaultMethods].
	Methods []string `yaml:"methods" json:"methods"`
	// StripPrefix is removed from the request path before it is sent to a replica;
	// the request path must start with it. Default "" (nothing removed).
	StripPrefix string `yaml:"strip_prefix" json:"strip_prefix"`
	// ReplicaSet names an entry of replica_sets. Required.
	ReplicaSet string `yaml:"replica_set" json:"replica_set"`
	// Strategy is hedge, parallel or quorum. Default [DefaultStrategy].
	Strategy string `yaml:"strategy" json:"strategy"`
	// Timeout is the whole request's deadline (504 past it). Clients may shorten it
	// with X-Request-Timeout, never lengthen it. Default [DefaultTimeout].
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// AttemptTimeout bounds one attempt until its response headers arrive: "auto"
	// (the replica's p99.9 × 1.5, clamped to [10ms, timeout]) or a duration.
	// Default [DefaultAttemptTimeout].
	AttemptTimeout AttemptTimeout `yaml:"attempt_timeout" json:"attempt_timeout"`

	// Version says where the route's answers carry their version, whatever the
	// strategy: {header: X-Version}, {json_pointer: /header/revision}, or {} for a
	// hash of status and body, with missing as in quorum.version. With a version,
	// every answer carries it in X-Hedgegate-Version and a client may carry a floor
	// in MinVersionHeader. Hedge and parallel routes then buffer each answer's body
	// (up to limits.max_response_body_bytes) when the version is in it. On a quorum
	// route it is also the version replicas must agree on, unless quorum.version
	// names a header or pointer: then quorum.version decides agreement and the
	// monotonic floor, and this one the client floor (etcd: agree on the key's
	// mod_revision, compare a write's header.revision). Default: none, and a quorum
	// route's version is quorum.version. See ResponseVersion and AgreementVersion.
	Version *Version `yaml:"version" json:"version,omitempty"`
	// MinVersionHeader is the request header in which a client carries its floor
	// (read-your-writes): such a request is answered only with a version at least
	// that high (AtLeast in package quorum), or 503. Requires a version (Version, or
	// strategy quorum). Default [DefaultMinVersionHeader] on a route with a version,
	// "" (none) otherwise; "" turns the floor off.
	MinVersionHeader string `yaml:"min_version_header" json:"min_version_header"`

	Hedge    Hedge    `yaml:"hedge" json:"hedge"`
	Parallel Parallel `yaml:"parallel" json:"parallel"`
	Quorum   Quorum   `yaml:"quorum" json:"quorum"`
	Retry    Retry    `yaml:"retry" json:"retry"`
	Budget   Budget   `yaml:"budget" json:"budget"`
}

// Hedge configures strategy: hedge.
type Hedge struct {
	// Percentile of the current replica's latency after which the next attempt is
	// launched: a number in (0,100), or auto, which chooses each replica's delay
	// itself to meet Auto's goal (docs/tuning.md). Default [DefaultPercentile].
	Percentile HedgePercentile `yaml:"percentile" json:"percentile"`
	// Auto is the goal of percentile auto; read only then, and required then.
	Auto HedgeAuto `yaml:"auto,omitempty" json:"auto"`
	// InitialDelay is used while a replica has fewer than latency.min_samples samples.
	// Default [DefaultInitialDelay].
	InitialDelay Duration `yaml:"initial_delay" json:"initial_delay"`
	// MinDelay and MaxDelay clamp the percentile delay. Defaults [DefaultMinDelay]
	// and [DefaultMaxDelay].
	MinDelay Duration `yaml:"min_delay" json:"min_delay"`
	MaxDelay Duration `yaml:"max_delay" json:"max_delay"`
	// MaxAttempts counts every attempt, the first included (hedges and retries alike).
	// Default [DefaultMaxAttempts].
	MaxAttempts int `yaml:"max_attempts" json:"max_attempts"`
}

// HedgePercentile is hedge.percentile: a fixed percentile, or auto. In YAML and JSON
// it is a number or the string "auto".
type HedgePercentile struct {
	// Auto: the delay is tuned per replica to meet hedge.auto; Fixed is then 0.
	Auto bool
	// Fixed is the percentile when Auto is false; validation keeps it in (0,100).
	Fixed float64
}

// HedgeAuto is the goal of hedge.percentile: auto, in one of two forms: a latency
// target with a cap on its cost ({target_p99, max_extra_load}: the least extra load
// whose predicted p99 meets the target, never above the cap), or the cap alone
// ({max_extra_load}: the lowest predicted p99 the cap can buy). Every latency.window
// each replica's delay is chosen from the last complete windows of the replicas'
// histograms with the advisor's model, within [min_delay, max_delay].
type HedgeAuto struct {
	// TargetP99 is the client p99 to meet, below the route timeout. Default 0: none,
	// the cap-only form.
	TargetP99 Duration `yaml:"target_p99,omitempty" json:"target_p99"`
	// MaxExtraLoad caps the predicted extra attempts per request (0.05 = 5% more
	// backend requests, every attempt after the first counted), in (0, budget.ratio]:
	// the budget must be able to fund it. Required with percentile auto.
	MaxExtraLoad float64 `yaml:"max_extra_load" json:"max_extra_load"`
}

// Parallel configures strategy: parallel.
type Parallel struct {
	// Fanout attempts are sent at once to distinct replicas; the first acceptable
	// answer wins. They are the route's planned, constant work and do not spend the
	// budget; a replacement for a failed one does. 2 ≤ fanout ≤ replicas.
	// Default [DefaultFanout].
	Fanout int `yaml:"fanout" json:"fanout"`
}

// Quorum configures strategy: quorum.
type Quorum struct {
	// Read is how many replicas must agree on the version; 1 ≤ read ≤ replicas.
	// Default: a majority of the set.
	Read int `yaml:"read" json:"read"`
	// Version says where the version replicas must agree on is read. Empty: the
	// route's version when it has one, else a hash of status and body.
	Version Version `yaml:"version" json:"version"`
	// Conflict is majority (only an agreeing set wins) or latest (when no read agree,
	// the highest numeric version wins). Default [DefaultConflict].
	Conflict string `yaml:"conflict" json:"conflict"`
	// Monotonic keeps, per key, the highest version served and never serves older.
	Monotonic Monotonic `yaml:"monotonic" json:"monotonic"`
}

// Version names one source of a response's version; at most one field is set.
type Version struct {
	// Header is a response header such as ETag or X-Version.
	Header string `yaml:"header" json:"header,omitempty"`
	// JSONPointer is an RFC 6901 pointer into a JSON body, such as /node/modifiedIndex.
	JSONPointer string `yaml:"json_pointer" json:"json_pointer,omitempty"`
	// Missing, when set, is the version of a 2xx answer that has no version header, or
	// in whose body the pointer's path does not exist. etcd answers a read of an absent
	// key with 200 and no kvs: with missing "0", replicas agreeing that a key is absent
	// form a quorum instead of failing with 502. Pick a value below every real
	// version. Default "": such an answer does not count toward agreement.
	Missing string `yaml:"missing" json:"missing,omitempty"`
}

// Ordered reports whether versions from v can be ordered: a header or a JSON
// pointer may hold numbers; a body hash never does.
func (v Version) Ordered() bool { return v.Header != "" || v.JSONPointer != "" }

// ResponseVersion is the version a route's answers carry (X-Hedgegate-Version) and a
// client's floor is compared with: version, or on a quorum route the version its
// replicas agree on. ok is false when the route has none.
func (r *Route) ResponseVersion() (v Version, ok bool) {
	switch {
	case r.Version != nil:
		return *r.Version, true
	case r.Strategy == StrategyQuorum:
		return r.Quorum.Version, true
	}
	return Version{}, false
}

// AgreementVersion is the version a quorum route's replicas must agree on and its
// monotonic floor keeps: quorum.version when it names a header or pointer, else the
// route's version, else the body hash.
func (r *Route) AgreementVersion() Version {
	if !r.Quorum.Version.Ordered() && r.Version != nil {
		return *r.Version
	}
	return r.Quorum.Version
}

// Monotonic configures the per-key version floor of a quorum route.
type Monotonic struct {
	// Enabled turns the floor on. Default false.
	Enabled bool `yaml:"enabled" json:"enabled"`
	// MaxKeys bounds the floor's LRU cache. Default [DefaultMaxKeys].
	MaxKeys int `yaml:"max_keys" json:"max_keys"`
}

// Retry configures which failed attempts are retried and how long to wait first.
type Retry struct {
	// On lists retryable outcomes: connect_failure, reset, timeout, 5xx, and
	// three-digit status codes (4xx answers are final unless listed, e.g. 404 for
	// eventually consistent stores). Default [DefaultRetryOn].
	// An explicit empty list disables retries.
	On []string `yaml:"on" json:"on"`
	// BackoffBase and BackoffMax shape capped exponential backoff with full jitter:
	// the wait before retry n is uniform in [0, min(max, base × 2^(n-1))].
	// Defaults [DefaultBackoffBase] and [DefaultBackoffMax].
	BackoffBase Duration `yaml:"backoff_base" json:"backoff_base"`
	BackoffMax  Duration `yaml:"backoff_max" json:"backoff_max"`
}

// Budget caps the attempts beyond each request's planned ones (hedges, retries,
// replacements): over a 10s sliding window, extra ≤ ratio × requests + min_per_second × 10.
type Budget struct {
	// Ratio of extra attempts per client request; in [0, 1]. Default [DefaultBudgetRatio].
	Ratio float64 `yaml:"ratio" json:"ratio"`
	// MinPerSecond is a floor so low-traffic routes can still hedge.
	// Default [DefaultBudgetMinPerSecond].
	MinPerSecond float64 `yaml:"min_per_second" json:"min_per_second"`
}

// Duration is a time.Duration written in YAML as "250ms", "1s" or "2m". A bare number
// other than 0 is an error (its unit would be a guess), and so is a negative duration.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// AttemptTimeout is either auto (derived from measured latency) or a fixed duration.
// In YAML and JSON it is the string "auto" or a duration string.
type AttemptTimeout struct {
	// Auto: derive the timeout from the replica's measured latency; Fixed is then 0.
	Auto bool
	// Fixed is the timeout when Auto is false; validation keeps it in (0, timeout].
	Fixed time.Duration
}
