package memtune

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestPlan(t *testing.T) {
	const gib = 1 << 30
	tests := []struct {
		name      string
		env       map[string]string
		available uint64
		want      Setting
	}{
		{"nothing set", nil, 8 * gib, Setting{Percent: Percent, Limit: 4 * gib}},
		{"GOGC set by the operator", map[string]string{"GOGC": "50"}, 8 * gib, Setting{Percent: -1, Limit: 4 * gib}},
		{"GOMEMLIMIT set by the operator", map[string]string{"GOMEMLIMIT": "1GiB"}, 8 * gib, Setting{Percent: Percent}},
		{"both set", map[string]string{"GOGC": "off", "GOMEMLIMIT": "1GiB"}, 8 * gib, Setting{Percent: -1}},
		{"memory unknown", nil, 0, Setting{Percent: Percent}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Plan(func(k string) string { return tt.env[k] }, tt.available)
			if got != tt.want {
				t.Fatalf("Plan = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseMemTotal(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"MemTotal:       24576000 kB\nMemFree:        1 kB\n", 24576000 << 10},
		{"MemFree:        1 kB\nMemTotal: 1024 kB\n", 1 << 20},
		{"MemFree:        1 kB\n", 0},
		{"MemTotal: lots kB\n", 0},
		{"MemTotal: 99999999999999999 kB\n", 0},
		{"", 0},
	}
	for _, tt := range tests {
		if got := parseMemTotal([]byte(tt.in)); got != tt.want {
			t.Errorf("parseMemTotal(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestParseCgroupLimit(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"max\n", 0},
		{"536870912\n", 512 << 20},
		{"", 0},
		{"-1", 0},
	}
	for _, tt := range tests {
		if got := parseCgroupLimit([]byte(tt.in)); got != tt.want {
			t.Errorf("parseCgroupLimit(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestApplySetsTheCollector changes process-wide settings, so it does not
// run in parallel and puts them back.
func TestApplySetsTheCollector(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	prevPercent := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	})
	debug.SetMemoryLimit(math.MaxInt64)

	s := Apply()
	if got := debug.SetGCPercent(100); got != Percent || s.Percent != Percent {
		t.Fatalf("GC percent after Apply = %d (reported %d), want %d", got, s.Percent, Percent)
	}
	avail := Available()
	if avail == 0 {
		t.Fatal("Available() = 0: neither /proc/meminfo nor the cgroup limit could be read on Linux")
	}
	if got := debug.SetMemoryLimit(-1); got != int64(avail/2) || s.Limit != int64(avail/2) {
		t.Fatalf("memory limit after Apply = %d (reported %d), want %d", got, s.Limit, avail/2)
	}

	t.Setenv("GOGC", "100")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	if s := Apply(); s.Percent != -1 || s.Limit != 0 {
		t.Fatalf("Apply with GOGC and GOMEMLIMIT set = %+v, want both left alone", s)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GC percent with GOGC set = %d, want the operator's 100", got)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("memory limit with GOMEMLIMIT set = %d, want it untouched", got)
	}
}
