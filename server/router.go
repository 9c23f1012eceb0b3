package server

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/hedgegate/hedgegate/config"
	"github.com/hedgegate/hedgegate/replicas"
)

// routeGroup is the routes chi serves from one node of its tree: the same pattern,
// or patterns chi does not tell apart (/kv/{key} and /kv/{id}, {n:[0-9]+} and
// {n:^[0-9]+$}). One handler serves the group and picks the route by method.
type routeGroup struct {
	pattern string // the first route's match: what is registered with chi
	routes  []int  // indexes into cfg.Routes, in config order
}

// CheckRoutes compiles cfg's routes exactly as serve and reload do, and returns what
// the router refuses: a pattern chi cannot compile, or two routes that land on the same
// chi route with a method in common (one of them would never serve). Each problem
// names the file, line and field path. gateway validate calls it after config.Load.
func CheckRoutes(cfg *config.Config) config.Problems {
	groups, probs := groupRoutes(cfg)
	if len(probs) > 0 {
		return probs
	}
	_, probs = newRouter(cfg, groups, func(routeGroup) http.Handler { return http.NotFoundHandler() })
	return probs
}

// groupRoutes asks chi itself which patterns it treats as one route: patterns are
// inserted one by one into a scratch router, and one that takes over an earlier
// pattern's node (the node's pattern changes instead of a route being added) joins
// that pattern's group. Each pattern is also compiled alone first, so that every bad
// pattern is reported, not only the first.
func groupRoutes(cfg *config.Config) ([]routeGroup, config.Problems) {
	var probs config.Problems
	var groups []routeGroup
	byPattern := map[string]int{} // pattern a chi node holds now → index in groups
	probe := chi.NewRouter()
	for i, rc := range cfg.Routes {
		if rc == nil {
			continue
		}
		path := "routes[" + strconv.Itoa(i) + "].match"
		if g, ok := byPattern[rc.Match]; ok {
			groups[g].routes = append(groups[g].routes, i)
			continue
		}
		if msg := tryHandle(chi.NewRouter(), rc.Match); msg != "" {
			probs = append(probs, problem(cfg, path, "%q: the router refuses it: %s", rc.Match, msg))
			continue
		}
		if msg := tryHandle(probe, rc.Match); msg != "" {
			probs = append(probs, problem(cfg, path, "%q: the router refuses it beside the routes before it: %s", rc.Match, msg))
			continue
		}
		present := map[string]bool{}
		for _, r := range probe.Routes() {
			present[r.Pattern] = true
		}
		g := -1
		for p, idx := range byPattern {
			if !present[p] {
				g = idx
				delete(byPattern, p)
				break
			}
		}
		if g < 0 {
			g = len(groups)
			groups = append(groups, routeGroup{pattern: rc.Match})
		}
		groups[g].routes = append(groups[g].routes, i)
		byPattern[rc.Match] = g
	}
	for _, g := range groups {
		probs = append(probs, methodClashes(cfg, g)...)
	}
	return groups, probs
}

// methodClashes reports routes of one group that share a method with an earlier one.
func methodClashes(cfg *config.Config, g routeGroup) config.Problems {
	var probs config.Problems
	owner := map[string]int{}
	for _, i := range g.routes {
		rc := cfg.Routes[i]
		for _, m := range rc.Methods {
			j, taken := owner[m]
			if !taken {
				owner[m] = i
				continue
			}
			first := "routes[" + strconv.Itoa(j) + "].match"
			same := "is"
			if cfg.Routes[j].Match != rc.Match {
				same = "routes the same requests as"
			}
			probs = append(probs, problem(cfg, "routes["+strconv.Itoa(i)+"].match",
				"%q %s %s %q%s, which already serves %s: one of the two would never serve",
				rc.Match, same, first, cfg.Routes[j].Match, lineNote(cfg, first), m))
			break
		}
	}
	return probs
}

func lineNote(cfg *config.Config, path string) string {
	if l := cfg.Line(path); l > 0 {
		return " (line " + strconv.Itoa(l) + ")"
	}
	return ""
}

// newRouter registers one handler per group. chi panics on patterns it cannot
// compile; a panic here becomes a problem, so a reload refuses the config instead of
// taking the process down.
func newRouter(cfg *config.Config, groups []routeGroup, handler func(routeGroup) http.Handler) (*chi.Mux, config.Problems) {
	router := chi.NewRouter()
	router.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeFailure(w, "", refuse(refuseNotFound, "no route matches "+r.URL.Path))
	})
	router.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeFailure(w, "", refuse(refuseMethod, "method "+r.Method+" is not allowed"))
	})
	var probs config.Problems
	for _, g := range groups {
		if msg := tryHandleWith(router, g.pattern, handler(g)); msg != "" {
			path := "routes[" + strconv.Itoa(g.routes[0]) + "].match"
			probs = append(probs, problem(cfg, path, "%q: the router refuses it: %s", g.pattern, msg))
		}
	}
	return router, probs
}

func tryHandle(r *chi.Mux, pattern string) string {
	return tryHandleWith(r, pattern, http.NotFoundHandler())
}

// tryHandleWith registers h at pattern and returns chi's panic message, "" if none.
func tryHandleWith(r *chi.Mux, pattern string, h http.Handler) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg = strings.TrimPrefix(fmt.Sprint(p), "chi: ")
		}
	}()
	r.Handle(pattern, h)
	return ""
}

func problem(cfg *config.Config, path, format string, args ...any) config.Problem {
	return config.Problem{File: cfg.Source, Line: cfg.Line(path), Path: path, Message: fmt.Sprintf(format, args...)}
}

// routerFor builds the router serving st.routes (compiled from st.cfg.Routes, in order).
// chi routes by pattern, not by method: routes of one group (GET on one, POST on
// another) get one handler that dispatches on the method.
func (s *Server) routerFor(st *state) (http.Handler, error) {
	cfg, routes := st.cfg, st.routes
	groups, probs := groupRoutes(cfg)
	if len(probs) > 0 {
		return nil, probs
	}
	router, probs := newRouter(cfg, groups, func(g routeGroup) http.Handler {
		members := make([]*route, len(g.routes))
		for k, i := range g.routes {
			members[k] = routes[i]
		}
		return s.matchHandler(members, st)
	})
	if len(probs) > 0 {
		return nil, probs
	}
	// The gateway's router also counts what no route answered, as every edge refusal is.
	router.NotFound(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.observeUnrouted(writeFailure(w, "", refuse(refuseNotFound, "no route matches "+r.URL.Path)), start)
	})
	router.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.observeUnrouted(writeFailure(w, "", refuse(refuseMethod, "method "+r.Method+" is not allowed")), start)
	})
	return router, nil
}

// buildSafely is build that never panics: whatever a config makes a dependency do
// (chi on a pattern it cannot compile, say), start-up and reload refuse the config
// and the process stays up.
func (s *Server) buildSafely(cfg *config.Config, prev *state, found map[string][]config.Replica) (st *state, removed []*replicas.Replica, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("building the config panicked; refused", "panic", p, "stack", string(debug.Stack()))
			st, removed, err = nil, nil, fmt.Errorf("building the config failed: %v", p)
		}
	}()
	return s.build(cfg, prev, found)
}
