package quorum

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// historyLen bounds the versions remembered per key besides the current one: enough
// to catch a lagging quorum a few writes behind, small enough for 100k keys.
const historyLen = 4

// MaxStoredVersionBytes bounds the text of a version the floor stores. A version a
// replica sends may be as long as a header or a JSON value; a longer one is stored as
// its digest (see Bounded), so an entry never holds more than
// (1+historyLen) × MaxStoredVersionBytes bytes of version text.
const MaxStoredVersionBytes = 80

// longVersionPrefix marks the digest of a version longer than MaxStoredVersionBytes.
const longVersionPrefix = "long-version:"

// Floor is a route's monotonic-read state: for each recently read key, the version
// last served and a short history of versions it replaced. It is bounded by an LRU,
// so a key that falls out forgets its floor (see the package doc). Safe for
// concurrent use; the zero value is not usable, call NewFloor.
//
// Memory is bounded in bytes, not only in keys: a key (client-chosen: path and query)
// is stored as its SHA-256, and versions as at most MaxStoredVersionBytes each, so one
// key costs about 650 bytes at most however long its query or versions (about 330
// with short versions), so max_keys 100000 holds at most about 65 MB (measured with
// TestFloorMemoryIsBoundedPerKey).
type Floor struct {
	mu   sync.Mutex // guards keys; one lock makes Observe's read-modify-write atomic
	keys *simplelru.LRU[floorKey, floorEntry]
}

// floorKey is the SHA-256 of a Key: fixed size whatever the client sent.
type floorKey [sha256.Size]byte

// floorEntry is replaced, never mutated, so the hist slice handed out by Policy
// stays valid after the lock is released. Every version in it is Bounded.
type floorEntry struct {
	cur  Version
	hist []Version // newest first, at most historyLen, never contains cur
}

// Bounded returns v itself when its text fits MaxStoredVersionBytes, and otherwise an
// opaque version naming its SHA-256: two long versions are Equal exactly when their
// texts are, but a long numeric version loses its order (a revision of more than 80
// digits is not a revision). The floor stores versions Bounded and compares answers
// Bounded, so a long version is refused or accepted as its full text would be.
func Bounded(v Version) Version {
	if len(v.Raw) <= MaxStoredVersionBytes {
		return v
	}
	sum := sha256.Sum256([]byte(v.Raw))
	return Version{Raw: longVersionPrefix + hex.EncodeToString(sum[:])}
}

// NewFloor returns a floor remembering at most maxKeys keys.
func NewFloor(maxKeys int) (*Floor, error) {
	if maxKeys <= 0 {
		return nil, errors.New("quorum: floor needs max_keys > 0")
	}
	keys, err := simplelru.NewLRU[floorKey, floorEntry](maxKeys, nil)
	if err != nil {
		return nil, err
	}
	return &Floor{keys: keys}, nil
}

// Policy returns base with Floor and FloorHistory set for key (both nil when the key
// has no floor). Take it when the request starts; re-taking it before each Decide
// narrows the window in which a concurrent request's newer version goes unseen.
func (f *Floor) Policy(key string, base Policy) Policy {
	f.mu.Lock()
	e, ok := f.keys.Get(sha256.Sum256([]byte(key)))
	f.mu.Unlock()
	base.Floor, base.FloorHistory = nil, nil
	if ok {
		base.Floor, base.FloorHistory = &e.cur, e.hist
	}
	return base
}

// Observe records that served was served for key (after ResultAgree or ResultLatest).
// Numeric over numeric only ever raises the floor, so an older request finishing late
// cannot lower it. Otherwise a different version replaces the current one, which moves
// to the history. Serving the current version again changes nothing but recency.
func (f *Floor) Observe(key string, served Version) {
	if served.Raw == "" {
		return
	}
	served = Bounded(served)
	// A copy, so the entry does not keep alive a larger string served was cut from.
	served.Raw = strings.Clone(served.Raw)
	k := floorKey(sha256.Sum256([]byte(key)))
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.keys.Get(k)
	if !ok {
		f.keys.Add(k, floorEntry{cur: served})
		return
	}
	if e.cur.Equal(served) {
		return
	}
	if c, ok := served.Compare(e.cur); ok && c < 0 {
		return
	}
	hist := make([]Version, 0, historyLen)
	hist = append(hist, e.cur)
	for _, h := range e.hist {
		if len(hist) == historyLen {
			break
		}
		if !h.Equal(served) {
			hist = append(hist, h)
		}
	}
	f.keys.Add(k, floorEntry{cur: served, hist: hist})
}

// Key is the floor key of a read: route, path and raw query, plus a sha256 of the
// body when there is one, so POST reads of different queries have different floors.
// NUL separators keep ("a", "b/c") and ("a/b", "c") apart. The Floor keeps only the
// key's SHA-256, so a long query costs it nothing.
func Key(route, path, rawQuery string, body []byte) string {
	k := route + "\x00" + path + "\x00" + rawQuery
	if len(body) > 0 {
		sum := sha256.Sum256(body)
		k += "\x00" + hex.EncodeToString(sum[:])
	}
	return k
}
