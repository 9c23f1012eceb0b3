package grafana

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

func TestCommittedJSONIsTheGeneratedDashboard(t *testing.T) {
	committed, err := os.ReadFile("hedgegate.json")
	if err != nil {
		t.Fatal(err)
	}
	generated, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, generated) {
		t.Error("hedgegate.json differs from dashboard.go: run go generate ./grafana/ and commit the file")
	}
}

// The panel and query kinds the dashboard uses, registered so that the strict decoder
// checks their options and queries too (registering every kind the SDK knows would
// compile forty packages for three).
var panelKinds = map[string]bool{"row": true, "timeseries": true, "stat": true}

func registerVariants() {
	rt := cog.NewRuntime()
	rt.RegisterPanelcfgVariant(timeseries.VariantConfig())
	rt.RegisterPanelcfgVariant(stat.VariantConfig())
	rt.RegisterDataqueryVariant(prometheus.VariantConfig())
}

// The file decodes strictly as Grafana's dashboard model (the foundation SDK's
// types, with the panel and query variants it uses): no unknown or mistyped field.
func TestDashboardDecodesStrictlyAsGrafanasModel(t *testing.T) {
	registerVariants()
	b, err := os.ReadFile("hedgegate.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard.Dashboard
	if err := strict(d.UnmarshalJSONStrict(b)); err != nil {
		t.Fatal(err)
	}
	var kinds struct {
		Panels []struct {
			Type string `json:"type"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &kinds); err != nil {
		t.Fatal(err)
	}
	for _, p := range kinds.Panels {
		if !panelKinds[p.Type] {
			t.Errorf("panel kind %q is not registered for strict decoding", p.Type)
		}
	}
	if d.Uid == nil || *d.Uid != UID {
		t.Errorf("uid %v, want %s", d.Uid, UID)
	}
	// A mistyped field is refused: the check above can fail.
	bad := bytes.Replace(b, []byte(`"refresh": "30s"`), []byte(`"refresh": 30`), 1)
	if err := strict(new(dashboard.Dashboard).UnmarshalJSONStrict(bad)); err == nil {
		t.Error("a numeric refresh decoded")
	}
}

// strict undoes a quirk of the SDK: its strict decoder returns an empty
// cog.BuildErrors, a non-nil error interface, when it found nothing wrong.
func strict(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

func TestEveryPanelQueriesTheChosenPrometheus(t *testing.T) {
	b, err := os.ReadFile("hedgegate.json")
	if err != nil {
		t.Fatal(err)
	}
	exprs, err := Exprs(b)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Datasource struct {
					UID string `json:"uid"`
				} `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	ids := map[int]string{}
	panels := 0
	for _, p := range d.Panels {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		panels++
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q queries %q, not the dashboard's Prometheus variable", p.Title, p.Datasource.UID)
		}
		for _, tg := range p.Targets {
			if tg.Datasource.UID != "${datasource}" {
				t.Errorf("a target of %q queries %q", p.Title, tg.Datasource.UID)
			}
		}
	}
	if len(exprs) != panels {
		t.Errorf("%d panels with queries, %d panels (titles must be unique)", len(exprs), panels)
	}
	for title, es := range exprs {
		for _, e := range es {
			if !strings.Contains(e, `instance=~"$instance"`) {
				t.Errorf("panel %q: %s ignores the gateway selector", title, e)
			}
		}
	}
}
