package server

import "net/http"

// serveAdvisor is /debug/advisor: not built yet.
func (s *Server) serveAdvisor(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotImplemented, errorBody{Error: "advisor not built yet"})
}
