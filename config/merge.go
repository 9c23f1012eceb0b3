package config

import "go.yaml.in/yaml/v3"

// pair is one entry of a mapping: slot is where its value sits in the mapping that
// holds it (which may be a merged one), for the walk to replace a bad value.
type pair struct {
	key  *yaml.Node
	slot **yaml.Node
}

// pairs lists a mapping's entries with the entries its merge key ("<<: *defaults")
// supplies, in the library's precedence: keys written in the mapping win over merged
// ones, earlier merges over later ones. The walk needs them to know which keys a
// merge gave and on which line each is written; the values are the library's.
func (w *walker) pairs(n *yaml.Node, path string) []pair {
	return w.mergedPairs(n, path, 0, map[*yaml.Node]bool{n: true})
}

// mergedPairs is pairs for a mapping merged depth levels deep; seen holds the
// mappings already expanded, since merging one twice adds nothing.
func (w *walker) mergedPairs(n *yaml.Node, path string, depth int, seen map[*yaml.Node]bool) []pair {
	var own, merged []pair
	var mergeKey *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !isMergeKey(k) {
			own = append(own, pair{k, &n.Content[i+1]})
			continue
		}
		if mergeKey != nil {
			w.failPair(k, joinKey(path, "<<"), "duplicate key %q (first at line %d)", "<<", mergeKey.Line)
			continue
		}
		mergeKey = k
		merged = w.merge(k, v, path, depth, seen)
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

// isMergeKey is the library's test for a merge key: a "<<" that is not quoted or
// tagged as a string.
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}

func (w *walker) merge(k, v *yaml.Node, path string, depth int, seen map[*yaml.Node]bool) []pair {
	const maxDepth = 8
	if depth >= maxDepth {
		w.failPair(k, path, "merge keys nested more than %d deep", maxDepth)
		return nil
	}
	v = resolve(v)
	switch v.Kind {
	case yaml.MappingNode:
		if seen[v] {
			return nil
		}
		seen[v] = true
		return w.mergedPairs(v, path, depth+1, seen)
	case yaml.SequenceNode:
		var out []pair
		for _, e := range v.Content {
			if e = resolve(e); e.Kind != yaml.MappingNode {
				w.drop[k] = true
				w.fail(e.Line, path, "<< merges mappings, got %s", describe(e))
				continue
			}
			out = append(out, w.merge(k, e, path, depth, seen)...)
		}
		return out
	default:
		w.failPair(k, path, "<< merges a mapping or a list of mappings, got %s", describe(v))
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
