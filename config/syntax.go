package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// parseYAML returns the single document's root node, nil for an empty file.
func parseYAML(data []byte, file string) (root *yaml.Node, p *Problem) {
	// The library turns its own failures into errors, but a parser bug on hostile
	// input must not take the gateway down during a reload.
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

// The v3 API reports a syntax error only as text, "yaml: line N: message", so its
// line is read from the text: the one place this package reads the library's
// messages. Two quirks of that text are corrected here. A parser (as opposed to
// scanner) error gives the 0-based line of the construct it was parsing; these are
// libyaml's parser messages, a fixed set:
var parserProblems = []string{
	"did not find expected ",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// And a scanner or parser error on the first line carries no "line N:" at all, while
// these errors carry no position because they have none (reader and anchor errors):
var lineless = []string{
	"control characters", "expected low surrogate", "incomplete UTF-", "input error",
	"invalid Unicode", "invalid leading UTF-8", "invalid length of a UTF-8",
	"invalid trailing UTF-8", "unexpected low surrogate", "unknown anchor",
	"anchor ", "document contains excessive aliasing",
}

var yamlLine = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

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
