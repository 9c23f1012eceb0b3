package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/replicas"
)

// Reload reads path again and, if it is valid, swaps the whole routing state
// atomically: requests in flight finish on the state they started with, new ones use
// the new one. An invalid file changes nothing and its problems are returned (a
// config.Problems, the same lines `gateway validate` prints).
func (s *Server) Reload(path string) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	cfg, err := config.Load(path)
	if err == nil {
		err = s.swap(cfg)
	}
	if err != nil {
		s.metrics.reloads.WithLabelValues("error").Inc()
		s.metrics.reloadError.Set(1)
		s.log.Error("reload refused; the running config stays", "file", path, "err", err)
		return err
	}
	s.metrics.reloads.WithLabelValues("ok").Inc()
	s.metrics.reloadError.Set(0)
	s.log.Info("config reloaded", "file", path, "routes", len(cfg.Routes))
	return nil
}

// swap builds cfg's state and puts it in force. New replicas are warmed first, so the
// swap does not send requests to cold connections (those that cannot be reached then
// are tried again every second until they can); removed replicas get no new
// request once the swap is done, and their connections are closed once their last
// request ends.
func (s *Server) swap(cfg *config.Config) error {
	prev := s.state.Load()
	if probs := restartOnly(cfg, prev.cfg); len(probs) > 0 {
		return probs
	}
	found, err := s.resolveChanged(cfg, prev)
	if err != nil {
		return err
	}
	st, removed, err := s.buildSafely(cfg, prev, found)
	if err != nil {
		return err
	}
	warmCtx, cancel := context.WithTimeout(context.Background(), reloadWarmTimeout)
	s.warmPass(warmCtx, st)
	cancel()
	s.state.Store(st)
	s.applyLogLevel(cfg)
	s.tracing.setRatio(cfg.Tracing.SampleRatio)
	for _, rt := range prev.routes {
		// Requests still on it go on with its delays; only an auto route's retune,
		// if one is running, is waited for.
		rt.plan.Close()
	}
	s.warm.forget(removed)
	s.forgetDiscovery(prev.cfg, cfg)
	// Replicas still unreached are tried again until they answer (keepWarm).
	s.warm.wake()
	select { // the discovery loop schedules the sets in force now
	case s.discKick <- struct{}{}:
	default:
	}
	s.drain(prev, removed)
	return nil
}

// forgetDiscovery drops what the gateway knows of the lookups, and the series, of
// sets that find their members in DNS under prev but no longer under cfg.
func (s *Server) forgetDiscovery(prev, cfg *config.Config) {
	keep := discoverySets(cfg)
	s.disc.mu.Lock()
	for name := range s.disc.sets {
		if !slices.Contains(keep, name) {
			delete(s.disc.sets, name)
		}
	}
	s.disc.mu.Unlock()
	for _, name := range discoverySets(prev) {
		if !slices.Contains(keep, name) {
			s.metrics.discovery.DeletePartialMatch(prometheus.Labels{"set": name})
		}
	}
}

// reloadWarmTimeout bounds how long a reload waits for new replicas' connections.
const reloadWarmTimeout = 5 * time.Second

// drain waits until no request still runs on the previous state (at most its longest
// route timeout: no request outlives it), then closes the removed replicas'
// connections: by then they are all idle, winners' bodies included.
func (s *Server) drain(prev *state, removed []*replicas.Replica) {
	if len(removed) == 0 {
		return
	}
	deadline := time.Now().Add(prev.maxTimeout() + time.Second)
	for prev.active.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	s.closeRemoved(removed)
	for _, r := range removed {
		s.log.Info("reload: replica removed", "replica_set", r.Set, "replica", r.Name)
	}
}

// serveReload is admin POST /reload: 200 with the new route count, or 400 with the
// same problems `gateway validate` prints.
func (s *Server) serveReload(w http.ResponseWriter, r *http.Request) {
	if s.source == "" {
		writeFailure(w, "", refuse(refuseBadRequest, "the running config was not read from a file; nothing to reload"))
		return
	}
	if err := s.Reload(s.source); err != nil {
		writeFailure(w, "", &edgeError{kind: refuseBadRequest, msg: "reload refused; the running config stays",
			problems: problemLines(err)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"reloaded": true, "routes": len(s.Config().Routes)})
}

// problemLines splits a config error into the lines `gateway validate` prints.
func problemLines(err error) []string {
	var problems config.Problems
	if errors.As(err, &problems) {
		out := make([]string, len(problems))
		for i, p := range problems {
			out[i] = p.String()
		}
		return out
	}
	return []string{err.Error()}
}
