package hedge

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/quorum"
	"github.com/hedgegate/hedgegate/replicas"
)

// VersionHeader carries the served answer's version on every answer of a route (or
// plan) that has a version: the gateway sets it, and so does Transport. A client that
// sends it back as its floor (X-Min-Version) never reads anything older, through any
// gateway instance.
const VersionHeader = "X-Hedgegate-Version"

type minVersionKey struct{}

// WithMinVersion returns a context whose requests are answered only with a version at
// least v, as a plan's version reads it (quorum.AtLeast: numerically when both are
// decimal integers, otherwise only exactly v): read-your-writes for a Go client that
// carries its last write's version. Plan.Do and Transport take it from the request's
// context; it wins over the request's MinVersionHeader. A plan without a version
// refuses such a request. No replica reaching v: an *Error with OutcomeFloorUnmet.
func WithMinVersion(ctx context.Context, v string) context.Context {
	return context.WithValue(ctx, minVersionKey{}, v)
}

// routeVersion is a plan's version: where its answers carry it, the header a
// client's floor arrives in, and the highest version each replica was seen with.
type routeVersion struct {
	cfg       config.Version
	extractor *quorum.Extractor
	header    string // canonical min_version_header; "" takes no floor from headers
	// seen is fixed when the plan is built (one entry per replica), so it is read
	// without a lock; each entry has its own.
	seen map[*replicas.Replica]*seenVersion
}

// newRouteVersion is route's version over set, nil when the route has none. The
// versions seen carry over from prev while the version source is unchanged.
func newRouteVersion(route *config.Route, set *replicas.Set, prev *Plan) (*routeVersion, error) {
	cfg, ok := route.ResponseVersion()
	if !ok {
		return nil, nil
	}
	ex, err := quorum.NewExtractor(cfg)
	if err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	v := &routeVersion{cfg: cfg, extractor: ex, seen: make(map[*replicas.Replica]*seenVersion, len(set.Replicas))}
	if route.MinVersionHeader != "" {
		v.header = http.CanonicalHeaderKey(route.MinVersionHeader)
	}
	var old *routeVersion
	if prev != nil && prev.version != nil && prev.version.cfg == cfg {
		old = prev.version
	}
	for _, rep := range set.Replicas {
		if s := old.seenFor(rep); s != nil {
			v.seen[rep] = s
		} else {
			v.seen[rep] = &seenVersion{}
		}
	}
	return v, nil
}

func (v *routeVersion) seenFor(rep *replicas.Replica) *seenVersion {
	if v == nil {
		return nil
	}
	return v.seen[rep]
}

// needsBody: the version is read from the answer's body (a JSON pointer, a hash).
func (v *routeVersion) needsBody() bool { return v != nil && v.extractor.NeedsBody() }

// seenVersion is the highest version one replica answered a route with: the highest
// numeric one, or, while it has sent none, the latest opaque one.
type seenVersion struct {
	mu sync.Mutex
	v  quorum.Version // Bounded: a replica's long version costs no more than 80 bytes
}

func (s *seenVersion) observe(v quorum.Version) {
	v = quorum.Bounded(v)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := v.Compare(s.v); (ok && c > 0) || (!ok && !s.v.Numeric()) {
		s.v = quorum.Version{Raw: strings.Clone(v.Raw)}
	}
}

func (s *seenVersion) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v.Raw
}

// HighestVersion is the highest version rep has answered this plan's requests with
// (for opaque versions, the latest), "" before its first versioned answer or when
// the plan has no version. Versions longer than 80 bytes show as their digest.
func (p *Plan) HighestVersion(rep *replicas.Replica) string {
	if s := p.version.seenFor(rep); s != nil {
		return s.get()
	}
	return ""
}

// Versioned reports whether the plan's answers carry a version.
func (p *Plan) Versioned() bool { return p.version != nil }

// requestFloor is the request's minimum version: its context's (WithMinVersion), else
// its MinVersionHeader's; nil for none. A floor the plan cannot honour is an *Error
// with OutcomeBadMinVersion.
func (p *Plan) requestFloor(ctx context.Context, req *http.Request) (*quorum.Version, error) {
	raw, ok := ctx.Value(minVersionKey{}).(string)
	source := "hedge.WithMinVersion"
	if !ok {
		if p.version == nil || p.version.header == "" {
			return nil, nil
		}
		source = p.version.header
		switch vals := req.Header.Values(source); len(vals) {
		case 0:
			return nil, nil
		case 1:
			raw = vals[0]
		default:
			return nil, badFloor("%s: send one version, got %d headers", source, len(vals))
		}
	}
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return nil, badFloor("%s: empty; send the version your last write returned, or no header", source)
	case p.version == nil:
		return nil, badFloor("%s: route %q has no version to compare a floor with", source, p.route)
	}
	return &quorum.Version{Raw: raw}, nil
}

func badFloor(format string, args ...any) error {
	return &Error{Outcome: OutcomeBadMinVersion, Message: fmt.Sprintf(format, args...)}
}

// checkVersion reads an answer's version as the route declares it, before the
// collector sees the answer: every strategy's answers carry it, the replica's highest
// is recorded, and an answer below the request's floor (or without a version to
// compare, when there is a floor) becomes a stale attempt: never a winner, and
// retried on a replica not tried yet (retrier), spending the budget.
func (r *run) checkVersion(a *attempt) {
	v := r.plan.version
	if v == nil || a.failure != noFailure || a.resp == nil {
		return
	}
	a.ver, a.verErr = v.extractor.Extract(a.resp.StatusCode, a.resp.Header, a.body)
	if a.verErr == nil {
		v.seen[a.replica].observe(a.ver)
	}
	switch floor := r.floor; {
	case floor == nil:
		return
	case a.verErr != nil:
		a.err = fmt.Errorf("no version to compare with the requested minimum %s: %w", floor.Raw, a.verErr)
	case !quorum.AtLeast(a.ver, *floor):
		a.err = fmt.Errorf("version %s is below the requested minimum %s", a.ver.Raw, floor.Raw)
	default:
		return
	}
	a.failure = failStale
	r.plan.observer.StaleAnswer(r.plan.route, a.replica.Name)
}

// lateVersion reads the version of an answer that came after the result was
// decided, for the attempt's report only: an error body lists what each replica said.
func (r *run) lateVersion(a *attempt) {
	if v := r.plan.version; v != nil && a.failure == noFailure && a.resp != nil {
		a.ver, a.verErr = v.extractor.Extract(a.resp.StatusCode, a.resp.Header, a.body)
	}
}

// floorUnmet ends a request none of whose answers reached its floor.
func (r *run) floorUnmet() error {
	r.finish() // first: attempts still running write their failure until they end
	stale := 0
	for _, a := range r.attempts {
		if a.failure == failStale {
			stale++
		}
	}
	return r.fail(OutcomeFloorUnmet, fmt.Sprintf("no replica reached the requested minimum version %s: %d of %d answered below it",
		r.floor.Raw, stale, len(r.attempts)))
}

// asGet is how a strategy sends req when it must read each answer's body (a version
// in it): a HEAD goes out as a GET, whose headers alone are then served (nginx's
// proxy_cache_convert_head does the same), so Content-Length is still the real one.
func asGet(req *http.Request, needsBody bool) (send *http.Request, head bool) {
	if req.Method != http.MethodHead || !needsBody {
		return req, false
	}
	get := *req
	get.Method = http.MethodGet
	return &get, true
}

// serveBuffered makes res serve a's body as the attempt read it, with its length, or
// only its headers for a HEAD sent as a GET; an answer still streaming is left alone.
// The attempt's own response is served, changed in place: nothing reads it after it
// is decided, and a copy of it, of its body reader and of its length's text were
// three allocations per request.
func serveBuffered(res *Result, a *attempt, head bool) *Result {
	if a.body == nil {
		return res
	}
	resp := a.resp
	if b, ok := resp.Body.(*bufferedBody); !ok || b.Len() != len(a.body) {
		resp.Body = newBufferedBody(a.body) // not the unread reader readBody left
	}
	resp.ContentLength = int64(len(a.body))
	if !declaresLength(resp.Header, len(a.body)) {
		resp.Header["Content-Length"] = []string{strconv.Itoa(len(a.body))}
	}
	if head {
		resp.Body = http.NoBody
	}
	res.Response = resp
	return res
}

// declaresLength: h's Content-Length is n, as one value.
func declaresLength(h http.Header, n int) bool {
	vv := h["Content-Length"]
	if len(vv) != 1 {
		return false
	}
	v, err := strconv.ParseUint(vv[0], 10, 63)
	if err != nil {
		return false
	}
	canonical := vv[0][0] != '0' || vv[0] == "0" // ParseUint takes 065 too
	return canonical && v == uint64(n)
}

// firstAnswerRead is how much of each answer hedge and parallel read: up to the
// read-ahead, or the whole body when the version is in it.
func firstAnswerRead(bodyVersion bool) bodyRead {
	if bodyVersion {
		return readAll
	}
	return readAhead
}
