// Package loadtest is hedgegate's open-loop HTTP load generator and its reports
// (text, JSON, HTML, side-by-side comparison). It imports neither the gateway nor
// chi nor the Prometheus client: a user who wants only the generator links
// net/http, an HDR histogram and the Prometheus text parser. The replica
// simulator is package sim; the demo that joins them to a gateway is package demo.
//
// Every request has an intended send time on a fixed schedule and its latency is
// measured from that time, not from when it was actually sent. A server that stalls
// is therefore charged for every request that queued behind the stall, which is
// what its users experience (no coordinated omission).
package loadtest
