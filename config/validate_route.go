package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// route checks one route against the replica sets; its sections follow.
func (v *validator) route(p string, r *Route, sets map[string]*ReplicaSet, setNames []string, buckets int) {
	if r.Name == "" {
		v.add(p+".name", "required")
	}
	v.match(p, r)
	v.methods(p+".methods", r.Methods)

	// replicas is the size of the route's set, or -1 when the set is unknown, so
	// checks against it are skipped rather than piled on the missing-set problem.
	replicas := -1
	discovered := false // the set's size is known only at run time
	have := "none defined"
	if len(setNames) > 0 {
		have = "have: " + strings.Join(setNames, ", ")
	}
	switch rs, ok := sets[r.ReplicaSet]; {
	case r.ReplicaSet == "":
		v.add(p+".replica_set", "required (%s)", have)
	case !ok:
		v.add(p+".replica_set", "no replica set %q (%s)", r.ReplicaSet, have)
	case rs != nil && rs.Discovery != nil:
		discovered = true
	case rs != nil:
		replicas = len(rs.Replicas)
	}

	switch r.Strategy {
	case StrategyHedge, StrategyParallel, StrategyQuorum:
	default:
		v.add(p+".strategy", "unknown strategy %q (want hedge, parallel or quorum)", r.Strategy)
	}
	v.positiveDuration(p+".timeout", r.Timeout)
	if !r.AttemptTimeout.Auto {
		switch {
		case r.AttemptTimeout.Fixed <= 0:
			v.add(p+".attempt_timeout", "must be > 0 or auto, got %s", r.AttemptTimeout.Fixed)
		case r.Timeout > 0 && r.AttemptTimeout.Fixed > r.Timeout.D():
			v.add(p+".attempt_timeout", "%s exceeds timeout (%s)", r.AttemptTimeout.Fixed, r.Timeout)
		}
	}

	v.hedge(p+".hedge", &r.Hedge)
	v.hedgeAuto(p, r, buckets)

	if r.Strategy == StrategyParallel && replicas >= 0 {
		switch f := r.Parallel.Fanout; {
		case f < 2:
			v.add(p+".parallel.fanout", "must be ≥ 2, got %d (1 is strategy hedge with no hedging)", f)
		case f > replicas:
			v.add(p+".parallel.fanout", "%d exceeds the %d replicas of set %q", f, replicas, r.ReplicaSet)
		}
	}
	if r.Version != nil {
		v.version(p+".version", *r.Version)
	}
	if h := r.MinVersionHeader; h != "" {
		_, versioned := r.ResponseVersion()
		switch {
		case !isToken(h):
			v.add(p+".min_version_header", "%q is not a valid header name", h)
		case !versioned:
			v.add(p+".min_version_header", "needs a version to compare the floor with: set version (quorum.version counts only with strategy quorum)")
		}
	}
	if r.Strategy == StrategyParallel && discovered && r.Parallel.Fanout < 2 {
		v.add(p+".parallel.fanout", "must be ≥ 2, got %d (1 is strategy hedge with no hedging)", r.Parallel.Fanout)
	}
	if r.Strategy == StrategyQuorum && discovered && r.Quorum.Read < 1 {
		// No majority default: the set's size changes as members come and go.
		v.add(p+".quorum.read", "required with set %q, which finds its members in DNS (write read: 2 for a set of three)", r.ReplicaSet)
	}
	v.quorum(p+".quorum", r, replicas)
	v.retry(p+".retry", &r.Retry)

	if b := r.Budget.Ratio; !(b >= 0 && b <= 1) {
		v.add(p+".budget.ratio", "must be in [0,1], got %v", b)
	}
	if m := r.Budget.MinPerSecond; !(m >= 0) || math.IsInf(m, 1) {
		v.add(p+".budget.min_per_second", "must be a finite number ≥ 0, got %v", m)
	}
}

func (v *validator) match(p string, r *Route) {
	switch m := r.Match; {
	case m == "":
		v.add(p+".match", "required")
	case m[0] != '/':
		v.add(p+".match", "%q must start with \"/\"", m)
	default:
		if msg := checkPattern(m); msg != "" {
			v.add(p+".match", "%q: %s", m, msg)
		}
	}
	sp := r.StripPrefix
	if sp == "" {
		return
	}
	switch {
	case sp[0] != '/':
		v.add(p+".strip_prefix", "%q must start with \"/\"", sp)
	case strings.HasSuffix(sp, "/"):
		v.add(p+".strip_prefix", "%q must not end with \"/\" (the replica path keeps its leading slash)", sp)
	default:
		// Only the literal head of the pattern can be compared; a parameter there
		// may or may not produce the prefix.
		static := r.Match
		if i := strings.IndexAny(static, "{*"); i >= 0 {
			static = static[:i]
		}
		if len(static) >= len(sp) && (!strings.HasPrefix(static, sp) || (len(static) > len(sp) && static[len(sp)] != '/')) {
			v.add(p+".strip_prefix", "%q is not a prefix of match %q, so no request could be forwarded", sp, r.Match)
		}
	}
}

// checkPattern catches the pattern mistakes that make chi panic at start-up.
func checkPattern(m string) string {
	depth := 0
	for i := 0; i < len(m); i++ {
		switch m[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth < 0 {
				return "unbalanced \"}\""
			}
		case '*':
			if depth == 0 && i != len(m)-1 {
				return "\"*\" must be the last character"
			}
		}
	}
	if depth != 0 {
		return "unbalanced \"{\""
	}
	return ""
}

func (v *validator) methods(p string, methods []string) {
	if len(methods) == 0 {
		v.add(p, "at least one method is required")
	}
	seen := map[string]bool{}
	for i, m := range methods {
		mp := p + "[" + strconv.Itoa(i) + "]"
		switch {
		case !isToken(m):
			v.add(mp, "%q is not an HTTP method", m)
		case strings.ToUpper(m) != m:
			v.add(mp, "%q must be uppercase (%s): methods are case-sensitive", m, strings.ToUpper(m))
		case seen[m]:
			v.add(mp, "duplicate method %q", m)
		}
		seen[m] = true
	}
}

// isToken reports whether s is an RFC 9110 token, the syntax of methods and header
// names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func (v *validator) hedge(p string, h *Hedge) {
	if !h.Percentile.Auto && !(h.Percentile.Fixed > 0 && h.Percentile.Fixed < 100) {
		v.add(p+".percentile", "%v is outside (0,100)", h.Percentile.Fixed)
	}
	if h.InitialDelay < 0 {
		v.add(p+".initial_delay", "must be ≥ 0, got %s", h.InitialDelay)
	}
	if h.MinDelay < 0 {
		v.add(p+".min_delay", "must be ≥ 0, got %s", h.MinDelay)
	}
	if h.MinDelay > h.MaxDelay {
		v.add(p+".min_delay", "%s exceeds max_delay (%s)", h.MinDelay, h.MaxDelay)
	}
	if h.MaxAttempts < 1 || h.MaxAttempts > 10 {
		v.add(p+".max_attempts", "must be in [1,10], got %d", h.MaxAttempts)
	}
}

// hedgeAuto checks the goal of percentile auto: one of the two forms, a cap the
// budget can fund, a target the route's timeout leaves room for, and enough complete
// windows of history to tune from.
func (v *validator) hedgeAuto(p string, r *Route, buckets int) {
	h, ap := &r.Hedge, p+".hedge.auto"
	if !h.Percentile.Auto {
		_, written := v.lines[ap]
		if written || h.Auto != (HedgeAuto{}) {
			v.add(ap, "is read only with percentile: auto (percentile is %s)", h.Percentile)
		}
		return
	}
	switch c := h.Auto.MaxExtraLoad; {
	case c == 0 && h.Auto.TargetP99 > 0:
		v.add(ap+".max_extra_load", "required with target_p99: the most extra load auto may spend to meet it")
	case c == 0:
		v.add(p+".hedge.percentile", "auto needs a goal in hedge.auto: {max_extra_load: 0.05} or {target_p99: 10ms, max_extra_load: 0.2}")
	case !(c > 0 && c <= 1):
		v.add(ap+".max_extra_load", "must be in (0,1], got %v", c)
	case c > r.Budget.Ratio:
		v.add(ap+".max_extra_load", "%v exceeds budget.ratio (%v): the budget could not fund it", c, r.Budget.Ratio)
	}
	if t := h.Auto.TargetP99; t > 0 && r.Timeout > 0 && t >= r.Timeout {
		v.add(ap+".target_p99", "%s is not below timeout (%s)", t, r.Timeout)
	} else if _, written := v.lines[ap+".target_p99"]; written && t == 0 {
		v.add(ap+".target_p99", "must be > 0 (leave it out for the max_extra_load form)")
	}
	if buckets < 2 {
		v.add(p+".hedge.percentile", "auto needs latency.buckets ≥ 2: it tunes from the last complete windows, and with %d bucket none is kept", buckets)
	}
}

func (v *validator) quorum(p string, r *Route, replicas int) {
	q, active := &r.Quorum, r.Strategy == StrategyQuorum
	if active && replicas >= 0 {
		switch {
		case q.Read < 1:
			v.add(p+".read", "must be ≥ 1, got %d", q.Read)
		case q.Read > replicas:
			v.add(p+".read", "%d exceeds the %d replicas of set %q", q.Read, replicas, r.ReplicaSet)
		}
	}
	v.version(p+".version", q.Version)
	// Agreement may use the route's version (quorum.version names none).
	hasVersion := r.AgreementVersion().Ordered()
	switch q.Conflict {
	case ConflictMajority:
	case ConflictLatest:
		// A body hash has no order, so "highest version" means nothing without one.
		if active && !hasVersion {
			v.add(p+".conflict", "latest needs version.header or version.json_pointer (a body hash has no order)")
		}
	default:
		v.add(p+".conflict", "unknown conflict rule %q (want majority or latest)", q.Conflict)
	}
	if q.Monotonic.Enabled {
		if q.Monotonic.MaxKeys < 1 {
			v.add(p+".monotonic.max_keys", "must be ≥ 1 when monotonic is enabled, got %d", q.Monotonic.MaxKeys)
		}
		if active && !hasVersion {
			v.add(p+".monotonic.enabled", "needs version.header or version.json_pointer (a body hash has no order)")
		}
	}
}

// version checks one version source: at most one of header and json_pointer, each
// well-formed, and missing only beside one of them.
func (v *validator) version(p string, ver Version) {
	switch {
	case ver.Header != "" && ver.JSONPointer != "":
		v.add(p, "set header or json_pointer, not both")
	case ver.Header != "":
		if !isToken(ver.Header) {
			v.add(p+".header", "%q is not a valid header name", ver.Header)
		}
	case ver.JSONPointer != "":
		if msg := checkJSONPointer(ver.JSONPointer); msg != "" {
			v.add(p+".json_pointer", "%s", msg)
		}
	}
	if ver.Missing != "" && !ver.Ordered() {
		v.add(p+".missing", "needs version.header or version.json_pointer (a body hash always exists)")
	}
}

// checkJSONPointer checks RFC 6901 syntax: "/"-separated tokens, "~" only as ~0 or ~1.
func checkJSONPointer(ptr string) string {
	if ptr[0] != '/' {
		return fmt.Sprintf("%q must start with \"/\" (RFC 6901)", ptr)
	}
	for i := 0; i < len(ptr); i++ {
		if ptr[i] == '~' && (i+1 == len(ptr) || ptr[i+1] != '0' && ptr[i+1] != '1') {
			return fmt.Sprintf("%q: \"~\" must be followed by 0 or 1 (RFC 6901)", ptr)
		}
	}
	return ""
}

var retryConditions = []string{RetryConnectFailure, RetryReset, RetryTimeout, Retry5xx}

func (v *validator) retry(p string, r *Retry) {
	for i, on := range r.On {
		if slices.Contains(retryConditions, on) {
			continue
		}
		op := p + ".on[" + strconv.Itoa(i) + "]"
		if len(on) == 3 && on[0] >= '0' && on[0] <= '9' {
			if code, err := strconv.Atoi(on); err == nil && code >= 100 {
				if code < 400 || code > 599 {
					v.add(op, "status %d is not an error (want 400-599)", code)
				}
				continue
			}
		}
		v.add(op, "unknown retry condition %q (want connect_failure, reset, timeout, 5xx or a status code 400-599)", on)
	}
	v.positiveDuration(p+".backoff_base", r.BackoffBase)
	v.positiveDuration(p+".backoff_max", r.BackoffMax)
	if r.BackoffBase > r.BackoffMax {
		v.add(p+".backoff_base", "%s exceeds backoff_max (%s)", r.BackoffBase, r.BackoffMax)
	}
}

func overlap(a, b []string) string {
	for _, m := range a {
		if slices.Contains(b, m) {
			return m
		}
	}
	return ""
}
