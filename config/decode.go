package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"sort"

	"go.yaml.in/yaml/v3"
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
//
// The decoding is the YAML library's: values, aliases and merge keys, with
// known-fields checking. One walk of the node tree (walk.go) learns where every key
// is and which keys were given, so that defaults fill only the absent ones, and
// says what is wrong, where, in this package's words; the library's own messages
// are shown only for a problem the walk did not explain.
func Parse(data []byte, filename string) (c *Config, err error) {
	// A bug of the library's or ours on a hostile file must refuse the file, not take
	// a reloading gateway down.
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, Problems{{File: filename, Message: fmt.Sprintf("config: decoding failed: %v", r)}}
		}
	}()
	root, syntax := parseYAML(data, filename)
	if syntax != nil {
		return nil, Problems{*syntax}
	}
	w := newWalker(filename)
	c = &Config{Source: filename}
	w.lines[""] = 1
	if root != nil {
		w.lines[""] = root.Line
		if p := tooLarge(root, filename); p != nil {
			return nil, Problems{*p}
		}
		w.walk(&root, reflect.TypeFor[Config](), "")
		if len(w.probs) == 0 {
			// The strict decode, from the file itself.
			if err := decodeStrict(data, c); err != nil {
				w.probs = libraryProblems(filename, err)
			}
		} else {
			// The file is refused; decode what the walk left of it, only so that
			// validation reports the other problems too.
			w.prune(root, map[*yaml.Node]bool{})
			c = &Config{Source: filename}
			decodeRest(root, c)
		}
	}
	fillEmpty(c)
	applyDefaults(c, func(path string) bool { return w.set[path] && !w.bad[path] })
	c.lines = w.lines
	probs := append(w.probs, validate(c, w.lines, w.bad)...)
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Line < probs[j].Line })
		return nil, probs
	}
	return c, nil
}

// decodeStrict decodes data into c with the library, unknown keys being errors.
func decodeStrict(data []byte, c *Config) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: decoder failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	return dec.Decode(c)
}

// decodeRest decodes the pruned tree of a refused file, for validation only: its
// errors, if any, add nothing the walk has not said.
func decodeRest(root *yaml.Node, c *Config) {
	defer func() { _ = recover() }()
	_ = root.Decode(c)
}

// libraryProblems shows the library's own messages, for a problem the walk did not
// explain (the walk covers every rule the library has, so this is a safety net).
func libraryProblems(file string, err error) Problems {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return Problems{{File: file, Message: err.Error()}}
	}
	out := make(Problems, len(te.Errors))
	for i, e := range te.Errors {
		out[i] = Problem{File: file, Message: "yaml: " + e}
	}
	return out
}

// fillEmpty turns null list and map entries (routes: [~], a set written "kv:") into
// empty ones, so validation names what they lack rather than that they are empty.
func fillEmpty(c *Config) {
	for name, rs := range c.ReplicaSets {
		if rs == nil {
			c.ReplicaSets[name] = &ReplicaSet{}
		}
	}
	for i, r := range c.Routes {
		if r == nil {
			c.Routes[i] = &Route{}
		}
	}
}

// maxSteps bounds the nodes of a document with its aliases expanded, so a small file
// of nested aliases cannot make decoding exponential.
const maxSteps = 1 << 18

// maxMappingEntries bounds the entries of one mapping: the library checks a
// mapping's keys for duplicates pairwise, so 20000 replica sets took it 10s.
const maxMappingEntries = 1024

// tooLarge reports a document whose alias expansion exceeds maxSteps nodes, at the
// top-level key where the count passes it, or with a mapping of more than
// maxMappingEntries entries. It counts each node once (memo), so the count itself is
// linear in the file.
func tooLarge(root *yaml.Node, file string) *Problem {
	memo := map[*yaml.Node]int{}
	if expandedSize(root, memo) <= maxSteps {
		var first *Problem // the earliest in the file, whatever the map order
		for n := range memo {
			if n.Kind == yaml.MappingNode && len(n.Content)/2 > maxMappingEntries && (first == nil || n.Line < first.Line) {
				first = &Problem{File: file, Line: n.Line,
					Message: fmt.Sprintf("a mapping of more than %d entries", maxMappingEntries)}
			}
		}
		return first
	}
	p := &Problem{File: file, Line: root.Line,
		Message: fmt.Sprintf("too many nodes after alias expansion (more than %d)", maxSteps)}
	total := 1
	for i := 0; root.Kind == yaml.MappingNode && i+1 < len(root.Content); i += 2 {
		total += expandedSize(root.Content[i], memo) + expandedSize(root.Content[i+1], memo)
		if total > maxSteps {
			p.Line, p.Path = root.Content[i].Line, joinKey("", root.Content[i].Value)
			break
		}
	}
	return p
}

func expandedSize(n *yaml.Node, memo map[*yaml.Node]int) int {
	if size, ok := memo[n]; ok {
		return size
	}
	memo[n] = maxSteps + 1 // a node reached again while being counted is a cycle
	size := 1
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		size += expandedSize(n.Alias, memo)
	}
	for _, c := range n.Content {
		if size += expandedSize(c, memo); size > maxSteps {
			break
		}
	}
	size = min(size, maxSteps+1)
	memo[n] = size
	return size
}
