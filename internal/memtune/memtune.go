// Package memtune sets the Go garbage collector for a server process: a
// higher GOGC than Go's default of 100, bounded by a soft memory limit.
//
// fairlead's hot paths (form submissions, imports, recomputes) allocate
// many short-lived objects around a small live heap, so with GOGC 100 the
// collector ran every few megabytes and took a tenth to a quarter of the
// CPU of a submission (docs/benchmarks.md, "The collector"). With GOGC
// 400 the heap may grow to five times what is live before a cycle; the
// soft limit (half the memory the process may use) makes the collector
// work harder again before that growth could crowd the machine. Operators
// keep the last word: GOGC and GOMEMLIMIT in the environment are Go's own
// settings and left alone.
package memtune

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Percent is the GOGC fairlead runs with unless GOGC is set.
const Percent = 400

// Setting is what Apply decided.
type Setting struct {
	// Percent is the GOGC in force after Apply; -1 = left to GOGC.
	Percent int
	// Limit is the soft memory limit set in bytes; 0 = left to GOMEMLIMIT
	// or none set because the memory available was unknown.
	Limit int64
}

// Plan decides the setting from the environment and the memory the
// process may use (0 = unknown); it changes nothing.
func Plan(getenv func(string) string, available uint64) Setting {
	s := Setting{Percent: -1}
	if getenv("GOGC") == "" {
		s.Percent = Percent
	}
	if getenv("GOMEMLIMIT") == "" && available > 0 {
		s.Limit = int64(available / 2)
	}
	return s
}

// Apply plans from the process's environment and memory and sets the
// collector accordingly.
func Apply() Setting {
	s := Plan(os.Getenv, Available())
	if s.Percent >= 0 {
		debug.SetGCPercent(s.Percent)
	}
	if s.Limit > 0 {
		debug.SetMemoryLimit(s.Limit)
	}
	return s
}

// Available is the memory this process may use: the machine's total,
// or its cgroup's limit when that is lower (containers); 0 when neither
// can be read.
func Available() uint64 {
	total := memTotal("/proc/meminfo")
	if lim := cgroupLimit("/sys/fs/cgroup/memory.max"); lim > 0 && (total == 0 || lim < total) {
		return lim
	}
	return total
}

// memTotal reads MemTotal from a meminfo file; 0 if unreadable.
func memTotal(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return parseMemTotal(b)
}

func parseMemTotal(b []byte) uint64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil || kb > 1<<44 {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// cgroupLimit reads a cgroup v2 memory.max; 0 for "max" or unreadable.
func cgroupLimit(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return parseCgroupLimit(b)
}

func parseCgroupLimit(b []byte) uint64 {
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return v
}
