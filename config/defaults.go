package config

import (
	"strconv"
	"time"
)

// Defaults, as documented on the fields in types.go and in docs/config.md.
const (
	defaultListen               = "127.0.0.1:8080"
	defaultAdminListen          = "127.0.0.1:9901"
	defaultMaxInflight          = 4096
	defaultMaxRequestBodyBytes  = 1 << 20
	defaultMaxResponseBodyBytes = 8 << 20
	defaultMaxHeaderBytes       = 64 << 10
	defaultWindow               = 10 * time.Second
	defaultBuckets              = 6
	defaultMinSamples           = 50
	defaultConnectTimeout       = 200 * time.Millisecond
	defaultWarmConnections      = 2
	defaultTimeout              = time.Second
	defaultPercentile           = 95
	defaultInitialDelay         = 10 * time.Millisecond
	defaultMinDelay             = time.Millisecond
	defaultMaxDelay             = 200 * time.Millisecond
	defaultMaxAttempts          = 3
	defaultFanout               = 2
	defaultMaxKeys              = 100000
	defaultBackoffBase          = 2 * time.Millisecond
	defaultBackoffMax           = 50 * time.Millisecond
	defaultBudgetRatio          = 0.1
	defaultBudgetMinPerSecond   = 10
)

func defaultMethods() []string { return []string{"GET", "HEAD"} }

func defaultRetryOn() []string {
	return []string{RetryConnectFailure, RetryReset, RetryTimeout, Retry5xx}
}

// applyDefaults fills every key that given reports absent. Presence comes from the
// node walk, not from zero values, so an explicit 0 (warm_connections: 0,
// budget.ratio: 0) or an explicit empty list (retry.on: []) stays as written.
func applyDefaults(c *Config, given func(path string) bool) {
	setDefault(given, "listen", &c.Listen, defaultListen)
	setDefault(given, "admin_listen", &c.AdminListen, defaultAdminListen)

	setDefault(given, "limits.max_inflight", &c.Limits.MaxInflight, defaultMaxInflight)
	setDefault(given, "limits.max_request_body_bytes", &c.Limits.MaxRequestBodyBytes, defaultMaxRequestBodyBytes)
	setDefault(given, "limits.max_response_body_bytes", &c.Limits.MaxResponseBodyBytes, defaultMaxResponseBodyBytes)
	setDefault(given, "limits.max_header_bytes", &c.Limits.MaxHeaderBytes, defaultMaxHeaderBytes)

	setDefault(given, "latency.window", &c.Latency.Window, Duration(defaultWindow))
	setDefault(given, "latency.buckets", &c.Latency.Buckets, defaultBuckets)
	setDefault(given, "latency.min_samples", &c.Latency.MinSamples, defaultMinSamples)

	for name, rs := range c.ReplicaSets {
		p := joinKey("replica_sets", name) + "."
		setDefault(given, p+"connect_timeout", &rs.ConnectTimeout, Duration(defaultConnectTimeout))
		setDefault(given, p+"warm_connections", &rs.WarmConnections, defaultWarmConnections)
	}

	for i, r := range c.Routes {
		p := "routes[" + strconv.Itoa(i) + "]."
		if !given(p + "methods") {
			r.Methods = defaultMethods()
		}
		setDefault(given, p+"strategy", &r.Strategy, StrategyHedge)
		setDefault(given, p+"timeout", &r.Timeout, Duration(defaultTimeout))
		setDefault(given, p+"attempt_timeout", &r.AttemptTimeout, AttemptTimeout{Auto: true})

		setDefault(given, p+"hedge.percentile", &r.Hedge.Percentile, defaultPercentile)
		setDefault(given, p+"hedge.initial_delay", &r.Hedge.InitialDelay, Duration(defaultInitialDelay))
		setDefault(given, p+"hedge.min_delay", &r.Hedge.MinDelay, Duration(defaultMinDelay))
		setDefault(given, p+"hedge.max_delay", &r.Hedge.MaxDelay, Duration(defaultMaxDelay))
		setDefault(given, p+"hedge.max_attempts", &r.Hedge.MaxAttempts, defaultMaxAttempts)

		setDefault(given, p+"parallel.fanout", &r.Parallel.Fanout, defaultFanout)

		// A majority of a set that does not exist is unknowable; validation reports
		// the missing set instead.
		if rs, ok := c.ReplicaSets[r.ReplicaSet]; ok && rs != nil {
			setDefault(given, p+"quorum.read", &r.Quorum.Read, len(rs.Replicas)/2+1)
		}
		setDefault(given, p+"quorum.conflict", &r.Quorum.Conflict, ConflictMajority)
		setDefault(given, p+"quorum.monotonic.max_keys", &r.Quorum.Monotonic.MaxKeys, defaultMaxKeys)

		if !given(p + "retry.on") {
			r.Retry.On = defaultRetryOn()
		}
		setDefault(given, p+"retry.backoff_base", &r.Retry.BackoffBase, Duration(defaultBackoffBase))
		setDefault(given, p+"retry.backoff_max", &r.Retry.BackoffMax, Duration(defaultBackoffMax))

		setDefault(given, p+"budget.ratio", &r.Budget.Ratio, defaultBudgetRatio)
		setDefault(given, p+"budget.min_per_second", &r.Budget.MinPerSecond, defaultBudgetMinPerSecond)
	}
}

func setDefault[T any](given func(string) bool, path string, field *T, def T) {
	if !given(path) {
		*field = def
	}
}
