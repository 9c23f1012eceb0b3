package replicas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// warmAnswerTimeout bounds how long a warm-up waits for a replica's answers after
// connecting: a replica that accepts connections and never answers must not keep the
// whole gateway from becoming ready.
const warmAnswerTimeout = 2 * time.Second

// warmDrainLimit bounds how much of a warm-up answer is read so its connection can be
// reused; a longer body is abandoned and that connection closed.
const warmDrainLimit = 64 << 10

// Warm opens warm_connections connections to every replica at once, so the first
// requests do not pay a connect, and records which replicas it reached. Each
// connection is made by a GET of the replica's "/"; any HTTP answer counts. The error
// joins one error per replica with failures, naming it. Warm returns only when every
// goroutine it started has finished.
func (s *Set) Warm(ctx context.Context) error {
	n := s.warmConns
	if n <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.settings.connect+warmAnswerTimeout)
	defer cancel()
	errs := make([]error, len(s.Replicas))
	var wg sync.WaitGroup
	for i, r := range s.Replicas {
		wg.Go(func() { errs[i] = s.warmReplica(ctx, r, n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// WarmReplica is Warm for r alone (a replica of s): it opens warm_connections
// connections to r, marks r warmed (and so s ready) if any opened, and says why any
// failed. It returns
// nil at once when warm-up is disabled. A gateway uses it to keep trying a replica
// that was down, without re-warming the others.
func (s *Set) WarmReplica(ctx context.Context, r *Replica) error {
	if s.warmConns <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.settings.connect+warmAnswerTimeout)
	defer cancel()
	return s.warmReplica(ctx, r, s.warmConns)
}

// warmReplica makes n requests to r at once. Each holds its answer unread until all n
// have answered, so none can reuse another's connection and n connections are opened;
// then the bodies are drained and closed and the connections go idle in the pool.
func (s *Set) warmReplica(ctx context.Context, r *Replica, n int) error {
	target := (&url.URL{Scheme: r.URL.Scheme, Host: r.URL.Host, Path: "/"}).String()
	var (
		answered sync.WaitGroup
		release  = make(chan struct{})
		wg       sync.WaitGroup
		ok       atomic.Int64
		errs     = make([]error, n)
	)
	answered.Add(n)
	for k := range n {
		wg.Go(func() {
			resp, err := s.warmOne(ctx, target)
			answered.Done()
			if err != nil {
				errs[k] = err
				return
			}
			ok.Add(1)
			select {
			case <-release:
			case <-ctx.Done():
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, warmDrainLimit))
			resp.Body.Close()
		})
	}
	answered.Wait()
	close(release)
	wg.Wait()

	made := int(ok.Load())
	r.warmed.Store(made > 0)
	if made == n {
		return nil
	}
	return fmt.Errorf("replica %s: %d of %d warm connections failed: %w", r.Name, n-made, n, errors.Join(dedupe(errs)...))
}

func (s *Set) warmOne(ctx context.Context, target string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "hedgegate-warmup")
	return s.transport.RoundTrip(req)
}

// dedupe drops nil errors and repeats of the same message, so n identical "connection
// refused" errors read as one.
func dedupe(errs []error) []error {
	var out []error
	seen := make(map[string]bool)
	for _, err := range errs {
		if err == nil || seen[err.Error()] {
			continue
		}
		seen[err.Error()] = true
		out = append(out, err)
	}
	return out
}
