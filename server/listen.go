package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hedgegate/hedgegate/config"
)

// Listeners are the sockets Serve runs on. Client and Admin are required.
type Listeners struct {
	// Client serves the routes: cleartext HTTP/1.1 (and HTTP/2 with prior knowledge
	// when h2c is on), or TLS with HTTP/2 by ALPN when tls is set.
	Client net.Listener
	// Admin serves AdminHandler: metrics, probes, debug, reload.
	Admin net.Listener
	// Metrics, if not nil, serves MetricsHandler (metrics_listen): metrics and probes
	// only. Nil: none; the admin listener serves them anyway.
	Metrics net.Listener
}

// headerSlack is read beyond limits.max_header_bytes, so that the gateway's exact
// check (Handler), not the protocol's, refuses a request a little over the limit:
// the same JSON 431 over HTTP/1.1 (where net/http adds 4 KiB of its own) and HTTP/2
// (where it advertises the limit plus 320 bytes as SETTINGS_MAX_HEADER_LIST_SIZE,
// and a client refuses to send more).
const headerSlack = 4 << 10

// clientServer is the http.Server of the client listener for cfg: its protocols, its
// TLS (the certificate read from the state in force at each handshake, so a reload's
// new pair serves new connections) and its bounds.
func (s *Server) clientServer(cfg *config.Config, errLog *log.Logger) *http.Server {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	srv := &http.Server{
		Handler:           s.Handler(),
		MaxHeaderBytes:    cfg.Limits.MaxHeaderBytes + headerSlack,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          errLog,
		Protocols:         protocols,
	}
	if cfg.TLS.Enabled() {
		protocols.SetHTTP2(true)
		srv.TLSConfig = &tls.Config{
			MinVersion:     tls.VersionTLS12,
			NextProtos:     []string{"h2", "http/1.1"},
			GetCertificate: s.certificate,
		}
	}
	if cfg.H2C {
		protocols.SetUnencryptedHTTP2(true)
	}
	return srv
}

// errNoCertificate is what a handshake gets if the state in force has none, which
// reload's refusal to switch tls on or off rules out.
var errNoCertificate = errors.New("hedgegate: no certificate in force")

// certificate is the client listener's tls.Config.GetCertificate: the pair of the
// state in force, swapped whole on reload like everything else.
func (s *Server) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := s.state.Load().cert; c != nil {
		return c, nil
	}
	return nil, errNoCertificate
}

// certCollector exports the expiry of the certificate in force, when tls is set:
// what an alert on a renewal that did not happen compares with time().
type certCollector struct{ s *Server }

var certExpiryDesc = prometheus.NewDesc("hedgegate_tls_certificate_expiry_timestamp_seconds",
	"When the client listener's certificate (its leaf) expires, in Unix seconds; absent without tls.",
	nil, nil)

func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- certExpiryDesc }

func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	if cert := c.s.state.Load().cert; cert != nil && cert.Leaf != nil {
		ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, float64(cert.Leaf.NotAfter.Unix()))
	}
}

// serveClient runs srv on ln until it is shut down, over TLS when tls is set.
func serveClient(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "") // the certificate comes from GetCertificate
	}
	return srv.Serve(ln)
}

// controlServer is the http.Server of the admin or metrics listener.
func (s *Server) controlServer(h http.Handler, errLog *log.Logger) *http.Server {
	at := s.adminTime
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: at.readHeader,
		ReadTimeout:       at.read,
		WriteTimeout:      at.write,
		IdleTimeout:       at.idle,
		ErrorLog:          errLog,
	}
}

// MetricsHandler serves metrics_listen: /metrics, /healthz and /readyz, and nothing
// that changes the gateway or shows its config. It is meant to be reachable from
// the network (Prometheus, kubelet probes), where the admin listener is not.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.serveReady)
	return mux
}

// serverErrorLog is net/http's ErrorLog for the listeners: its lines go to l at warn,
// but failed TLS handshakes at debug. Those come once per connection attempt from
// anyone (port scanners, a load balancer's TCP check, a client that distrusts the
// certificate) and would flood the log; the client sees its own error.
func serverErrorLog(l *slog.Logger) *log.Logger {
	return log.New(errorLogWriter{l}, "", 0)
}

type errorLogWriter struct{ l *slog.Logger }

func (w errorLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	level := slog.LevelWarn
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		level = slog.LevelDebug
	}
	w.l.Log(context.Background(), level, msg)
	return len(p), nil
}

// restartOnly lists the keys of cfg that differ from the running prev but are read
// only at start: the listeners, their protocols, the log format, the trace exporter.
func restartOnly(cfg, prev *config.Config) config.Problems {
	var probs config.Problems
	for _, k := range []struct {
		path    string
		changed bool
	}{
		{"listen", cfg.Listen != prev.Listen},
		{"admin_listen", cfg.AdminListen != prev.AdminListen},
		{"metrics_listen", cfg.MetricsListen != prev.MetricsListen},
		{"tls", cfg.TLS.Enabled() != prev.TLS.Enabled()},
		{"h2c", cfg.H2C != prev.H2C},
		{"log.format", cfg.Log.Format != prev.Log.Format},
		// The exporter is built once; tracing.sample_ratio follows reloads.
		{"tracing.otlp_endpoint", cfg.Tracing.OTLPEndpoint != prev.Tracing.OTLPEndpoint},
	} {
		if k.changed {
			msg := "cannot change on reload (restart the gateway)"
			if k.path == "tls" {
				msg = "cannot be switched on or off on reload (restart the gateway); a new cert_file and key_file can"
			}
			probs = append(probs, problem(cfg, k.path, "%s", msg))
		}
	}
	return probs
}
