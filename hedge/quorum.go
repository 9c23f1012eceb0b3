package hedge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/quorum"
)

// FailureNoVersion is an answer whose version could not be read: it does not count
// toward agreement.
const FailureNoVersion Failure = "no_version"

// QuorumInfo describes how a quorum route's answer was agreed; the server turns it into
// the X-Quorum and X-Quorum-Version headers.
type QuorumInfo struct {
	Agreeing, Asked int
	Version         string
	Result          string
}

// quorumPlan is a quorum route's collector settings, built once.
type quorumPlan struct {
	route     string
	extractor *quorum.Extractor
	// needsBody: versions come from bodies (hash or JSON pointer), or conflict latest
	// may have to serve an answer at the deadline, after its stream was cancelled.
	needsBody bool
	base      quorum.Policy
	floor     *quorum.Floor // nil unless monotonic reads are on
	cfg       config.Quorum // what it was built from, to carry the floor over on reload
}

func newQuorumPlan(route *config.Route, replicas int) (*quorumPlan, error) {
	ex, err := quorum.NewExtractor(route.Quorum.Version)
	if err != nil {
		return nil, err
	}
	q := &quorumPlan{
		route:     route.Name,
		extractor: ex,
		needsBody: ex.NeedsBody() || route.Quorum.Conflict == config.ConflictLatest,
		base:      quorum.Policy{Read: route.Quorum.Read, Asked: replicas, Conflict: route.Quorum.Conflict},
		cfg:       route.Quorum,
	}
	if m := route.Quorum.Monotonic; m.Enabled {
		if q.floor, err = quorum.NewFloor(m.MaxKeys); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// bodyRead is how much of an answer's body an attempt reads before reporting it.
type bodyRead uint8

const (
	// readNone: the winner's body streams (hedge and parallel routes).
	readNone bodyRead = iota
	// readSmall: a body of known length up to loserDrainLimit is read, larger ones
	// stream. A quorum with header versions keeps several answers until it decides;
	// read, they give their connections back to the pool whichever one wins, instead
	// of being torn down when the losers are cancelled.
	readSmall
	// readAll: the whole body, up to limits.max_response_body_bytes.
	readAll
)

// bodyRead says what the request's attempts read of their answers' bodies.
func (r *run) bodyRead() bodyRead {
	switch {
	case r.quorum == nil:
		return readNone
	case r.plan.quorum.needsBody:
		return readAll
	}
	return readSmall
}

// quorumRun is one request's answers.
type quorumRun struct {
	plan     *quorumPlan
	key      string
	policy   quorum.Policy
	head     bool // a HEAD sent to the replicas as GET: answer with headers only
	answers  []quorum.Answer
	attempts []*attempt // the attempt behind each answer
}

func (q *quorumPlan) start(req *http.Request, body []byte) *quorumRun {
	qr := &quorumRun{plan: q, policy: q.base}
	if q.floor != nil {
		qr.key = quorum.Key(q.route, req.URL.Path, req.URL.RawQuery, body)
		qr.policy = q.floor.Policy(qr.key, q.base)
	}
	return qr
}

// collectQuorum adds a finished attempt's answer and decides once agreement is reached
// or no longer possible.
func (r *run) collectQuorum(a *attempt) (*Result, error, bool) {
	q := r.quorum
	ans := quorum.Answer{Replica: a.replica.Name}
	switch {
	case a.failure != FailureNone:
		ans.Err = errors.New(string(a.failure))
	default:
		v, err := q.plan.extractor.Extract(a.resp.StatusCode, a.resp.Header, a.body)
		if err != nil {
			ans.Err = err
			a.failure, a.err = FailureNoVersion, err
		} else {
			ans.Version = v
			a.version = v.Raw
		}
	}
	q.answers = append(q.answers, ans)
	q.attempts = append(q.attempts, a)
	d := quorum.Decide(q.answers, q.policy)
	if !d.Decided {
		return nil, nil, false
	}
	res, err := r.decideQuorum(d)
	return res, err, true
}

// decideQuorum serves a decided quorum's winner, or turns its refusal into an *Error.
func (r *run) decideQuorum(d quorum.Decision) (*Result, error) {
	q := r.quorum
	obs, route := r.plan.observer, r.plan.route
	obs.QuorumResult(route, string(d.Result))
	if d.Winner < 0 {
		r.finish()
		e := &Error{Outcome: OutcomeNoQuorum, Attempts: r.reports()}
		switch d.Result {
		case quorum.ResultStale:
			e.Outcome = OutcomeStale
			e.Message = fmt.Sprintf("stale quorum: replicas agree only on version %s, older than one already served", d.Version)
		case quorum.ResultDeadline:
			e.Outcome = OutcomeDeadline
			e.Message = fmt.Sprintf("deadline exceeded before %d replicas agreed", q.policy.Read)
		default:
			e.Message = fmt.Sprintf("no quorum: fewer than %d of %d replicas agree on a version", q.policy.Read, q.policy.Asked)
		}
		return nil, e
	}
	for _, ans := range q.answers {
		if ans.Err == nil && !ans.Version.Equal(d.Version) {
			obs.QuorumDivergence(route, ans.Replica)
		}
	}
	if q.plan.floor != nil {
		// Before the answer leaves: a concurrent read of the same key must not then be
		// served anything older.
		q.plan.floor.Observe(q.key, d.Version)
	}
	win := q.attempts[d.Winner]
	res := r.win(win)
	res.Quorum = &QuorumInfo{Agreeing: d.Agreeing, Asked: q.policy.Asked, Version: d.Version.Raw, Result: string(d.Result)}
	if win.body != nil {
		resp := *win.resp
		resp.Header = win.resp.Header.Clone()
		resp.Header.Set("Content-Length", strconv.Itoa(len(win.body)))
		resp.Body = io.NopCloser(bytes.NewReader(win.body))
		resp.ContentLength = int64(len(win.body))
		if q.head {
			resp.Body = http.NoBody
		}
		res.Response = &resp
	}
	return res, nil
}

// abortQuorum decides a quorum whose deadline passed with the answers that came: under
// conflict latest the best one is still served (its body was buffered); otherwise 504.
func (r *run) abortQuorum() (*Result, error) {
	d := quorum.DecideAtDeadline(r.quorum.answers, r.quorum.policy)
	if d.Winner >= 0 && r.quorum.attempts[d.Winner].body == nil {
		d = quorum.Decision{Decided: true, Result: quorum.ResultDeadline, Winner: -1}
	}
	return r.decideQuorum(d)
}
