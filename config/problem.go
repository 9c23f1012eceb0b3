package config

import (
	"strconv"
	"strings"
)

// Problem is one thing wrong with a config file, located by line and field path.
type Problem struct {
	// File is the config file's name; "" when the config was parsed from memory.
	File string
	// Line is the line of the offending key, or of the nearest enclosing key present
	// in the file when the key is missing. 0 when unknown.
	Line int
	// Path is the field path, such as routes[0].hedge.percentile or
	// replica_sets.kv.replicas[1].url; "" for problems with the file as a whole
	// (YAML syntax).
	Path string
	// Message says what is wrong, and where it helps, what is wanted.
	Message string
}

// String formats p as FILE:LINE: field.path: message, the shape editors and CI
// annotators recognise. Parts that are unknown are left out.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		b.WriteString(p.File + ":" + strconv.Itoa(p.Line) + ": ")
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		b.WriteString("line " + strconv.Itoa(p.Line) + ": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found in one config, in line order. Parse and Load
// return it as their error, so callers can list problems with errors.As.
type Problems []Problem

// Error returns one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
