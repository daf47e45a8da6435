package lead

import (
	"reflect"
	"testing"
	"time"
)

// TestPackRoundTrip: what packContribs writes, unpackContribs reads back
// exactly, text fields with tabs, line feeds and backslashes included, and
// equal contributions in any order pack to the same text.
func TestPackRoundTrip(t *testing.T) {
	fitAt := time.Date(2026, 11, 12, 8, 0, 0, 0, time.UTC)
	at := time.Date(2026, 11, 2, 9, 30, 15, 123456000, time.UTC)
	cs := []contribution{
		{ruleID: "pages", kind: "engagement", eventID: "e2", eventType: "page_view", eventName: "/a\tb\nc\\d", points: 1.0 / 3, capped: true, at: at.Add(time.Hour), version: 3},
		{ruleID: "b2b", kind: "fit", points: 10, at: fitAt, version: 3},
		{ruleID: "downloads", kind: "engagement", eventID: "e1", eventType: "download", eventName: "", points: 15, at: at, version: 2},
		{ruleID: "a\\t", kind: "fit", points: -2.5, at: fitAt, version: 3},
	}
	want := []contribution{cs[1], cs[3], cs[2], cs[0]}
	sortContribs(cs)
	if !reflect.DeepEqual(cs, want) {
		t.Fatalf("canonical order:\n%+v\nwant\n%+v", cs, want)
	}
	text := packContribs(cs)
	got, err := unpackContribs(text, fitAt)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip of %q:\n%+v\nwant\n%+v", text, got, want)
	}
	again := []contribution{want[3], want[2], want[0], want[1]}
	sortContribs(again)
	if packContribs(again) != text {
		t.Fatal("the same contributions in another order pack differently")
	}
	if _, err := unpackContribs("e\tx\t1", fitAt); err == nil {
		t.Fatal("a short line unpacked")
	}
}
