package replicas

import (
	"bufio"
	"net/http"
	"net/http/httptrace"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"
)

// defaultUserAgent is what (*http.Request).Write sends when the header has none.
const defaultUserAgent = "Go-http-client/1.1"

// writeRequest frames req on bw as (*http.Request).Write does, for the requests the
// engine sends: no body, no trailers, keep-alive. Request.Write formats its lines
// with fmt and sorts the header's keys, 7% of a proxied request's instructions
// (callgrind); here the header goes in map order (field order across names carries
// no meaning, RFC 9110 §5.3; a name's values keep theirs). Every other request,
// and one with anything Request.Write would treat specially (a host to punycode or
// with a zone, control bytes in its URI, an httptrace hook), is left to Request.Write.
// FuzzWriteRequest holds the two to the same parse.
func writeRequest(bw *bufio.Writer, req *http.Request) error {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	ruri := req.URL.RequestURI()
	if !plainRequest(req, host, ruri) {
		return req.Write(bw)
	}
	if !httpguts.ValidHostHeader(host) {
		host = "" // as Request.Write does: an empty Host rather than a smuggled one
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.WriteString(ruri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	userAgent := defaultUserAgent
	if vv, ok := req.Header["User-Agent"]; ok {
		userAgent = ""
		if len(vv) > 0 {
			userAgent = vv[0]
		}
	}
	if userAgent != "" {
		writeField(bw, "User-Agent", userAgent)
	}
	if sendsZeroLength(method) {
		bw.WriteString("Content-Length: 0\r\n")
	}
	for k, vv := range req.Header {
		if excludedField(k) || !httpguts.ValidHeaderFieldName(k) {
			continue // Request.Write drops an invalid name too
		}
		for _, v := range vv {
			writeField(bw, k, v)
		}
	}
	_, err := bw.WriteString("\r\n")
	return err
}

// plainRequest: req is one writeRequest frames itself.
func plainRequest(req *http.Request, host, ruri string) bool {
	if (req.Body != nil && req.Body != http.NoBody) || req.ContentLength != 0 ||
		len(req.TransferEncoding) > 0 || len(req.Trailer) > 0 || req.Close ||
		req.Method == http.MethodConnect || req.URL.Opaque != "" {
		return false
	}
	if !asciiNoZone(host) || hasCTL(ruri) || !validMethod(req.Method) {
		return false
	}
	return httptrace.ContextClientTrace(req.Context()) == nil
}

// excludedField: the fields Request.Write writes from the request's own fields, not
// from its header.
func excludedField(k string) bool {
	switch k {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// sendsZeroLength: Request.Write's Content-Length: 0 for a request without a body,
// which many servers expect of these methods.
func sendsZeroLength(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

// writeField writes one field line, its value's line breaks made spaces and its
// ends trimmed, as Request.Write does, so no value can start another field.
func writeField(bw *bufio.Writer, k, v string) {
	if strings.ContainsAny(v, "\r\n") {
		v = lineBreaksToSpace.Replace(v)
	}
	v = strings.Trim(v, " \t")
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

var lineBreaksToSpace = strings.NewReplacer("\n", " ", "\r", " ")

// asciiNoZone: host needs neither punycode nor an IPv6 zone removed.
func asciiNoZone(host string) bool {
	for i := 0; i < len(host); i++ {
		if c := host[i]; c >= utf8.RuneSelf || c == '%' {
			return false
		}
	}
	return true
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return true
		}
	}
	return false
}

// validMethod: a token (RFC 9110 §9.1), or empty for GET.
func validMethod(m string) bool {
	return m == "" || httpguts.ValidHeaderFieldName(m)
}
