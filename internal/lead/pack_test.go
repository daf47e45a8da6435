package lead

import (
	"bytes"
	"math"
	"reflect"
	"testing"
	"time"
)

// TestPackRoundTrip: what packContribs writes, unpackContribs reads back
// exactly (the event's ID, type and name are not stored), fractional,
// negative and whole points and times before the one before them
// included, and equal contributions in any order pack to the same bytes.
func TestPackRoundTrip(t *testing.T) {
	fitAt := time.Date(2026, 11, 12, 8, 0, 0, 0, time.UTC)
	at := time.Date(2026, 11, 2, 9, 30, 15, 123456000, time.UTC)
	cs := []contribution{
		{ruleID: "pages", kind: "engagement", eventID: "e2", eventType: "page_view", eventName: "/a", points: 1.0 / 3, capped: true, at: at.Add(time.Hour), version: 3},
		{ruleID: "b2b", kind: "fit", points: 10, at: fitAt, version: 3},
		{ruleID: "downloads", kind: "engagement", eventID: "e1", eventType: "download", points: 15, at: at, version: 2},
		{ruleID: "a\\t", kind: "fit", points: -2.5, at: fitAt, version: 300},
		{ruleID: "pages", kind: "engagement", eventID: "e3", eventType: "page_view", points: 3, at: at.Add(time.Hour), version: 3},
		{ruleID: "old", kind: "engagement", eventID: "e0", eventType: "custom", points: 1e15, at: time.Date(1999, 1, 1, 0, 0, 0, 1000, time.UTC), version: 1},
	}
	want := []contribution{cs[1], cs[3], cs[5], cs[2], cs[0], cs[4]}
	sortContribs(cs)
	if !reflect.DeepEqual(cs, want) {
		t.Fatalf("canonical order:\n%+v\nwant\n%+v", cs, want)
	}
	packed := packContribs(cs)
	got, err := unpackContribs(packed, fitAt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i].eventID, want[i].eventType, want[i].eventName = "", "", ""
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip of %x:\n%+v\nwant\n%+v", packed, got, want)
	}
	again := []contribution{want[3], want[2], want[5], want[0], want[4], want[1]}
	sortContribs(again)
	if !bytes.Equal(packContribs(again), packed) {
		t.Fatal("the same contributions in another order pack differently")
	}
	if len(packed) > 1+6*20 {
		t.Errorf("%d bytes for six contributions", len(packed))
	}
	for n := 1; n < len(packed); n++ {
		if _, err := unpackContribs(packed[:n], fitAt); err == nil && n < len(packed)-1 {
			// A cut at an entry's end reads as fewer entries; anywhere
			// else it must be an error.
			if c, _ := unpackContribs(packed[:n], fitAt); len(c) == len(want) {
				t.Fatalf("a value cut at %d read as whole", n)
			}
		}
	}
	if c, err := unpackContribs(packContribs([]contribution{{ruleID: "x", kind: "engagement", points: math.Copysign(0, -1), at: at}}), fitAt); err != nil || !math.Signbit(c[0].points) {
		t.Fatalf("negative zero: %+v %v", c, err)
	}
}

// TestUnpackText: values written before migration 0029 are read as they
// are, text fields with tabs, line feeds and backslashes included.
func TestUnpackText(t *testing.T) {
	fitAt := time.Date(2026, 11, 12, 8, 0, 0, 0, time.UTC)
	at := time.Date(2026, 11, 2, 9, 30, 15, 123456000, time.UTC)
	text := "f\tb2b\t\t\t\t10\t0\t\t3\n" +
		"e\tdownloads\te1\tdownload\twhite\\tpaper\\nnew\\\\2026\t15\t0\t1793611815123456\t2\n" +
		"e\tpages\te2\tpage_view\t/a\t2.5\t1\t2026-11-02 10:30:15.123456+00:00\t3"
	got, err := unpackContribs([]byte(text), fitAt)
	if err != nil {
		t.Fatal(err)
	}
	want := []contribution{
		{ruleID: "b2b", kind: "fit", points: 10, at: fitAt, version: 3},
		{ruleID: "downloads", kind: "engagement", eventID: "e1", eventType: "download", eventName: "white\tpaper\nnew\\2026", points: 15, at: at, version: 2},
		{ruleID: "pages", kind: "engagement", eventID: "e2", eventType: "page_view", eventName: "/a", points: 2.5, capped: true, at: at.Add(time.Hour), version: 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("text form:\n%+v\nwant\n%+v", got, want)
	}
	if _, err := unpackContribs([]byte("e\tx\t1"), fitAt); err == nil {
		t.Fatal("a short line unpacked")
	}
}
