package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Load reads, decodes, defaults and validates the config file at path. An unreadable
// file gives a plain error "PATH: reason" (errors.Is works with fs.ErrNotExist and
// friends); a readable but wrong file gives Problems.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// The PathError would repeat the path as "open PATH: ...".
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Parse(data, path)
}

// Parse decodes data strictly (unknown keys are errors), applies defaults to every
// key that is not given, and validates the whole config. filename names the file in
// problems and in Config.Source. On any problem it returns a nil Config and a
// Problems error listing all of them in line order.
func Parse(data []byte, filename string) (*Config, error) {
	root, syntax := parseYAML(data, filename)
	if syntax != nil {
		return nil, Problems{*syntax}
	}
	d := &decoder{
		file:  filename,
		lines: map[string]int{},
		set:   map[string]bool{},
		bad:   map[string]bool{},
	}
	c := &Config{Source: filename}
	d.lines[""] = 1
	if root != nil {
		d.lines[""] = root.Line
		d.decode(root, reflect.ValueOf(c).Elem(), "")
	}
	applyDefaults(c, func(path string) bool { return d.set[path] && !d.bad[path] })
	c.lines = d.lines
	probs := append(d.probs, validate(c, d.lines, d.bad)...)
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
		return nil, probs
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// parseYAML returns the single document's root node, nil for an empty file.
func parseYAML(data []byte, file string) (root *yaml.Node, p *Problem) {
	// yaml.v3 turns its own failures into errors, but a parser bug on hostile input
	// must not take the gateway down during a reload.
	defer func() {
		if r := recover(); r != nil {
			root, p = nil, &Problem{File: file, Message: fmt.Sprintf("yaml: parser failed: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxProblem(file, data, err)
	}
	// A second document would be silently ignored by yaml.Unmarshal.
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxProblem(file, data, err)
	case len(extra.Content) > 0 && !isNull(extra.Content[0]):
		return nil, &Problem{File: file, Line: extra.Content[0].Line,
			Message: "yaml: a second document; a config file holds one"}
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, nil
	}
	return doc.Content[0], nil
}

// yaml.v3 reports a parser (as opposed to scanner) error at the 0-based line of the
// construct it was parsing; these are its parser messages.
var parserProblems = []string{
	"did not find expected ",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// lineless are yaml.v3 errors that carry no position at all, as opposed to scanner
// and parser errors whose missing line means the first.
var lineless = []string{
	"control characters", "expected low surrogate", "incomplete UTF-", "input error",
	"invalid Unicode", "invalid leading UTF-8", "invalid length of a UTF-8",
	"invalid trailing UTF-8", "unexpected low surrogate", "unknown anchor",
	"anchor ", "document contains excessive aliasing",
}

func syntaxProblem(file string, data []byte, err error) *Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if hasAnyPrefix(msg, parserProblems) {
			line++
		}
	} else if !hasAnyPrefix(msg, lineless) {
		line = 1
	}
	if !utf8.Valid(data) {
		// The reader reports a byte offset it does not print; find the line here.
		for i := 0; i < len(data); {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n == 1 {
				line = 1 + bytes.Count(data[:i], []byte("\n"))
				break
			}
			i += n
		}
	}
	return &Problem{File: file, Line: line, Message: "yaml: " + msg}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// maxSteps bounds the nodes visited, aliases and merges expanded, so a small file of
// nested aliases cannot make decoding exponential.
const maxSteps = 1 << 18

// decoder walks the YAML node tree alongside the Go types, which yaml.v3 cannot do
// strictly for a Node (no KnownFields), and records where every key was.
type decoder struct {
	file  string
	lines map[string]int  // field path → line of its key (or list element)
	set   map[string]bool // keys given with a non-null value
	bad   map[string]bool // keys whose value could not be decoded
	probs Problems
	steps int
}

func (d *decoder) fail(line int, path, format string, args ...any) {
	d.bad[path] = true
	d.probs = append(d.probs, Problem{File: d.file, Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
}

func (d *decoder) step(n *yaml.Node, path string) bool {
	d.steps++
	if d.steps == maxSteps+1 {
		d.fail(n.Line, path, "too many nodes after alias expansion (more than %d)", maxSteps)
	}
	return d.steps <= maxSteps
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// decode fills the addressable v from n.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if !d.step(n, path) {
		return
	}
	n = resolve(n)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	if v.Addr().Type().Implements(unmarshalerType) {
		if isNull(n) {
			d.fail(n.Line, path, "no value (remove the key to use the default)")
			return
		}
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.fail(n.Line, path, "%s", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if !isNull(n) { // a section with every key commented out means all defaults
			d.structure(n, v, path)
		}
	case reflect.Map:
		if !isNull(n) {
			d.mapping(n, v, path)
		}
	case reflect.Slice:
		if isNull(n) {
			if v.Type().Elem().Kind() == reflect.String {
				// "on:" with nothing after it could mean none or default; make the
				// writer say which.
				d.fail(n.Line, path, "no value (write [] for an empty list, or remove the key to use the default)")
			}
			return
		}
		d.sequence(n, v, path)
	default:
		d.scalar(n, v, path)
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "want a mapping of settings, got %s", describe(n))
		return
	}
	fields, names := yamlFields(v.Type())
	for _, p := range d.keyed(n, path, "key") {
		name := p.key.Value
		fp := joinKey(path, name)
		idx, ok := fields[name]
		if !ok {
			msg := fmt.Sprintf("unknown key %q", name)
			if s := suggest(name, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.fail(p.key.Line, fp, "%s", msg)
			continue
		}
		d.lines[fp] = p.key.Line
		if !isNull(resolve(p.value)) {
			d.set[fp] = true
		}
		d.decode(p.value, v.Field(idx), fp)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "want a mapping of names, got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, p := range d.keyed(n, path, "name") {
		name := p.key.Value
		fp := joinKey(path, name)
		d.lines[fp] = p.key.Line
		d.set[fp] = true
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(p.value, elem, fp)
		v.SetMapIndex(reflect.ValueOf(name), elem)
	}
}

// keyed returns the mapping's pairs whose keys are strings given once, and reports
// the others; what names a key in messages ("key" of settings, "name" of entries).
func (d *decoder) keyed(n *yaml.Node, path, what string) []pair {
	var out []pair
	seen := map[string]int{}
	for _, p := range d.pairs(n, path) {
		if p.key.Kind != yaml.ScalarNode {
			d.fail(p.key.Line, path, "a %s must be a string, got %s", what, describe(p.key))
			continue
		}
		name := p.key.Value
		if first, dup := seen[name]; dup {
			d.fail(p.key.Line, joinKey(path, name), "duplicate key %q (first at line %d)", name, first)
			continue
		}
		seen[name] = p.key.Line
		out = append(out, p)
	}
	return out
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n.Line, path, "want a list, got %s", describe(n))
		return
	}
	// Never nil, even when empty: "on: []" differs from a missing "on".
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, e := range n.Content {
		fp := path + "[" + strconv.Itoa(i) + "]"
		d.lines[fp] = e.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(e, elem, fp)
		s = reflect.Append(s, elem)
	}
	v.Set(s)
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	var want string
	switch v.Kind() {
	case reflect.String:
		want = "a string"
	case reflect.Int, reflect.Int64:
		want = "an integer"
	case reflect.Float64:
		want = "a number"
	case reflect.Bool:
		want = "true or false"
	default:
		// Only reachable if types.go gains a field of a new kind.
		d.fail(n.Line, path, "internal: cannot decode into %s", v.Type())
		return
	}
	if isNull(n) {
		d.fail(n.Line, path, "no value (remove the key to use the default)")
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, path, "want %s, got %s", want, describe(n))
		return
	}
	if v.Kind() == reflect.String {
		v.SetString(n.Value)
		return
	}
	tmp := reflect.New(v.Type())
	if err := n.Decode(tmp.Interface()); err != nil {
		d.fail(n.Line, path, "want %s, got %q", want, n.Value)
		return
	}
	v.Set(tmp.Elem())
}

type pair struct{ key, value *yaml.Node }

// pairs lists a mapping's entries with YAML merge keys ("<<: *defaults") expanded:
// keys written in the mapping win over merged ones, and earlier merges win over
// later ones, as in yaml.v3's own decoder.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	return d.mergedPairs(n, path, 0, map[*yaml.Node]bool{n: true})
}

// mergedPairs is pairs for a mapping merged depth levels deep; seen holds the
// mappings already expanded, since merging one twice adds nothing and a file of
// nested merges could otherwise expand exponentially.
func (d *decoder) mergedPairs(n *yaml.Node, path string, depth int, seen map[*yaml.Node]bool) []pair {
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(k, v, path, depth, seen)...)
			continue
		}
		own = append(own, pair{k, v})
	}
	if len(merged) == 0 {
		return own
	}
	have := map[string]bool{}
	for _, p := range own {
		have[p.key.Value] = true
	}
	out := own
	for _, p := range merged {
		if !have[p.key.Value] {
			have[p.key.Value] = true
			out = append(out, p)
		}
	}
	return out
}

func (d *decoder) merge(k, v *yaml.Node, path string, depth int, seen map[*yaml.Node]bool) []pair {
	const maxDepth = 8
	if depth >= maxDepth {
		d.fail(k.Line, path, "merge keys nested more than %d deep", maxDepth)
		return nil
	}
	if !d.step(v, path) {
		return nil
	}
	v = resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		if seen[v] {
			return nil
		}
		seen[v] = true
		return d.mergedPairs(v, path, depth+1, seen)
	case yaml.SequenceNode:
		var out []pair
		for _, e := range v.Content {
			if e = resolve(e); e.Kind != yaml.MappingNode {
				d.fail(e.Line, path, "<< merges mappings, got %s", describe(e))
				continue
			}
			out = append(out, d.merge(k, e, path, depth, seen)...)
		}
		return out
	default:
		d.fail(k.Line, path, "<< merges a mapping or a list of mappings, got %s", describe(v))
		return nil
	}
}

// resolve follows an alias to its anchored node. An anchored node is never itself
// an alias, so one step suffices.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if len(n.Value) > 40 {
			return strconv.Quote(n.Value[:40] + "…")
		}
		return strconv.Quote(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// yamlFields maps a struct's yaml key names to field indexes; names keeps the
// declaration order so suggestions are deterministic.
func yamlFields(t reflect.Type) (map[string]int, []string) {
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = i
		names = append(names, name)
	}
	return fields, names
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// joinKey appends a key to a field path; keys that would make the path ambiguous
// (dots, brackets, spaces) are written as ["quoted"].
func joinKey(path, key string) string {
	if !plainKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// parentPath strips the last element of a field path built by joinKey or an index.
func parentPath(p string) string {
	switch {
	case strings.HasSuffix(p, `"]`):
		// A quoted key: any quote inside it is escaped, so `["` opens it.
		if i := strings.LastIndex(p, `["`); i >= 0 {
			return p[:i]
		}
	case strings.HasSuffix(p, "]"):
		if i := strings.LastIndex(p, "["); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}

// suggest returns the known key closest to name by edit distance, if within 2.
func suggest(name string, known []string) string {
	if len(name) > 64 {
		return ""
	}
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(name, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance over bytes (keys are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
