package main

// Each subcommand's usage: synopsis and what it does; flagSet prints its flags
// after it. Kept together so the help texts read as one manual.

const serveUsage = `usage: gateway serve -config FILE

Runs the gateway: clients on the config's listen address, the admin endpoints on
admin_listen, and, if set, metrics and probes on metrics_listen. Logs go to
standard error as JSON lines (log.format: text for key=value). With
tracing.otlp_endpoint set, OpenTelemetry spans go there by OTLP/HTTP (a span per
request and per attempt; the OTEL_EXPORTER_OTLP_* variables apply). "gateway
validate -config FILE" checks a file first.

signals:
  SIGHUP             reload the config file, the TLS pair, the log level and
                     access settings and tracing.sample_ratio with it; a file with
                     problems (a bad or expired certificate among them) is refused
                     and logged, and the running config stays
  SIGTERM, SIGINT    drain: /readyz turns 503 at once, answers carry Connection:
                     close (GOAWAY over HTTP/2) for shutdown.drain_delay, then the
                     listener closes and requests in flight get up to
                     shutdown.timeout to finish; queued spans are sent last
  a second signal    stop at once, without waiting for requests in flight

client listener (listen): the routes. HTTP/1.1; with tls, HTTPS with HTTP/2 by
ALPN; with h2c: true, also cleartext HTTP/2 with prior knowledge.

admin listener (admin_listen; keep it on loopback or a private network):
  /metrics           Prometheus metrics
  /healthz           200 while the process runs
  /readyz            200 once every replica set has opened its warm connections,
                     503 while warming or draining
  /debug/replicas    per replica: in flight, error rate, latency, hedge delay
  /debug/config      the config in force (replica passwords redacted)
  /debug/advisor     what each hedge percentile would cost ("gateway tune" reads it)
  POST /reload       reload as SIGHUP does; 400 with the problems when refused
  /debug/pprof/      Go's profiler, when debug.pprof is on (404 when off)

metrics listener (metrics_listen, optional; safe to expose to Prometheus and
kubelet probes): /metrics, /healthz and /readyz only.

docs: README.md (Commands; Endpoints, errors and metrics; Listeners, TLS and
      logs; Rolling deploys), docs/config.md (every key), docs/listeners.md
      (TLS, HTTP/2, the admin and metrics ports' threat model, the access log),
      docs/operate.md (image to dashboard; Traces)
`

const validateUsage = `usage: gateway validate -config FILE

Checks a config file the way serve and a reload load it: prints "config OK" and
exits 0, or prints one line per problem (FILE:LINE: field.path: message) and
exits 1.
`

const simUsage = `usage: gateway sim [flags]

Runs simulated replicas r1..rN on loopback, each with its control endpoint on
/_sim/ (profile, hang, refuse, normal, bump, stats). Prints one line per replica:
NAME URL control URL/_sim/ PROFILE. Runs until interrupted. See docs/simulator.md.
`

const loadtestUsage = `usage: gateway loadtest -url URL -rate R [-duration D] [flags]
       gateway loadtest compare [-html FILE] [-title T] A.json B.json ...

Open-loop load test: request i is due at start + i/rate whatever the server does,
and its latency runs from that moment. Prints a text report (or -json), warnings
included. See docs/loadtest.md.
`

const compareUsage = `usage: gateway loadtest compare [-html FILE] [-title T] A.json B.json ...

Reads "gateway loadtest -json" outputs and prints them side by side, one column per
run (named by its -name, else its file name).
`

const demoUsage = `usage: gateway demo [-rate R] [-duration D] [-seed N] [-html FILE]

Starts three simulated replicas and a gateway in this process, runs the same
open-loop load straight at two replicas and through each strategy (hedge, parallel,
quorum), prints a table and writes a self-contained HTML report.
`

const tuneUsage = `usage: gateway tune -admin URL [-route NAME] [-target-p99 DURATION] [-json]

Reads a running gateway's /debug/advisor and prints, per hedge route, what each
hedge percentile would cost (extra backend load) and buy (p50, p99, p99.9). See
docs/tuning.md.
`
