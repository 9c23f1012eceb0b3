package server

import (
	"fmt"

	"github.com/hedgegate/hedgegate/config"
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
		return err
	}
	s.metrics.reloads.WithLabelValues("ok").Inc()
	s.metrics.reloadError.Set(0)
	s.log.Info("config reloaded", "file", path, "routes", len(cfg.Routes))
	return nil
}

func (s *Server) swap(cfg *config.Config) error {
	prev := s.state.Load()
	if cfg.Listen != prev.cfg.Listen || cfg.AdminListen != prev.cfg.AdminListen {
		return fmt.Errorf("listen and admin_listen cannot change on reload (restart the gateway)")
	}
	st, err := s.build(cfg, prev)
	if err != nil {
		return err
	}
	s.state.Store(st)
	for name, set := range prev.sets {
		if st.sets[name] != set {
			// Requests still in flight keep their connections; idle ones go now.
			set.Close()
		}
	}
	return nil
}
