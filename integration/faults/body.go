package main

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"strconv"
)

// Every answer is a pure function of its key: the version, the framing and every byte
// of the body. So the client can check each answer it gets in full, whichever replica
// sent it and whatever the gateway did to it on the way.

// bodyPiece is how much a replica writes (and flushes) at a time: a body arrives as a
// stream, so a cut can land anywhere in it and a slow link slows it piece by piece.
const bodyPiece = 4 << 10

func keyHash(key string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return h.Sum32()
}

// keyVersion is the version every replica serves for key: the faults here are
// transport faults, so no replica is stale and any other version is a wrong answer.
func keyVersion(key string) int64 { return 1000 + int64(keyHash(key)%1000) }

// chunkedKey says whether key's answers are chunked (no Content-Length): half the keys
// are, so every cell sees both framings, and a chunked answer cut short has no declared
// length to betray it; only its bytes do.
func chunkedKey(key string) bool { return keyHash(key)&1 == 1 }

// expectedBody is key's answer, exactly size bytes (at least its JSON frame):
// {"key":"k1","version":1042,"size":16384,"pad":"..."} and a newline. The pad is a
// stream of letters seeded by key and version, so a body with any byte lost, moved or
// changed differs from it.
func expectedBody(key string, version int64, size int) []byte {
	head := fmt.Sprintf(`{"key":%q,"version":%d,"size":%d,"pad":"`, key, version, size)
	const tail = "\"}\n"
	b := make([]byte, 0, max(size, len(head)+len(tail)))
	b = append(b, head...)
	x := uint64(keyHash(key))<<32 | uint64(version) | 1
	for range size - len(head) - len(tail) {
		// xorshift64: cheap, deterministic, and no two neighbouring bytes alike by rule.
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b = append(b, 'a'+byte(x%26))
	}
	return append(b, tail...)
}

// verdict is what one client request came to.
type verdict uint8

const (
	verdictOK     verdict = iota // 200 and exactly the expected body
	verdictStatus                // an HTTP answer other than 200 (the gateway's 502/503/504, a passed-through 5xx)
	verdictNone                  // no HTTP answer: refused, reset or closed before the headers
	verdictCut                   // 200, then the body ended in an error: a truncation the client saw
	verdictWrong                 // 200 and a body that ended cleanly but is not the answer: silent
	verdictHung                  // no complete answer within the client's own timeout
)

var verdictNames = [...]string{"ok", "status", "none", "cut", "wrong", "hung"}

func (v verdict) String() string { return verdictNames[v] }

// judge classifies a 200 answer to key: its X-Version header, whether it came without
// a declared length, and the body read (readErr is what reading it ended with, nil for
// a clean end) against the expected body of the given size. The reason says what was
// wrong, for the report's examples.
func judge(key string, size int, xVersion string, chunked bool, body []byte, readErr error) (verdict, string) {
	want := keyVersion(key)
	framing := "length"
	if chunked {
		framing = "chunked"
	}
	if readErr != nil {
		return verdictCut, fmt.Sprintf("%s body cut after %d bytes: %v", framing, len(body), readErr)
	}
	if xVersion != strconv.FormatInt(want, 10) {
		return verdictWrong, fmt.Sprintf("X-Version %q, want %d", xVersion, want)
	}
	exp := expectedBody(key, want, size)
	if bytes.Equal(body, exp) {
		return verdictOK, ""
	}
	if len(body) < len(exp) && bytes.HasPrefix(exp, body) {
		return verdictWrong, fmt.Sprintf("%s body ended cleanly after %d of %d bytes", framing, len(body), len(exp))
	}
	i := 0
	for i < len(body) && i < len(exp) && body[i] == exp[i] {
		i++
	}
	return verdictWrong, fmt.Sprintf("%s body of %d bytes differs from the expected %d at byte %d", framing, len(body), len(exp), i)
}
