package quorum_test

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/quorum"
)

// A 2-of-3 read with a monotonic floor: r1 lags, r2 and r3 agree on the fresh version.
func Example() {
	ex, err := quorum.NewExtractor(config.Version{Header: "X-Version"})
	if err != nil {
		panic(err)
	}
	floor, err := quorum.NewFloor(1000)
	if err != nil {
		panic(err)
	}
	route := quorum.Policy{Read: 2, Asked: 3, Conflict: config.ConflictMajority}
	key := quorum.Key("kv-get", "/kv/user42", "", nil)
	p := floor.Policy(key, route)

	var answers []quorum.Answer
	for _, r := range []struct{ name, version string }{{"r1", "41"}, {"r2", "42"}, {"r3", "42"}} {
		v, err := ex.Extract(200, http.Header{"X-Version": {r.version}}, nil)
		answers = append(answers, quorum.Answer{Replica: r.name, Version: v, Err: err})
		d := quorum.Decide(answers, p)
		if !d.Decided {
			fmt.Printf("after %s: waiting\n", r.name)
			continue
		}
		fmt.Printf("after %s: %s, serve %s (X-Quorum: %d/%d)\n",
			r.name, d.Result, answers[d.Winner].Replica, d.Agreeing, p.Asked)
		floor.Observe(key, d.Version)
		break
	}

	// Later, r2 and r3 are both lost and only r1's old version is left: refused.
	lost := errors.New("connection reset")
	later := []quorum.Answer{
		{Replica: "r1", Version: quorum.Version{Raw: "41"}},
		{Replica: "r2", Err: lost},
		{Replica: "r3", Err: lost},
	}
	d := quorum.Decide(later, floor.Policy(key, quorum.Policy{Read: 1, Asked: 3}))
	fmt.Printf("later: %s on version %s\n", d.Result, d.Version)
	// Output:
	// after r1: waiting
	// after r2: waiting
	// after r3: agree, serve r2 (X-Quorum: 2/3)
	// later: stale on version 41
}
