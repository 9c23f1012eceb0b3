package quorum

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// historyLen bounds the versions remembered per key besides the current one: enough
// to catch a lagging quorum a few writes behind, small enough for 100k keys.
const historyLen = 4

// Floor is a route's monotonic-read state: for each recently read key, the version
// last served and a short history of versions it replaced. It is bounded by an LRU,
// so a key that falls out forgets its floor (see the package doc). Safe for
// concurrent use; the zero value is not usable, call NewFloor.
type Floor struct {
	mu   sync.Mutex // guards keys; one lock makes Observe's read-modify-write atomic
	keys *simplelru.LRU[string, floorEntry]
}

// floorEntry is replaced, never mutated, so the hist slice handed out by Policy
// stays valid after the lock is released.
type floorEntry struct {
	cur  Version
	hist []Version // newest first, at most historyLen, never contains cur
}

// NewFloor returns a floor remembering at most maxKeys keys.
func NewFloor(maxKeys int) (*Floor, error) {
	if maxKeys <= 0 {
		return nil, errors.New("quorum: floor needs max_keys > 0")
	}
	keys, err := simplelru.NewLRU[string, floorEntry](maxKeys, nil)
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
	e, ok := f.keys.Get(key)
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
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.keys.Get(key)
	if !ok {
		f.keys.Add(key, floorEntry{cur: served})
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
	f.keys.Add(key, floorEntry{cur: served, hist: hist})
}

// Key is the floor key of a read: route, path and raw query, plus a sha256 of the
// body when there is one, so POST reads of different queries have different floors.
// NUL separators keep ("a", "b/c") and ("a/b", "c") apart.
func Key(route, path, rawQuery string, body []byte) string {
	k := route + "\x00" + path + "\x00" + rawQuery
	if len(body) > 0 {
		sum := sha256.Sum256(body)
		k += "\x00" + hex.EncodeToString(sum[:])
	}
	return k
}
