package consent

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/consentrecord"
)

func TestRecordIDIsStableAndAUUID(t *testing.T) {
	ws, c := "01a20d5b-dde8-705b-aa86-fd8ca662ea3c", "01a20d5b-de22-71a9-b914-44cdeba7a83d"
	a := RecordID(ws, c, "newsletter", "email", "idx1")
	if a != RecordID(strings.ToUpper(ws), c, "newsletter", "email", "idx1") {
		t.Error("ID depends on the case of the workspace ID")
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(a) {
		t.Errorf("%s is not a version 8 UUID", a)
	}
	for _, other := range []string{
		RecordID(ws, c, "newsletter", "sms", "idx1"), RecordID(ws, c, "newsletter", "email", "idx2"),
		RecordID(ws, c, "product_offers", "email", "idx1"), RecordID(c, ws, "newsletter", "email", "idx1"),
	} {
		if other == a {
			t.Errorf("different consents share the ID %s", a)
		}
	}
}

// TestBuildRecordMapsTheLedger covers the mapping rules that the ledger and
// ISO/IEC TS 27560 disagree on: inherited verification and notice, methods
// from the confirmation method, sources from the actor.
func TestBuildRecordMapsTheLedger(t *testing.T) {
	ws, c := "01a20d5b-dde8-705b-aa86-fd8ca662ea3c", "01a20d5b-de22-71a9-b914-44cdeba7a83d"
	hash := strings.Repeat("ab", 32)
	at := time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)
	pur := DefaultCatalog()[0] // newsletter
	evs := []Event{
		{Kind: KindConsentRequested, Purpose: pur.Key, Channels: []string{"sms"}, OccurredAt: at, Details: Details{Verification: "sms_doi"},
			Evidence: Evidence{Source: "token:t1", Actor: "token:t1", NoticeHash: hash}},
		{Kind: KindConsentConfirmed, Purpose: pur.Key, Channels: []string{"sms"}, OccurredAt: at.Add(time.Minute),
			Evidence: Evidence{Source: "form:landing", Actor: "system"}},
		{Kind: KindConsentWithdrawn, Purpose: pur.Key, Channels: []string{"sms"}, OccurredAt: at.Add(time.Hour),
			Evidence: Evidence{Source: "user:u1", Actor: "user:u1", ConfirmationMethod: "signature"}},
	}
	rec := buildRecord(ws, c, "sms", "idx", pur, evs, map[string]string{hash: "de"}, DefaultRecordSettings("Beispiel GmbH", "https://leads.example.de/"))
	if len(rec.Problems) > 0 {
		t.Fatalf("problems: %v", rec.Problems)
	}
	in := rec.Input
	if rec.Status != consentrecord.StatusWithdrawn || in.Version != 3 || !in.CreatedAt.Equal(at) || !in.UpdatedAt.Equal(at.Add(time.Hour)) {
		t.Errorf("status %s, version %d, %v–%v", rec.Status, in.Version, in.CreatedAt, in.UpdatedAt)
	}
	e := in.Events
	if e[1].Method != consentrecord.MethodSMSDOI || e[1].Notice.SHA256 != hash || e[1].Notice.URL != "https://leads.example.de/p/notices/"+hash {
		t.Errorf("confirmation does not inherit method and notice: %+v", e[1])
	}
	if e[2].Method != consentrecord.MethodWritten || e[2].Source != (consentrecord.Source{Kind: "manual", ID: "user:u1"}) {
		t.Errorf("withdrawal: %+v", e[2])
	}
	if e[0].Source.Kind != "api_client" || e[1].Source != (consentrecord.Source{Kind: "form", ID: "landing"}) {
		t.Errorf("sources: %+v %+v", e[0].Source, e[1].Source)
	}
	var keys []string
	for _, d := range in.Purpose.DataCategories {
		keys = append(keys, d.Key)
	}
	if strings.Join(keys, ",") != "name,email,phone" {
		t.Errorf("data categories %v: the channel's contact point is missing", keys)
	}
	if _, err := consentrecord.Record(in); err != nil {
		t.Fatal(err)
	}

	// A withdrawal whose method the ledger does not know is a problem, not
	// a guess.
	evs[2].Evidence = Evidence{Source: "token:t1", Actor: "token:t1"}
	rec = buildRecord(ws, c, "sms", "idx", pur, evs, map[string]string{hash: "de"}, DefaultRecordSettings("Beispiel GmbH", "https://leads.example.de"))
	if len(rec.Problems) != 1 || !strings.Contains(rec.Problems[0], "events[2].method") {
		t.Errorf("problems: %v", rec.Problems)
	}
}
