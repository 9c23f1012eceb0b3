package latency

// Recent returns a merged copy of the n most recent complete windows: the buckets
// before the one being recorded into, newest first, at most buckets−1 of them (a
// window with one bucket has none). A window that passed without a sample is an
// empty bucket, not skipped. It allocates, like Snapshot; the hedge tuner reads it
// once per window.
func (w *Window) Recent(n int) Snapshot {
	h := newHistogram()
	t := w.now().UnixNano()
	w.mu.Lock()
	w.advanceLocked(t)
	k := len(w.buckets)
	for i := 1; i <= min(n, k-1); i++ {
		h.Merge(w.buckets[(w.cur-i+k)%k])
	}
	w.mu.Unlock()
	return Snapshot{h: h}
}

// Past returns a merged copy of the k-th most recent complete window alone (1: the
// one before the bucket being recorded into); empty when the ring keeps fewer. The
// hedge tuner reads each window on its own, as each was recorded under its own
// hedge delays.
func (w *Window) Past(k int) Snapshot {
	h := newHistogram()
	t := w.now().UnixNano()
	w.mu.Lock()
	w.advanceLocked(t)
	if n := len(w.buckets); k >= 1 && k <= n-1 {
		h.Merge(w.buckets[(w.cur-k+n)%n])
	}
	w.mu.Unlock()
	return Snapshot{h: h}
}

// Epoch is the number of the window being recorded into now, counted from the Unix
// epoch in steps of the window's span: it changes exactly when the buckets rotate.
func (w *Window) Epoch() int64 { return floorDiv(w.now().UnixNano(), w.window) }
