package config

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDocsShowTheDefaults reads the key tables of docs/config.md and checks each
// default written there against what Parse fills in: defaults.go is the one source,
// and the reference cannot drift from it unnoticed.
func TestDocsShowTheDefaults(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte(`replica_sets:
  kv: {replicas: [{name: r1, url: "http://127.0.0.1:1"}]}
  kd: {discovery: {dns: "kd.test.:1"}}
routes:
  - {name: a, match: /a, replica_set: kv}
`), "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(out, &tree); err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile("^#+ (?:`([^`]+)`|Top level)")
	row := regexp.MustCompile("^\\| `([a-z_.]+)` \\| `([^`]*)`")
	prefix, checked := "", 0
	for i, line := range strings.Split(string(doc), "\n") {
		if m := heading.FindStringSubmatch(line); m != nil {
			// A discovery set's keys are read off set kd, the others off kv.
			prefix = strings.NewReplacer("NAME.discovery", "kd.discovery", "NAME", "kv", "[i]", "[0]").Replace(m[1])
			if prefix != "" {
				prefix += "."
			}
			continue
		}
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		path := prefix + m[1]
		got, ok := lookup(tree, path)
		if !ok {
			t.Errorf("docs/config.md:%d: %s is not a key of the config", i+1, path)
			continue
		}
		want := m[2]
		if want == `""` {
			want = ""
		}
		if got != want {
			t.Errorf("docs/config.md:%d: %s default is %q in the docs, %q in defaults.go", i+1, path, want, got)
		}
		checked++
	}
	if checked < 30 {
		t.Errorf("checked only %d defaults: has the table layout of docs/config.md changed?", checked)
	}
}

// lookup formats the value at a field path such as routes[0].hedge.percentile as the
// docs write it: scalars as YAML writes them, lists as [a, b].
func lookup(tree map[string]any, path string) (string, bool) {
	var v any = tree
	for _, part := range strings.Split(path, ".") {
		name, index, indexed := strings.Cut(strings.TrimSuffix(part, "]"), "[")
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = m[name]; !ok {
			return "", false
		}
		if indexed {
			list, _ := v.([]any)
			n, _ := strconv.Atoi(index)
			if n >= len(list) {
				return "", false
			}
			v = list[n]
		}
	}
	if list, ok := v.([]any); ok {
		items := make([]string, len(list))
		for i, e := range list {
			items[i] = fmt.Sprint(e)
		}
		return "[" + strings.Join(items, ", ") + "]", true
	}
	return fmt.Sprint(v), true
}
