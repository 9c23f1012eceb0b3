package config

import (
	"strings"
	"testing"
)

func TestDebugPprof(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want bool
	}{
		{"absent: off", base, false},
		{"on", "debug: {pprof: true}\n" + base, true},
		{"explicitly off", "debug:\n  pprof: false\n" + base, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), "t.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if c.Debug.Pprof != tc.want {
				t.Errorf("debug.pprof = %v, want %v", c.Debug.Pprof, tc.want)
			}
		})
	}
}

func TestDebugPprofRejectsWhatIsNotABoolOrAKey(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"debug: {pprof: yes please}\n", "t.yaml:1: debug.pprof:"},
		{"debug: {prof: true}\n", `t.yaml:1: debug.prof: unknown key "prof"`},
	} {
		_, err := Parse([]byte(tc.yaml+base), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to contain %q", tc.yaml, err, tc.want)
		}
	}
}
