package quorum

import (
	"slices"

	"github.com/hedgegate/hedgegate/config"
)

// Answer is one finished attempt as the collector sees it.
type Answer struct {
	// Replica names the replica that answered, for error bodies and divergence metrics.
	Replica string
	// Version is the answer's version; meaningful only when Err is nil.
	Version Version
	// Err is non-nil when the attempt failed or its version could not be extracted;
	// such an answer does not count toward agreement and never wins.
	Err error
	// BelowMin marks an answer below the request's client floor (the version in
	// X-Min-Version, compared with AtLeast by the caller, possibly on a version other
	// than Version): like a failed one it does not count toward agreement and never
	// wins, but when no acceptable answer comes the result is ResultFloorUnmet.
	BelowMin bool
}

// votes reports whether a counts toward agreement.
func (a Answer) votes() bool { return a.Err == nil && !a.BelowMin }

// Policy is what Decide needs to know about the route and the key. Build the route's
// part once; Floor.Policy fills the per-key floor.
type Policy struct {
	// Read is how many answers must agree on a version; values below 1 mean 1.
	Read int
	// Asked is how many attempts were sent; Asked - len(answers) are still pending.
	Asked int
	// Conflict is config.ConflictMajority or config.ConflictLatest; anything else,
	// "" included, means majority.
	Conflict string
	// Floor is the key's monotonic floor: the version last served. Nil: no floor.
	Floor *Version
	// FloorHistory holds versions served for the key before Floor and since replaced,
	// newest first. Used only for versions that cannot be compared numerically with
	// Floor. Read-only: it may be shared with other requests.
	FloorHistory []Version
}

// Result names how a request's quorum ended; it is the result label of
// hedgegate_quorum_results_total.
type Result string

// Results. ResultDeadline comes only from DecideAtDeadline.
const (
	ResultAgree    Result = "agree"     // Read answers agreed on a version not below the floor
	ResultLatest   Result = "latest"    // conflict latest: the highest numeric version won
	ResultNoQuorum Result = "no_quorum" // no agreement is possible any more (502)
	ResultStale    Result = "stale"     // agreement only on versions the floor refuses (502)
	ResultDeadline Result = "deadline"  // the deadline passed before a decision (504)
	// ResultFloorUnmet: no acceptable answer, and some replica answered below the
	// request's client floor (BelowMin): not caught up yet, rather than broken (503).
	ResultFloorUnmet Result = "floor_unmet"
)

// Decision is what Decide concluded from the answers so far.
type Decision struct {
	// Decided is false while pending answers could still change the outcome.
	Decided bool
	// Result is set when Decided.
	Result Result
	// Winner indexes the answer to serve, or is -1 when none is served. Under
	// majority it only ever names a version at least Read answers reported.
	Winner int
	// Version is the winner's version; for ResultStale, the refused version.
	Version Version
	// Agreeing counts the answers that reported Version (for X-Quorum); for
	// ResultNoQuorum and ResultDeadline, the size of the largest agreeing set.
	Agreeing int
}

// Decide decides a quorum read from the answers that have arrived, in arrival order.
// Call it after each answer; once Decided, cancel the remaining attempts.
//
//   - A version reported by Read answers and not refused by the floor wins
//     (ResultAgree). With Read ≤ Asked/2 several sets may agree; the one that reached
//     Read first in arrival order wins, and Winner is the first answer with it.
//   - Otherwise, while pending answers could still make some version reach Read
//     (one already seen, or a new one), Decide waits (Decided=false).
//   - Otherwise conflict latest serves the highest numeric version the floor does not
//     refuse (ResultLatest); it does not wait for answers still in flight. Without
//     one, or under majority, the result is ResultFloorUnmet when some answer was
//     BelowMin, else ResultStale when an agreeing set (or, under latest, every
//     numeric version) was refused by the floor, else ResultNoQuorum.
//
// Answers BelowMin count as failed ones do: never toward agreement, never a winner.
func Decide(answers []Answer, p Policy) Decision {
	return decide(answers, p, false)
}

// DecideAtDeadline decides with the answers that arrived when the request's deadline
// passes, treating pending attempts as lost. It always decides: as Decide with nothing
// pending, except that ResultNoQuorum and ResultStale become ResultDeadline when
// attempts were still pending, since they might have changed the outcome. Under
// conflict latest the highest numeric version that arrived still wins.
// ResultFloorUnmet stays: a replica did answer, below the client's floor.
func DecideAtDeadline(answers []Answer, p Policy) Decision {
	return decide(answers, p, true)
}

func decide(answers []Answer, p Policy, expired bool) Decision {
	read := max(p.Read, 1)
	pending := max(p.Asked-len(answers), 0)
	cut := expired && pending > 0
	if expired {
		pending = 0
	}

	// Agreement, scanning in arrival order so the set that reached Read first wins.
	// Answer sets are as small as a replica set: quadratic scans beat a map here.
	stale := -1 // first answer of the first agreeing set the floor refused
	for i, a := range answers {
		if !a.votes() || count(answers[:i+1], a.Version) != read {
			continue
		}
		first := firstIndex(answers, a.Version)
		if p.refuses(a.Version) {
			if stale < 0 {
				stale = first
			}
			continue
		}
		return Decision{Decided: true, Result: ResultAgree, Winner: first,
			Version: answers[first].Version, Agreeing: count(answers, a.Version)}
	}

	// Could pending answers still complete an acceptable set? A brand-new version
	// needs Read of them; a seen one needs the rest. Refused versions cannot help.
	if pending >= read {
		return Decision{Winner: -1}
	}
	if pending > 0 {
		for i, a := range answers {
			if a.votes() && firstIndex(answers, a.Version) == i &&
				!p.refuses(a.Version) && count(answers, a.Version)+pending >= read {
				return Decision{Winner: -1}
			}
		}
	}

	if p.Conflict == config.ConflictLatest {
		best, highestRefused := -1, -1
		for i, a := range answers {
			if !a.votes() || !a.Version.Numeric() {
				continue
			}
			if p.refuses(a.Version) {
				if highestRefused < 0 || greater(a.Version, answers[highestRefused].Version) {
					highestRefused = i
				}
				continue
			}
			// Strictly greater: among equal values the first to arrive wins.
			if best < 0 || greater(a.Version, answers[best].Version) {
				best = i
			}
		}
		if best >= 0 {
			return Decision{Decided: true, Result: ResultLatest, Winner: best,
				Version: answers[best].Version, Agreeing: count(answers, answers[best].Version)}
		}
		if stale < 0 {
			stale = highestRefused
		}
	}

	d := Decision{Decided: true, Result: ResultNoQuorum, Winner: -1}
	switch {
	case slices.ContainsFunc(answers, func(a Answer) bool { return a.Err == nil && a.BelowMin }):
		// Before stale and deadline: the client can tell "not caught up yet" (retry)
		// from "broken", and one replica at least did answer it.
		d.Result = ResultFloorUnmet
	case stale >= 0 && !cut:
		return Decision{Decided: true, Result: ResultStale, Winner: -1,
			Version: answers[stale].Version, Agreeing: count(answers, answers[stale].Version)}
	case cut:
		d.Result = ResultDeadline
	}
	for i, a := range answers {
		if a.votes() && firstIndex(answers, a.Version) == i {
			d.Agreeing = max(d.Agreeing, count(answers, a.Version))
		}
	}
	return d
}

// refuses reports whether the floor forbids serving v. Two numeric versions compare
// numerically; otherwise v is refused only when it is a version that was served and
// then replaced (it is in FloorHistory and is not Floor itself).
// Versions are compared Bounded, as the Floor stores them.
func (p Policy) refuses(v Version) bool {
	if p.Floor == nil {
		return false
	}
	v, floor := Bounded(v), Bounded(*p.Floor)
	if c, ok := v.Compare(floor); ok {
		return c < 0
	}
	if v.Equal(floor) {
		return false
	}
	for _, h := range p.FloorHistory {
		if v.Equal(Bounded(h)) {
			return true
		}
	}
	return false
}

// count returns how many voting answers report v.
func count(answers []Answer, v Version) int {
	n := 0
	for _, a := range answers {
		if a.votes() && a.Version.Equal(v) {
			n++
		}
	}
	return n
}

// firstIndex returns the first voting answer reporting v, or -1.
func firstIndex(answers []Answer, v Version) int {
	for i, a := range answers {
		if a.votes() && a.Version.Equal(v) {
			return i
		}
	}
	return -1
}

func greater(a, b Version) bool {
	c, ok := a.Compare(b)
	return ok && c > 0
}
