package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// walker goes once over the node tree alongside the Go types the library decodes it
// into. It sets no value: it records where every key is, which keys were given, and
// what is wrong, with field paths and this package's messages. It follows aliases
// and merge keys only to find the keys they supply and the lines those are written
// on, with the library's precedence (keys written in a mapping win over merged ones,
// earlier merges over later ones).
//
// When it finds a problem it also takes the offending part out of the tree (prune
// drops a key; a value it cannot use is replaced by an empty one), so that the
// library can still decode the rest and validation can report every other problem
// of the file in the same pass, as if the bad parts were absent.
type walker struct {
	file  string
	lines map[string]int      // field path → line of its key (or list element)
	set   map[string]bool     // keys given with a non-null value
	bad   map[string]bool     // keys whose value cannot be decoded
	drop  map[*yaml.Node]bool // keys (of pairs) to take out of their mapping
	probs Problems
}

func newWalker(file string) *walker {
	return &walker{file: file, lines: map[string]int{}, set: map[string]bool{}, bad: map[string]bool{},
		drop: map[*yaml.Node]bool{}}
}

func (w *walker) fail(line int, path, format string, args ...any) {
	w.bad[path] = true
	w.probs = append(w.probs, Problem{File: w.file, Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
}

// failPair reports a pair that cannot stay, and drops it.
func (w *walker) failPair(key *yaml.Node, path, format string, args ...any) {
	w.drop[key] = true
	w.fail(key.Line, path, format, args...)
}

// failValue reports the value at slot and puts an empty one of type t in its place.
func (w *walker) failValue(slot **yaml.Node, t reflect.Type, path, format string, args ...any) {
	w.fail((*slot).Line, path, format, args...)
	*slot = emptyNode(t, (*slot).Line)
}

// emptyNode decodes to t's zero value, or to an empty struct, map or pointer to one.
func emptyNode(t reflect.Type, line int) *yaml.Node {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
	case t.Kind() == reflect.Struct || t.Kind() == reflect.Map:
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: line}
	case t.Kind() == reflect.String:
		// A null would make the library drop a list element, moving the later ones.
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Line: line}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null", Line: line}
}

// prune takes the dropped pairs out of every mapping reachable from n, once the walk,
// which holds pointers into the mappings' contents, is done.
func (w *walker) prune(n *yaml.Node, seen map[*yaml.Node]bool) {
	if seen[n] {
		return
	}
	seen[n] = true
	if n.Alias != nil {
		w.prune(n.Alias, seen)
	}
	if n.Kind == yaml.MappingNode && len(w.drop) > 0 {
		kept := n.Content[:0:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			if !w.drop[n.Content[i]] {
				kept = append(kept, n.Content[i], n.Content[i+1])
			}
		}
		n.Content = kept
	}
	for _, c := range n.Content {
		w.prune(c, seen)
	}
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// walk checks the node at slot as the library will decode it into a value of type t.
func (w *walker) walk(slot **yaml.Node, t reflect.Type, path string) {
	n := resolve(*slot)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		w.custom(slot, n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if !isNull(n) { // a section with every key commented out means all defaults
			w.structure(slot, n, t, path)
		}
	case reflect.Map:
		if !isNull(n) {
			w.mapping(slot, n, t, path)
		}
	case reflect.Slice:
		if isNull(n) {
			if t.Elem().Kind() == reflect.String {
				// "on:" with nothing after it could mean none or default; make the
				// writer say which.
				w.fail(n.Line, path, "no value (write [] for an empty list, or remove the key to use the default)")
			}
			return
		}
		w.sequence(slot, n, t, path)
	default:
		w.scalar(slot, n, t, path)
	}
}

// custom checks a value of a type with its own UnmarshalYAML (durations) by running
// it: its error is the message.
func (w *walker) custom(slot **yaml.Node, n *yaml.Node, t reflect.Type, path string) {
	if isNull(n) {
		w.fail(n.Line, path, "no value (remove the key to use the default)")
		return
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		msg := err.Error()
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msg = strings.Join(te.Errors, "; ")
		}
		w.failValue(slot, t, path, "%s", msg)
	}
}

func (w *walker) structure(slot **yaml.Node, n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		w.failValue(slot, t, path, "want a mapping of settings, got %s", describe(n))
		return
	}
	fields, names := yamlFields(t)
	for _, p := range w.keyed(n, path, "key") {
		name := p.key.Value
		fp := joinKey(path, name)
		idx, ok := fields[name]
		if !ok {
			msg := fmt.Sprintf("unknown key %q", name)
			if s := suggest(name, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			w.failPair(p.key, fp, "%s", msg)
			continue
		}
		w.lines[fp] = p.key.Line
		if !isNull(resolve(*p.slot)) {
			w.set[fp] = true
		}
		w.walk(p.slot, t.Field(idx).Type, fp)
	}
}

func (w *walker) mapping(slot **yaml.Node, n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		w.failValue(slot, t, path, "want a mapping of names, got %s", describe(n))
		return
	}
	for _, p := range w.keyed(n, path, "name") {
		fp := joinKey(path, p.key.Value)
		w.lines[fp] = p.key.Line
		w.set[fp] = true
		if isNull(resolve(*p.slot)) {
			// "kv:" alone: an entry with nothing set, as the old decoder took it.
			*p.slot = emptyNode(t.Elem(), p.key.Line)
		}
		w.walk(p.slot, t.Elem(), fp)
	}
}

// keyed returns the mapping's pairs whose keys are strings given once, and reports
// the others; what names a key in messages ("key" of settings, "name" of entries).
func (w *walker) keyed(n *yaml.Node, path, what string) []pair {
	var out []pair
	seen := map[string]int{}
	for _, p := range w.pairs(n, path) {
		switch {
		case p.key.Kind != yaml.ScalarNode:
			w.failPair(p.key, path, "a %s must be a string, got %s", what, describe(p.key))
			continue
		case what == "name" && (isNull(p.key) || p.key.ShortTag() == "!!binary"):
			// The library drops a null name and decodes a binary one: either way the
			// entry would not be the one written.
			w.failPair(p.key, path, "a %s must be a string, got %s", what, p.key.ShortTag())
			continue
		}
		name := p.key.Value
		if first, dup := seen[name]; dup {
			w.failPair(p.key, joinKey(path, name), "duplicate key %q (first at line %d)", name, first)
			continue
		}
		seen[name] = p.key.Line
		out = append(out, p)
	}
	return out
}

func (w *walker) sequence(slot **yaml.Node, n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.SequenceNode {
		w.failValue(slot, t, path, "want a list, got %s", describe(n))
		return
	}
	for i, e := range n.Content {
		fp := path + "[" + strconv.Itoa(i) + "]"
		w.lines[fp] = e.Line
		if isNull(resolve(e)) && t.Elem().Kind() == reflect.Pointer {
			// "- ~" in routes: an empty route, as the old decoder took it.
			n.Content[i] = emptyNode(t.Elem(), e.Line)
		}
		w.walk(&n.Content[i], t.Elem(), fp)
	}
}

// scalar checks that the library can decode n into t, by asking it.
func (w *walker) scalar(slot **yaml.Node, n *yaml.Node, t reflect.Type, path string) {
	var want string
	switch t.Kind() {
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
		w.fail(n.Line, path, "internal: cannot decode into %s", t)
		return
	}
	switch {
	case isNull(n):
		w.failValue(slot, t, path, "no value (remove the key to use the default)")
	case n.Kind != yaml.ScalarNode:
		w.failValue(slot, t, path, "want %s, got %s", want, describe(n))
	case n.Decode(reflect.New(t).Interface()) != nil:
		w.failValue(slot, t, path, "want %s, got %q", want, n.Value)
	}
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
