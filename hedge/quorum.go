package hedge

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/quorum"
)

// quorumStrategy is strategy: quorum. Every replica is asked at once (the route's
// constant work, outside the budget) and the collector waits for `read` answers that
// agree on a version (quorum.Decide).
//
// A quorum never retries, by decision. Every replica is asked up front, so a retry
// could only go to a replica already asked, and none is right: a second answer from
// one replica is no second vote (counting it would let one replica agree with itself;
// not counting it makes the retry pure cost); the replica that just failed is the one
// likeliest to fail again, so the retry would spend the budget where it buys least, in
// the outage the budget exists to bound; and a quorum's redundancy is already its N−R
// spare replicas, a failed answer tolerated while `read` others agree. A fault on a
// reused connection before any answer is retried by net/http's transport itself for
// GET and HEAD. So retry.on only says which answers count as failed (a listed status
// does not vote), and the attempt timeout cancels (nothing could be sent beside it).
type quorumStrategy struct {
	route     string
	replicas  int
	extractor *quorum.Extractor // the agreement version's
	// shared: the agreement version is the route's own, already read by checkVersion.
	shared bool
	// bodyVersion: a version (agreement or the route's) is read from the body.
	bodyVersion bool
	base        quorum.Policy
	floor       *quorum.Floor  // nil unless monotonic reads are on
	agreement   config.Version // what extractor and floor were built from
	monotonic   config.Monotonic
}

// newQuorumStrategy builds route's quorum for a set of n replicas; version is the
// route's own (X-Hedgegate-Version, the client floor). The monotonic floor of prev
// (the plan this one replaces, or nil) carries over while the agreement version and
// monotonic settings are unchanged: a reload must not forget versions already served.
func newQuorumStrategy(route *config.Route, n int, prev *Plan, version *routeVersion) (*quorumStrategy, error) {
	agreement := route.AgreementVersion()
	ex, err := quorum.NewExtractor(agreement)
	if err != nil {
		return nil, err
	}
	q := &quorumStrategy{
		route:       route.Name,
		replicas:    n,
		extractor:   ex,
		shared:      version != nil && version.cfg == agreement,
		bodyVersion: ex.NeedsBody() || version.needsBody(),
		base:        quorum.Policy{Read: route.Quorum.Read, Asked: n, Conflict: route.Quorum.Conflict},
		agreement:   agreement,
		monotonic:   route.Quorum.Monotonic,
	}
	if m := route.Quorum.Monotonic; m.Enabled {
		if q.floor, err = quorum.NewFloor(m.MaxKeys); err != nil {
			return nil, err
		}
	}
	if old, ok := previousStrategy(prev).(*quorumStrategy); ok && old.floor != nil && q.floor != nil &&
		old.agreement == q.agreement && old.monotonic == q.monotonic {
		q.floor = old.floor
	}
	return q, nil
}

// mode reads every body whole, whatever the version source: an answer counts towards
// agreement only once its body has come complete, so a body cut after headers that
// agree is a failed answer, not a vote for something the client would get cut.
func (q *quorumStrategy) mode() attemptMode {
	return attemptMode{maxAttempts: q.replicas, read: readAll, cutAtTimeout: true, autoTimeoutIsRoute: true}
}

func (q *quorumStrategy) begin(req *http.Request, body []byte) (*http.Request, scheduler, collector) {
	qr := &quorumRequest{strategy: q, policy: q.base}
	if q.floor != nil {
		qr.key = quorum.Key(q.route, req.URL.Path, req.URL.RawQuery, body)
		qr.policy = q.floor.Policy(qr.key, q.base)
	}
	// A HEAD answer has no body to take a version from.
	req, qr.head = asGet(req, q.bodyVersion)
	return req, qr, qr
}

// QuorumInfo describes how a quorum route's answer was agreed; the server turns it into
// the X-Quorum and X-Quorum-Version headers.
type QuorumInfo struct {
	Agreeing, Asked int
	Version         string
	Result          string
}

// quorumRequest is one request's quorum: its scheduler asks everyone and is done; its
// collector gathers the answers.
type quorumRequest struct {
	strategy *quorumStrategy
	key      string
	policy   quorum.Policy
	head     bool // a HEAD sent to the replicas as GET: answer with headers only
	answers  []quorum.Answer
	attempts []*attempt // the attempt behind each answer
}

func (q *quorumRequest) start(l launcher) {
	for l.launch(KindPrimary, nil, 0) {
	}
}

func (q *quorumRequest) ended(launcher, *attempt) {}
func (q *quorumRequest) slow(launcher, *attempt)  {}
func (q *quorumRequest) wake(launcher)            {}

// collect adds a finished attempt's answer and decides once agreement is reached or
// no longer possible.
func (q *quorumRequest) collect(d decider, a *attempt) (*Result, error, bool) {
	ans := quorum.Answer{Replica: a.replica.Name}
	switch {
	case a.failure == failStale:
		ans.BelowMin = true // below the client's floor: no vote (checkVersion said why)
	case a.failure != noFailure:
		ans.Err = errors.New(string(a.failure))
	default:
		v, err := a.ver, a.verErr
		if !q.strategy.shared {
			v, err = q.strategy.extractor.Extract(a.resp.StatusCode, a.resp.Header, a.body)
			a.agreed = v.Raw
		}
		if err != nil {
			ans.Err = err
			a.failure, a.err = failNoVersion, err
		} else {
			ans.Version = v
		}
	}
	q.answers = append(q.answers, ans)
	q.attempts = append(q.attempts, a)
	dec := quorum.Decide(q.answers, q.policy)
	if !dec.Decided {
		return nil, nil, false
	}
	res, err := q.decide(d, dec)
	return res, err, true
}

// exhausted is not reached in practice: once every replica has answered, Decide decides.
func (q *quorumRequest) exhausted(d decider) (*Result, error) {
	return nil, d.fail(OutcomeAllFailed, "every attempt failed")
}

// expired decides a quorum whose deadline passed with the answers that came: under
// conflict latest the best one is still served (its body was buffered); otherwise 504.
func (q *quorumRequest) expired(d decider) (*Result, error) {
	if !d.deadlinePassed() {
		return nil, d.expiredError()
	}
	dec := quorum.DecideAtDeadline(q.answers, q.policy)
	if dec.Winner >= 0 && q.attempts[dec.Winner].body == nil {
		dec = quorum.Decision{Decided: true, Result: quorum.ResultDeadline, Winner: -1}
	}
	return q.decide(d, dec)
}

// decide serves a decided quorum's winner, or turns its refusal into an *Error.
func (q *quorumRequest) decide(d decider, dec quorum.Decision) (*Result, error) {
	obs, route := d.observer(), d.route()
	obs.QuorumResult(route, string(dec.Result))
	if dec.Winner < 0 {
		switch dec.Result {
		case quorum.ResultStale:
			return nil, d.fail(OutcomeStale, fmt.Sprintf("stale quorum: replicas agree only on version %s, older than one already served", dec.Version))
		case quorum.ResultDeadline:
			return nil, d.fail(OutcomeDeadline, fmt.Sprintf("deadline exceeded before %d replicas agreed", q.policy.Read))
		case quorum.ResultFloorUnmet:
			return nil, d.floorUnmet()
		}
		return nil, d.fail(OutcomeNoQuorum, fmt.Sprintf("no quorum: fewer than %d of %d replicas agree on a version", q.policy.Read, q.policy.Asked))
	}
	for _, ans := range q.answers {
		if ans.Err == nil && !ans.Version.Equal(dec.Version) {
			obs.QuorumDivergence(route, ans.Replica)
		}
	}
	if f := q.strategy.floor; f != nil {
		// Before the answer leaves: a concurrent read of the same key must not then be
		// served anything older.
		f.Observe(q.key, dec.Version)
	}
	win := q.attempts[dec.Winner]
	res := serveBuffered(d.win(win), win, q.head)
	res.Quorum = &QuorumInfo{Agreeing: dec.Agreeing, Asked: q.policy.Asked, Version: dec.Version.Raw, Result: string(dec.Result)}
	return res, nil
}
