package config

// Default returns the configuration a file gets for every key it leaves out, around one
// replica set named set with n replicas (their names and URLs empty) and one route on it
// (its name and match empty). Package hedge builds plans from Go on it, so that a plan
// built in code and one read from a file share one set of defaults: those of
// defaults.go. Fill in the empty fields, change what differs, then Validate.
func Default(set string, n int) *Config {
	c := &Config{
		ReplicaSets: map[string]*ReplicaSet{set: {Replicas: make([]Replica, n)}},
		Routes:      []*Route{{ReplicaSet: set}},
	}
	applyDefaults(c, func(string) bool { return false })
	return c
}
