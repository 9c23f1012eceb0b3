package config

import (
	"math"
	"slices"
)

func (v *validator) log(l *Log) {
	if levels := []string{LogDebug, LogInfo, LogWarn, LogError}; !slices.Contains(levels, l.Level) {
		v.add("log.level", "%q: want debug, info, warn or error", l.Level)
	}
	if l.Format != LogJSON && l.Format != LogText {
		v.add("log.format", "%q: want json or text", l.Format)
	}
	// Not 0: an access log that logs nothing is enabled: false, said plainly.
	if s := l.Access.Sample; math.IsNaN(s) || s <= 0 || s > 1 {
		v.add("log.access.sample", "must be in (0,1], got %v (to log no request, set log.access.enabled: false)", s)
	}
}
