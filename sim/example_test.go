package sim_test

import (
	"fmt"
	"io"
	"net/http"

	"github.com/hedgegate/hedgegate/sim"
)

// A replica that serves a fifth of its keys one version behind, and a write
// (Bump) that moves every key's fresh version up.
func ExampleNewReplica() {
	r, err := sim.NewReplica("r1", sim.Profile{
		Latency:       sim.Dist{Kind: sim.DistFixed},
		StaleFraction: 0.2,
	}, 1)
	if err != nil {
		panic(err)
	}
	defer r.Close()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(r.URL() + "/kv/user-42")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("X-Version"))
	fmt.Print(string(body))

	r.Bump()
	fmt.Println(r.VersionOf("user-42"), r.Served())
	// Output:
	// 200 1387
	// {"key":"user-42","version":1387,"value":"value-user-42-1387","replica":"r1"}
	// 1388 1
}
