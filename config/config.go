package config

// Route returns the route named name, or nil.
func (c *Config) Route(name string) *Route {
	for _, r := range c.Routes {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Line returns the line of the key at a field path such as "routes[0].hedge.percentile"
// or "replica_sets.kv.replicas[1].url" (a list element's path gives the element's
// line), or 0 when the key was not in the file (a default) or c was not parsed.
// Useful to point a runtime complaint, such as a replica that never warms up, at
// the config line responsible.
func (c *Config) Line(path string) int {
	if path == "" {
		return 0
	}
	return c.lines[path]
}

// DiscoveryPath is the field path of set's discovery section, as problems name it
// (replica_sets.kv.discovery; a name with dots is quoted).
func DiscoveryPath(set string) string {
	return joinKey(joinKey("replica_sets", set), "discovery")
}
