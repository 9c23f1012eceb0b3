package quorum

import (
	"errors"
	"testing"

	"github.com/hedgegate/hedgegate/config"
)

// ans builds answers from short specs: a version, or "!" for a failed attempt.
func ans(specs ...string) []Answer {
	out := make([]Answer, len(specs))
	for i, s := range specs {
		out[i].Replica = string(rune('a' + i))
		if s == "!" {
			out[i].Err = errors.New("attempt failed")
			continue
		}
		out[i].Version = Version{Raw: s}
	}
	return out
}

func vp(s string) *Version { return &Version{Raw: s} }

func vs(specs ...string) []Version {
	out := make([]Version, len(specs))
	for i, s := range specs {
		out[i] = Version{Raw: s}
	}
	return out
}

func TestDecide(t *testing.T) {
	const (
		majority = config.ConflictMajority
		latest   = config.ConflictLatest
	)
	undecided := Decision{Winner: -1}
	tests := []struct {
		name    string
		answers []Answer
		p       Policy
		want    Decision
	}{
		{"all agree", ans("5", "5", "5"), Policy{Read: 2, Asked: 3},
			Decision{true, ResultAgree, 0, Version{"5"}, 3}},
		{"first two agree, third pending", ans("5", "5"), Policy{Read: 2, Asked: 3},
			Decision{true, ResultAgree, 0, Version{"5"}, 2}},
		{"first answer waits", ans("5"), Policy{Read: 2, Asked: 3}, undecided},
		{"no answers yet", nil, Policy{Read: 2, Asked: 3}, undecided},
		{"first two disagree: wait", ans("5", "6"), Policy{Read: 2, Asked: 3}, undecided},
		{"third breaks the tie", ans("5", "6", "6"), Policy{Read: 2, Asked: 3},
			Decision{true, ResultAgree, 1, Version{"6"}, 2}},
		{"all three disagree", ans("5", "6", "7"), Policy{Read: 2, Asked: 3},
			Decision{true, ResultNoQuorum, -1, Version{}, 1}},
		{"one failure then two agree", ans("!", "5", "5"), Policy{Read: 2, Asked: 3},
			Decision{true, ResultAgree, 1, Version{"5"}, 2}},
		{"one failure, one answer: wait", ans("!", "5"), Policy{Read: 2, Asked: 3}, undecided},
		{"two failures: no_quorum without waiting", ans("!", "!"), Policy{Read: 2, Asked: 3},
			Decision{true, ResultNoQuorum, -1, Version{}, 0}},
		{"failure and disagreement: no_quorum without waiting", ans("5", "!", "6"), Policy{Read: 3, Asked: 4},
			Decision{true, ResultNoQuorum, -1, Version{}, 1}},
		{"numerically equal texts agree", ans("042", "42"), Policy{Read: 2, Asked: 3},
			Decision{true, ResultAgree, 0, Version{"042"}, 2}},
		{"opaque versions agree", ans(`"a"`, `"b"`, `"a"`), Policy{Read: 2, Asked: 3},
			Decision{true, ResultAgree, 0, Version{`"a"`}, 2}},
		{"read=1 first answer wins", ans("5"), Policy{Read: 1, Asked: 3},
			Decision{true, ResultAgree, 0, Version{"5"}, 1}},
		{"read=1 skips a failure", ans("!", "6"), Policy{Read: 1, Asked: 3},
			Decision{true, ResultAgree, 1, Version{"6"}, 1}},
		{"read=0 means 1", ans("6"), Policy{Read: 0, Asked: 3},
			Decision{true, ResultAgree, 0, Version{"6"}, 1}},
		{"read=N needs all", ans("5", "5"), Policy{Read: 3, Asked: 3}, undecided},
		{"read=N all agree", ans("5", "5", "5"), Policy{Read: 3, Asked: 3},
			Decision{true, ResultAgree, 0, Version{"5"}, 3}},
		{"read=N one differs", ans("5", "6"), Policy{Read: 3, Asked: 3},
			Decision{true, ResultNoQuorum, -1, Version{}, 1}},
		{"read > asked is impossible at once", nil, Policy{Read: 4, Asked: 3},
			Decision{true, ResultNoQuorum, -1, Version{}, 0}},
		{"several sets: first to reach read wins", ans("5", "6", "6", "5"), Policy{Read: 2, Asked: 4},
			Decision{true, ResultAgree, 1, Version{"6"}, 2}},
		{"latest agrees first", ans("5", "5", "9"), Policy{Read: 2, Asked: 3, Conflict: latest},
			Decision{true, ResultAgree, 0, Version{"5"}, 2}},
		{"latest waits while agreement possible", ans("5", "9"), Policy{Read: 2, Asked: 3, Conflict: latest}, undecided},
		{"latest picks highest numeric", ans("5", "9", "7"), Policy{Read: 2, Asked: 3, Conflict: latest},
			Decision{true, ResultLatest, 1, Version{"9"}, 1}},
		{"latest compares numerically, not as text", ans("10", "9"), Policy{Read: 2, Asked: 2, Conflict: latest},
			Decision{true, ResultLatest, 0, Version{"10"}, 1}},
		{"latest beyond 2^64", ans("18446744073709551617", "18446744073709551616"), Policy{Read: 2, Asked: 2, Conflict: latest},
			Decision{true, ResultLatest, 0, Version{"18446744073709551617"}, 1}},
		{"latest ignores opaque", ans("abc", "4", "zzz"), Policy{Read: 2, Asked: 3, Conflict: latest},
			Decision{true, ResultLatest, 1, Version{"4"}, 1}},
		{"latest with only opaque: no_quorum", ans("abc", "def", "ghi"), Policy{Read: 2, Asked: 3, Conflict: latest},
			Decision{true, ResultNoQuorum, -1, Version{}, 1}},
		{"latest with all failures", ans("!", "!", "!"), Policy{Read: 2, Asked: 3, Conflict: latest},
			Decision{true, ResultNoQuorum, -1, Version{}, 0}},
		{"latest decides without the pending answer", ans("5", "9"), Policy{Read: 3, Asked: 3, Conflict: latest},
			Decision{true, ResultLatest, 1, Version{"9"}, 1}},
		{"floor refuses older agreeing set: stale", ans("5", "5", "5"), Policy{Read: 2, Asked: 3, Floor: vp("7")},
			Decision{true, ResultStale, -1, Version{"5"}, 3}},
		{"floor: older set refused, wait for the last", ans("5", "5", "7"), Policy{Read: 2, Asked: 4, Floor: vp("7")}, undecided},
		{"floor: older set refused, one pending cannot help", ans("5", "5"), Policy{Read: 2, Asked: 3, Floor: vp("7")},
			Decision{true, ResultStale, -1, Version{"5"}, 2}},
		{"floor: older set refused, last agrees with newer", ans("5", "7", "5", "7"), Policy{Read: 2, Asked: 4, Floor: vp("7")},
			Decision{true, ResultAgree, 1, Version{"7"}, 2}},
		{"floor accepts equal", ans("7", "7"), Policy{Read: 2, Asked: 3, Floor: vp("7")},
			Decision{true, ResultAgree, 0, Version{"7"}, 2}},
		{"floor accepts newer", ans("8", "8"), Policy{Read: 2, Asked: 3, Floor: vp("7")},
			Decision{true, ResultAgree, 0, Version{"8"}, 2}},
		{"floor stale, majority, all in", ans("5", "5", "9"), Policy{Read: 2, Asked: 3, Floor: vp("7")},
			Decision{true, ResultStale, -1, Version{"5"}, 2}},
		{"latest with floor skips older", ans("5", "5", "9"), Policy{Read: 2, Asked: 3, Conflict: latest, Floor: vp("7")},
			Decision{true, ResultLatest, 2, Version{"9"}, 1}},
		{"latest with everything below floor: stale", ans("5", "6", "4"), Policy{Read: 2, Asked: 3, Conflict: latest, Floor: vp("7")},
			Decision{true, ResultStale, -1, Version{"6"}, 1}},
		{"opaque floor refuses a replaced version", ans("A", "A", "B"),
			Policy{Read: 2, Asked: 3, Floor: vp("B"), FloorHistory: vs("A")},
			Decision{true, ResultStale, -1, Version{"A"}, 2}},
		{"opaque floor accepts current", ans("B", "B"),
			Policy{Read: 2, Asked: 3, Floor: vp("B"), FloorHistory: vs("A")},
			Decision{true, ResultAgree, 0, Version{"B"}, 2}},
		{"opaque floor accepts unseen as newer", ans("C", "C"),
			Policy{Read: 2, Asked: 3, Floor: vp("B"), FloorHistory: vs("A")},
			Decision{true, ResultAgree, 0, Version{"C"}, 2}},
		{"opaque floor: replaced set refused, wait", ans("A", "A", "B"),
			Policy{Read: 2, Asked: 4, Floor: vp("B"), FloorHistory: vs("A")}, undecided},
		{"opaque floor: old history entry refused", ans("Z", "Z", "Z"),
			Policy{Read: 2, Asked: 3, Floor: vp("B"), FloorHistory: vs("A", "Z")},
			Decision{true, ResultStale, -1, Version{"Z"}, 3}},
		{"mixed floor uses the opaque rule", ans("3", "3"),
			Policy{Read: 2, Asked: 3, Floor: vp("B"), FloorHistory: vs("A")},
			Decision{true, ResultAgree, 0, Version{"3"}, 2}},
		{"pending beyond answers is ignored", ans("5", "6", "7"), Policy{Read: 2, Asked: 1},
			Decision{true, ResultNoQuorum, -1, Version{}, 1}},
		{"unknown conflict means majority", ans("5", "9"), Policy{Read: 2, Asked: 2, Conflict: "bogus"},
			Decision{true, ResultNoQuorum, -1, Version{}, 1}},
		{"explicit majority", ans("5", "9"), Policy{Read: 2, Asked: 2, Conflict: majority},
			Decision{true, ResultNoQuorum, -1, Version{}, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.answers, tt.p)
			if got != tt.want {
				t.Errorf("Decide = %+v\n            want %+v", got, tt.want)
			}
		})
	}
}

func TestDecideAtDeadline(t *testing.T) {
	tests := []struct {
		name    string
		answers []Answer
		p       Policy
		want    Decision
	}{
		{"majority, disagreement cut short", ans("5", "6"), Policy{Read: 2, Asked: 3},
			Decision{true, ResultDeadline, -1, Version{}, 1}},
		{"majority, nothing arrived", nil, Policy{Read: 2, Asked: 3},
			Decision{true, ResultDeadline, -1, Version{}, 0}},
		{"latest serves the highest arrived", ans("5", "9"), Policy{Read: 2, Asked: 3, Conflict: config.ConflictLatest},
			Decision{true, ResultLatest, 1, Version{"9"}, 1}},
		{"stale cut short is a deadline", ans("5", "5"), Policy{Read: 2, Asked: 3, Floor: vp("7")},
			Decision{true, ResultDeadline, -1, Version{}, 2}},
		{"nothing pending: same as Decide", ans("5", "6", "7"), Policy{Read: 2, Asked: 3},
			Decision{true, ResultNoQuorum, -1, Version{}, 1}},
		{"agreement still wins", ans("5", "5"), Policy{Read: 2, Asked: 3},
			Decision{true, ResultAgree, 0, Version{"5"}, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DecideAtDeadline(tt.answers, tt.p)
			if got != tt.want {
				t.Errorf("DecideAtDeadline = %+v\n                    want %+v", got, tt.want)
			}
		})
	}
}

func BenchmarkDecide(b *testing.B) {
	answers := ans("41", "42", "42")
	p := Policy{Read: 2, Asked: 3, Conflict: config.ConflictMajority, Floor: vp("40")}
	b.ReportAllocs()
	for b.Loop() {
		if d := Decide(answers, p); d.Result != ResultAgree {
			b.Fatal(d)
		}
	}
}
