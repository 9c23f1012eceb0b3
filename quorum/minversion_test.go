package quorum

import (
	"testing"

	"github.com/hedgegate/hedgegate/config"
)

func TestAtLeast(t *testing.T) {
	tests := []struct {
		name     string
		v, floor string
		want     bool
	}{
		{"equal numbers", "42", "42", true},
		{"above", "43", "42", true},
		{"below", "41", "42", false},
		{"numeric, not text: 10 is above 9", "10", "9", true},
		{"leading zeros are the same number", "042", "42", true},
		{"negative below zero", "-1", "0", false},
		{"-0 is 0", "-0", "0", true},
		{"beyond 2^64", "18446744073709551617", "18446744073709551616", true},
		{"beyond 2^64, below", "18446744073709551616", "18446744073709551617", false},
		{"opaque equal", `"abc"`, `"abc"`, true},
		{"opaque different: never ordered", "v4", "v3", false},
		{"opaque that sorts higher as text is still refused", "b", "a", false},
		{"numeric answer, opaque floor", "43", "v42", false},
		{"opaque answer, numeric floor", "v43", "42", false},
		{"a decimal fraction is opaque", "1.5", "1", false},
		{"a plus sign is opaque", "+5", "5", false},
		{"body hashes by equality", "sha256:00ff", "sha256:00ff", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AtLeast(Version{Raw: tc.v}, Version{Raw: tc.floor}); got != tc.want {
				t.Errorf("AtLeast(%q, %q) = %v, want %v", tc.v, tc.floor, got, tc.want)
			}
		})
	}
}

// below marks the answers at the given indexes BelowMin.
func below(answers []Answer, idx ...int) []Answer {
	for _, i := range idx {
		answers[i].BelowMin = true
	}
	return answers
}

func TestDecideBelowMin(t *testing.T) {
	const latest = config.ConflictLatest
	undecided := Decision{Winner: -1}
	tests := []struct {
		name    string
		answers []Answer
		p       Policy
		want    Decision
	}{
		{"two stale answers agreeing are no quorum, and one pending cannot make one",
			below(ans("5", "5"), 0, 1), Policy{Read: 2, Asked: 3},
			Decision{true, ResultFloorUnmet, -1, Version{}, 0}},
		{"two stale answers, two pending: wait",
			below(ans("5", "5"), 0, 1), Policy{Read: 2, Asked: 4}, undecided},
		{"one stale answer, one fresh, one pending: wait",
			below(ans("5", "6"), 0), Policy{Read: 2, Asked: 3}, undecided},
		{"two stale and one fresh: floor unmet, not no_quorum",
			below(ans("5", "5", "6"), 0, 1), Policy{Read: 2, Asked: 3},
			Decision{true, ResultFloorUnmet, -1, Version{}, 1}},
		{"one stale, two fresh agree",
			below(ans("5", "6", "6"), 0), Policy{Read: 2, Asked: 3},
			Decision{true, ResultAgree, 1, Version{"6"}, 2}},
		{"the stale answer is not counted in Agreeing even when equal",
			below(ans("6", "6", "6"), 0), Policy{Read: 2, Asked: 3},
			Decision{true, ResultAgree, 1, Version{"6"}, 2}},
		{"latest skips a higher answer below the floor (the floor may compare another version)",
			below(ans("9", "6", "!"), 0), Policy{Read: 2, Asked: 3, Conflict: latest},
			Decision{true, ResultLatest, 1, Version{"6"}, 1}},
		{"latest with only stale answers: floor unmet",
			below(ans("5", "4", "!"), 0, 1), Policy{Read: 2, Asked: 3, Conflict: latest},
			Decision{true, ResultFloorUnmet, -1, Version{}, 0}},
		{"failures only: still no_quorum",
			ans("!", "!"), Policy{Read: 2, Asked: 3},
			Decision{true, ResultNoQuorum, -1, Version{}, 0}},
		{"floor unmet comes before the monotonic floor's stale",
			below(ans("3", "3", "2"), 2), Policy{Read: 2, Asked: 3, Floor: vp("4")},
			Decision{true, ResultFloorUnmet, -1, Version{}, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Decide(tc.answers, tc.p); got != tc.want {
				t.Errorf("Decide = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecideAtDeadlineBelowMin(t *testing.T) {
	// A stale answer came, the rest did not: the client learns its floor was not
	// reached (503, retry) rather than a bare deadline.
	got := DecideAtDeadline(below(ans("5"), 0), Policy{Read: 2, Asked: 3})
	if got.Result != ResultFloorUnmet || got.Winner != -1 {
		t.Errorf("DecideAtDeadline = %+v, want floor_unmet", got)
	}
	// Nothing stale came: a deadline as before.
	if got := DecideAtDeadline(ans("6"), Policy{Read: 2, Asked: 3}); got.Result != ResultDeadline {
		t.Errorf("DecideAtDeadline = %+v, want deadline", got)
	}
}
