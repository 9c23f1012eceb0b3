package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/hedgegate/hedgegate/hedge"
)

// The gateway's own span attributes, beside the semantic conventions' http.*, url.*,
// server.* and error.type (docs/operate.md, Traces, lists them all).
const (
	attrRoute         = attribute.Key("hedgegate.route")
	attrAttempts      = attribute.Key("hedgegate.attempts")
	attrReplica       = attribute.Key("hedgegate.replica")
	attrWinnerKind    = attribute.Key("hedgegate.winner.kind")
	attrAborted       = attribute.Key("hedgegate.aborted")
	attrQuorumAgree   = attribute.Key("hedgegate.quorum.agreeing")
	attrQuorumAsked   = attribute.Key("hedgegate.quorum.asked")
	attrQuorumVersion = attribute.Key("hedgegate.quorum.version")
	attrAttemptKind   = attribute.Key("hedgegate.attempt.kind")
	attrDelayMS       = attribute.Key("hedgegate.attempt.delay_ms")
	attrOutcome       = attribute.Key("hedgegate.attempt.outcome")
)

// traceparentKey is the W3C header as net/http canonicalises it.
const traceparentKey = "Traceparent"

// handler wraps the client handler with the request's server span. A caller's
// traceparent is only ever the span's parent: nothing the gateway does depends on it.
// Unsampled, the span records nothing and only its context goes on to the replicas
// (so that they follow the decision); at sample_ratio 0, a request without a trace
// of its caller's is not touched at all, as with tracing off.
func (t *tracing) handler(next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if len(r.Header[traceparentKey]) > 0 {
			ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
		}
		if t.sampler.ratio() == 0 && !trace.SpanContextFromContext(ctx).IsValid() {
			next.ServeHTTP(w, r)
			return
		}
		ctx, span := t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
		r = r.WithContext(ctx)
		if !span.IsRecording() {
			next.ServeHTTP(w, r)
			return
		}
		tw := &tracedWriter{ResponseWriter: w, span: span}
		served := false
		defer func() { tw.end(r, !served) }()
		next.ServeHTTP(tw, r)
		served = true // not reached when the handler aborts the answer (a panic)
	})
}

// tracedWriter is a recorded request's ResponseWriter: it notes the status sent and
// carries what the handler learns (route, attempts, winner, error) to the span's end.
type tracedWriter struct {
	http.ResponseWriter
	span   trace.Span
	status int

	route, pattern string
	res            *hedge.Result // the decided answer, when there was one
	attempts       int           // for an engine error, which has no Result
	errKind        string
	errMsg         string
}

func (tw *tracedWriter) WriteHeader(code int) {
	if tw.status == 0 && code >= 200 {
		tw.status = code
	}
	tw.ResponseWriter.WriteHeader(code)
}

func (tw *tracedWriter) Write(b []byte) (int, error) {
	if tw.status == 0 {
		tw.status = http.StatusOK
	}
	return tw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (deadlines, Flush).
func (tw *tracedWriter) Unwrap() http.ResponseWriter { return tw.ResponseWriter }

// traceOf finds the recorded request's writer under w's wrappers; nil when the
// request is not recorded (tracing off, or not sampled).
func traceOf(w http.ResponseWriter) *tracedWriter {
	for {
		switch x := w.(type) {
		case *tracedWriter:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

// traceRoute notes the route a request was routed to.
func (s *Server) traceRoute(w http.ResponseWriter, name, pattern string) {
	if s.tracing == nil {
		return
	}
	if tw := traceOf(w); tw != nil {
		tw.route, tw.pattern = name, pattern
	}
}

// traceResult notes the engine's decided answer.
func (s *Server) traceResult(w http.ResponseWriter, res *hedge.Result) {
	if s.tracing == nil {
		return
	}
	if tw := traceOf(w); tw != nil {
		tw.res = res
	}
}

// traceFailure notes an error answer's kind (errorAnswer names it) and message.
func traceFailure(w http.ResponseWriter, kind, msg string, err error) {
	tw := traceOf(w)
	if tw == nil {
		return
	}
	tw.errKind, tw.errMsg = kind, msg
	var herr *hedge.Error
	if errors.As(err, &herr) {
		tw.attempts = len(herr.Attempts)
	}
}

// end sets the request span's attributes and status, and ends it. aborted: the
// handler gave up on the answer mid-way (a body cut short), so the client got no
// complete answer whatever the status said.
func (tw *tracedWriter) end(r *http.Request, aborted bool) {
	span := tw.span
	if tw.pattern != "" {
		span.SetName(r.Method + " " + tw.pattern)
	}
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(r.Method),
		semconv.URLPath(r.URL.Path),
		semconv.NetworkProtocolVersion(protocolVersion(r)),
	}
	if tw.status != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(tw.status))
	}
	if tw.route != "" {
		attrs = append(attrs, attrRoute.String(tw.route), semconv.HTTPRoute(tw.pattern))
	}
	attempts := tw.attempts
	if res := tw.res; res != nil {
		attempts = res.Sent
		attrs = append(attrs, attrReplica.String(res.Replica), attrWinnerKind.String(res.Kind.String()))
		if q := res.Quorum; q != nil {
			attrs = append(attrs, attrQuorumAgree.Int(q.Agreeing), attrQuorumAsked.Int(q.Asked),
				attrQuorumVersion.String(q.Version))
		}
	}
	if tw.route != "" {
		attrs = append(attrs, attrAttempts.Int(attempts))
	}
	switch {
	case tw.errKind != "":
		attrs = append(attrs, semconv.ErrorTypeKey.String(tw.errKind))
	case tw.status >= 500:
		// A replica's 5xx passed through: the semantic conventions' error.type.
		attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(tw.status)))
	}
	switch {
	case aborted:
		attrs = append(attrs, attrAborted.Bool(true))
		span.SetStatus(codes.Error, "answer cut short: the client's connection or stream was aborted")
	case tw.status >= 500:
		msg := tw.errMsg
		if msg == "" {
			msg = "replica answered " + strconv.Itoa(tw.status)
		}
		span.SetStatus(codes.Error, msg)
	}
	span.SetAttributes(attrs...)
	span.End()
}

// protocolVersion is the semantic conventions' network.protocol.version: 1.0, 1.1, 2.
func protocolVersion(r *http.Request) string {
	if r.ProtoMajor >= 2 {
		return strconv.Itoa(r.ProtoMajor)
	}
	return strconv.Itoa(r.ProtoMajor) + "." + strconv.Itoa(r.ProtoMinor)
}

// attemptTracer is the engine's hedge.Tracer: one client span per attempt, a child of
// its request's span.
type attemptTracer struct{ tracer trace.Tracer }

var _ hedge.Tracer = attemptTracer{}

func ignoreEnd(hedge.AttemptEnd) {}

func (t attemptTracer) StartAttempt(ctx context.Context, s hedge.AttemptStart) (context.Context, func(hedge.AttemptEnd)) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		// An unsampled request: the replica gets the request span's context, which
		// says "not sampled" as well as an attempt's would.
		return ctx, ignoreEnd
	}
	begin := time.Now()
	ctx, span := t.tracer.Start(ctx, s.Kind.String()+" "+s.Replica,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(begin),
		trace.WithAttributes(attrRoute.String(s.Route), attrReplica.String(s.Replica),
			attrAttemptKind.String(s.Kind.String()),
			attrDelayMS.Float64(float64(s.Delay.Microseconds())/1000)))
	return ctx, func(e hedge.AttemptEnd) {
		attrs := []attribute.KeyValue{attrOutcome.String(e.Outcome.String())}
		if e.Status != 0 {
			attrs = append(attrs, semconv.HTTPResponseStatusCode(e.Status))
		}
		switch e.Outcome {
		case hedge.AttemptFailed, hedge.AttemptStale:
			kind := e.Failure
			if kind == "status" || kind == "" {
				kind = strconv.Itoa(e.Status)
			}
			if e.Outcome == hedge.AttemptStale {
				kind = "stale"
			}
			attrs = append(attrs, semconv.ErrorTypeKey.String(kind))
			msg := kind
			if e.Err != nil {
				msg = e.Err.Error()
			}
			span.SetStatus(codes.Error, msg)
		}
		span.SetAttributes(attrs...)
		// The span lasts as the attempt did (to its answer's headers, or its failure),
		// not until the request let go of it.
		span.End(trace.WithTimestamp(begin.Add(e.Elapsed)))
	}
}

// tracePropagator passes each attempt's trace context to its replica in traceparent
// and tracestate, replacing whatever the client sent.
type tracePropagator struct {
	next http.RoundTripper
	prop propagation.TraceContext
}

func (t tracePropagator) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		// The engine's attempts share one header (hedge's attemptRequest), and a
		// RoundTripper must not change its request: set them on a copy.
		out := *req
		out.Header = req.Header.Clone()
		if out.Header == nil {
			out.Header = http.Header{}
		}
		req = &out
		req.Header.Del("Tracestate") // Inject sets it only when there is one
		t.prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			port, _ := strconv.Atoi(req.URL.Port())
			if port == 0 && req.URL.Scheme == "https" {
				port = 443
			} else if port == 0 {
				port = 80
			}
			attrs := []attribute.KeyValue{semconv.HTTPRequestMethodKey.String(req.Method),
				semconv.ServerAddress(req.URL.Hostname()), semconv.ServerPort(port)}
			span.SetAttributes(attrs...)
		}
	}
	return t.next.RoundTrip(req)
}
