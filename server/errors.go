package server

import (
	"encoding/json"
	"net/http"

	"github.com/hedgegate/hedgegate/hedge"
)

// errorBody is the JSON every gateway-made error answer carries (DESIGN.md).
type errorBody struct {
	Error    string                `json:"error"`
	Route    string                `json:"route,omitempty"`
	Attempts []hedge.AttemptReport `json:"attempts,omitempty"`
}

func writeError(w http.ResponseWriter, status int, body errorBody) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(body) // the client may be gone; nothing useful to do with the error
}
