package kubernetes

import (
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// GOMEMLIMIT is a soft target the Go runtime collects harder to stay under; the
// memory limit is where the kernel kills the pod, and it also counts what the runtime
// does not (the binary's pages, memory not yet returned to the OS). So the target
// must sit below the limit with room, and above the request, or the gateway would
// spend its CPU on collection at its normal footprint.
func TestGOMEMLIMITSitsBetweenTheRequestAndTheLimit(t *testing.T) {
	c := gateway(t, load(t))
	var env *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "GOMEMLIMIT" {
			env = &c.Env[i]
		}
	}
	if env == nil {
		t.Fatal("no GOMEMLIMIT in the gateway's environment")
	}
	if env.ValueFrom != nil || env.Value == "" {
		t.Fatalf("GOMEMLIMIT %+v: want a literal value below the limit (from limits.memory it is the limit itself)", env)
	}
	soft, err := goMemLimitBytes(env.Value)
	if err != nil {
		t.Fatal(err)
	}
	limit := c.Resources.Limits.Memory().Value()
	request := c.Resources.Requests.Memory().Value()
	if soft > limit-limit/10 {
		t.Errorf("GOMEMLIMIT %s = %d bytes leaves under 10%% of the %d-byte limit", env.Value, soft, limit)
	}
	if soft < request {
		t.Errorf("GOMEMLIMIT %s = %d bytes is below the %d-byte request", env.Value, soft, request)
	}
}

// goMemLimitBytes parses GOMEMLIMIT's syntax (runtime/debug.SetMemoryLimit): a
// number of bytes with an optional B, KiB, MiB, GiB or TiB suffix.
func goMemLimitBytes(s string) (int64, error) {
	mult := int64(1)
	for i, suffix := range []string{"TiB", "GiB", "MiB", "KiB", "B"} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = n, int64(1)<<(10*(4-i))
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

func TestGoMemLimitBytes(t *testing.T) {
	for in, want := range map[string]int64{"224MiB": 224 << 20, "1GiB": 1 << 30, "512": 512, "10B": 10, "3KiB": 3 << 10} {
		if got, err := goMemLimitBytes(in); err != nil || got != want {
			t.Errorf("goMemLimitBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := goMemLimitBytes("224Mi"); err == nil {
		t.Error(`"224Mi" (Kubernetes' syntax, not Go's) parsed`)
	}
}
