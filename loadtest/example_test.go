package loadtest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hedgegate/hedgegate/loadtest"
)

// Run a short open-loop test, then report it as text, JSON or HTML.
func ExampleRun() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "value of "+r.URL.Path)
	}))
	defer srv.Close()

	res, err := loadtest.Run(context.Background(), loadtest.Options{
		URL:      srv.URL + "/kv/{key}",
		Keys:     100,
		KeyDist:  loadtest.KeyZipf,
		Rate:     200,
		Duration: 100 * time.Millisecond,
		Name:     "direct",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	s := res.Summary()
	fmt.Println(s.Requests, "requests,", s.OK, "ok, codes", s.Codes)
	// loadtest.WriteText(os.Stdout, s) prints the full report;
	// loadtest.WriteHTML(f, "title", []loadtest.NamedSummary{{Name: s.Name, Summary: s}}) charts it.

	// Output: 20 requests, 20 ok, codes map[200:20]
}
