package sim

import (
	"io"
	"net/http"
)

// controlRoutes mounts the control endpoint on the data listener, so one port
// is one replica. These handlers never look at the mode: a hung or refusing
// replica can always be inspected and healed.
//
//	GET      /_sim/profile   current profile
//	PUT/POST /_sim/profile   JSON patch: only the fields given change
//	POST     /_sim/hang      mode=hang
//	POST     /_sim/refuse    mode=refuse
//	POST     /_sim/normal    mode=normal
//	POST     /_sim/bump      fresh versions +1 (for every replica sharing the epoch)
//	GET      /_sim/stats     Stats
func (r *Replica) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sim/profile", func(w http.ResponseWriter, _ *http.Request) {
		r.writeJSON(w, http.StatusOK, r.Profile())
	})
	patch := func(w http.ResponseWriter, req *http.Request) {
		b, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
		if err != nil {
			r.writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		p, err := r.updateProfile(func(p *Profile) error { return p.applyPatch(b) })
		if err != nil {
			r.writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		r.writeJSON(w, http.StatusOK, p)
	}
	mux.HandleFunc("PUT /_sim/profile", patch)
	mux.HandleFunc("POST /_sim/profile", patch)
	for path, mode := range map[string]string{
		"POST /_sim/hang":   ModeHang,
		"POST /_sim/refuse": ModeRefuse,
		"POST /_sim/normal": ModeNormal,
	} {
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {
			p, _ := r.updateProfile(func(p *Profile) error { p.Mode = mode; return nil })
			r.writeJSON(w, http.StatusOK, p)
		})
	}
	mux.HandleFunc("POST /_sim/bump", func(w http.ResponseWriter, _ *http.Request) {
		r.writeJSON(w, http.StatusOK, map[string]int64{"epoch": r.Bump()})
	})
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, _ *http.Request) {
		r.writeJSON(w, http.StatusOK, r.Stats())
	})
}
