//go:build !linux

package finesleep

import (
	"errors"
	"os"
	"time"
)

func openTimerfd() (fd int, f *os.File, ok bool) { return 0, nil, false }

func setTimerfd(int, time.Duration) error { return errors.New("finesleep: no timerfd") }
