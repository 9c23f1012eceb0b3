package hedge_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/hedge"
)

// Two replicas on loopback, one of them stuck: whichever the first attempt goes to,
// the answer comes from the other within about the hedge delay.
func Example() {
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done(): // the hedge won: this attempt was cancelled
		case <-time.After(5 * time.Second):
		}
	}))
	defer stuck.Close()
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "value of %s", r.URL.Path)
	}))
	defer healthy.Close()

	plan, err := hedge.New(hedge.Config{
		Replicas: []string{stuck.URL, healthy.URL},
		// Every zero field is a documented default: hedge at the replica's p95
		// (20ms until it has 50 samples here), three attempts at most, 1s deadline.
		Strategy: hedge.Hedge{InitialDelay: 20 * time.Millisecond},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer plan.Close()

	client := &http.Client{Transport: &hedge.Transport{Plan: plan}}
	resp, err := client.Get("http://kv/kv/hello") // the host is ignored; the path goes to the replicas
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close() // releases the request's other attempts
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 value of /kv/hello
}

// Read-your-writes from Go: the client carries the version its write returned, and
// only a replica that has it answers. The lagging replica's answer, if it is asked
// first, is not served; the next attempt goes to the other one.
func ExampleWithMinVersion() {
	replica := func(version string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Version", version)
			fmt.Fprintf(w, "value at version %s", version)
		}))
	}
	lagging, caughtUp := replica("41"), replica("42")
	defer lagging.Close()
	defer caughtUp.Close()

	plan, err := hedge.New(hedge.Config{
		Replicas: []string{lagging.URL, caughtUp.URL},
		Version:  &config.Version{Header: "X-Version"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer plan.Close()

	client := &http.Client{Transport: &hedge.Transport{Plan: plan}}
	// Our write returned version 42 (the header X-Min-Version: 42 does the same).
	req, _ := http.NewRequestWithContext(hedge.WithMinVersion(context.Background(), "42"), http.MethodGet, "http://kv/kv/a", nil)
	resp, err := client.Do(req)
	if err != nil {
		log.Fatal(err) // errors.As(err, &herr) with herr.Outcome == hedge.OutcomeFloorUnmet: nobody has it yet
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Header.Get(hedge.VersionHeader), string(body))
	// Output: 42 value at version 42
}
