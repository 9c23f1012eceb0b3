package config

import (
	"regexp"
	"strconv"
	"strings"
)

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
