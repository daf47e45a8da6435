package keyring

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/workspace"
)

func TestSealTextOpensAndShreds(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, store.SQLite)
	ctx := context.Background()
	ws, err := workspace.Create(ctx, db.W, "t", "T", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	k, err := New(db, testMaster(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := id.New()
	if err := k.CreateKey(ctx, ws.ID, c); err != nil {
		t.Fatal(err)
	}
	s, err := k.SealText(ctx, ws.ID, c, "Rückruf bei Frau Muster")
	if err != nil || !strings.HasPrefix(s, TextPrefix) || strings.Contains(s, "Muster") {
		t.Fatalf("sealed text %q: %v", s, err)
	}
	if e, _ := k.SealText(ctx, ws.ID, c, ""); e != "" {
		t.Fatalf("empty text sealed to %q", e)
	}
	op, err := k.Opener(ctx, ws.ID, c)
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{s: "Rückruf bei Frau Muster", "written before sealing": "written before sealing", "": ""} {
		if got, err := op.OpenText(in); err != nil || got != want {
			t.Errorf("OpenText(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := op.OpenText(TextPrefix + "not base64!"); err == nil {
		t.Error("malformed sealed text opened")
	}
	if _, err := op.OpenText(TextPrefix + s[len(TextPrefix)+2:]); err == nil {
		t.Error("damaged sealed text opened")
	}
	var shredded *Opener
	if got, err := shredded.OpenText(s); err != nil || got != "" {
		t.Fatalf("shredded opener: %q %v", got, err)
	}
}
