package keyring

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/workspace"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func testMaster() []byte { return bytes.Repeat([]byte{7}, KeySize) }

func TestSealOpenShred(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws, err := workspace.Create(ctx, db.W, "a", "A", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		other, _ := workspace.Create(ctx, db.W, "b", "B", time.Now())
		k, err := New(db, testMaster(), nil)
		if err != nil {
			t.Fatal(err)
		}
		c := id.New()
		if err := k.CreateKey(ctx, ws.ID, c); err != nil {
			t.Fatal(err)
		}
		if err := k.CreateKey(ctx, ws.ID, c); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second key: %v, want conflict", err)
		}
		sealed, err := k.Seal(ctx, ws.ID, c, []byte("Anna Muster"))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte("Anna")) {
			t.Fatal("plaintext visible in sealed value")
		}
		pt, err := k.Open(ctx, ws.ID, c, sealed)
		if err != nil || string(pt) != "Anna Muster" {
			t.Fatalf("open: %q %v", pt, err)
		}
		// Another workspace, another contact or another master key cannot open it.
		if _, err := k.Open(ctx, other.ID, c, sealed); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("open from another workspace: %v", err)
		}
		if _, err := k.Seal(ctx, other.ID, c, []byte("x")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("seal from another workspace: %v", err)
		}
		c2 := id.New()
		k.CreateKey(ctx, ws.ID, c2)
		if _, err := k.Open(ctx, ws.ID, c2, sealed); err == nil {
			t.Fatal("opened with another contact's key")
		}
		// A wrong master key does not even get a keyring on this database
		// (the stored derived keys do not open), nor open a contact key.
		if _, err := New(db, bytes.Repeat([]byte{8}, KeySize), nil); err == nil || !strings.Contains(err.Error(), "FAIRLEAD_MASTER_KEY") {
			t.Fatalf("wrong master key: %v", err)
		}
		k2 := *k
		k2.wraps = []wrapKey{mustWrapKey(t, bytes.Repeat([]byte{8}, KeySize))}
		if _, err := k2.Open(ctx, ws.ID, c, sealed); err == nil || !strings.Contains(err.Error(), "FAIRLEAD_MASTER_KEY") {
			t.Fatalf("wrong master key: %v", err)
		}
		// Shredding makes it unreadable for good.
		err = db.Tx(ctx, func(tx store.Tx) error { return k.Shred(ctx, tx, ws.ID, c) })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Open(ctx, ws.ID, c, sealed); !errors.Is(err, ErrShredded) {
			t.Fatalf("open after shred: %v", err)
		}
		if _, err := k.Seal(ctx, ws.ID, c, []byte("new")); !errors.Is(err, ErrShredded) {
			t.Fatalf("seal after shred: %v", err)
		}
		if err := k.Shred(ctx, db.W, other.ID, c2); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("shred from another workspace: %v", err)
		}
		if _, err := k.Open(ctx, ws.ID, c2, mustSeal(t, k, ws.ID, c2)); err != nil {
			t.Fatalf("other contact after failed foreign shred: %v", err)
		}
	})
}

func mustWrapKey(t *testing.T, m []byte) wrapKey {
	t.Helper()
	aead, err := newGCM(m)
	if err != nil {
		t.Fatal(err)
	}
	return wrapKey{id: KeyID(m), master: m, aead: aead}
}

func mustSeal(t *testing.T, k *Keyring, ws, c string) []byte {
	t.Helper()
	b, err := k.Seal(context.Background(), ws, c, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIndex(t *testing.T) {
	t.Parallel()
	k, _ := New(nil, testMaster(), nil)
	a := k.Index("email", "anna@example.com")
	if a != k.Index("email", "anna@example.com") || len(a) != 64 {
		t.Fatalf("index not stable hex: %s", a)
	}
	if a == k.Index("phone", "anna@example.com") || a == k.Index("email", "anne@example.com") {
		t.Fatal("index collides across kinds or values")
	}
	k2, _ := New(nil, bytes.Repeat([]byte{8}, KeySize), nil)
	if a == k2.Index("email", "anna@example.com") {
		t.Fatal("index does not depend on the master key")
	}
}

func TestLoadMasterKey(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	k1, err := LoadMasterKey("", dir, false)
	if err != nil || len(k1) != KeySize {
		t.Fatalf("create: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, MasterKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	k2, err := LoadMasterKey("", dir, false)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second start got another key: %v", err)
	}
	cfg := base64.StdEncoding.EncodeToString(testMaster())
	if k, err := LoadMasterKey(cfg, dir, true); err != nil || !bytes.Equal(k, testMaster()) {
		t.Fatalf("configured key: %v", err)
	}
	if _, err := LoadMasterKey("", dir, true); err == nil || !strings.Contains(err.Error(), "FAIRLEAD_MASTER_KEY") {
		t.Fatalf("PostgreSQL without key: %v", err)
	}
	if _, err := LoadMasterKey("c2hvcnQ=", dir, false); err == nil || !strings.Contains(err.Error(), "32 bytes") {
		t.Fatalf("short key: %v", err)
	}
	if _, err := LoadMasterKey("not base64!", dir, false); err == nil || !strings.Contains(err.Error(), "FAIRLEAD_MASTER_KEY") {
		t.Fatalf("bad key: %v", err)
	}
}

func TestMACAndSecrets(t *testing.T) {
	t.Parallel()
	k, _ := New(nil, testMaster(), nil)
	k2, _ := New(nil, bytes.Repeat([]byte{8}, KeySize), nil)
	m := k.MAC("doi", []byte("abc"))
	if !bytes.Equal(m, k.MAC("doi", []byte("abc"))) || len(m) != 32 {
		t.Fatal("MAC not stable")
	}
	if bytes.Equal(m, k.MAC("unsubscribe", []byte("abc"))) || bytes.Equal(m, k2.MAC("doi", []byte("abc"))) {
		t.Fatal("MAC does not separate domains or master keys")
	}
	if bytes.Equal(m, []byte(k.Index("doi", "abc"))) {
		t.Fatal("MAC key equals the index key")
	}
	const ws = "01900000-0000-7000-8000-000000000001"
	sealed, err := k.SealSecret(ws, "smtp_url", []byte("smtp://u:p@h:587"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("smtp://")) {
		t.Fatal("secret stored in clear")
	}
	if got, err := k.OpenSecret(ws, "smtp_url", sealed); err != nil || string(got) != "smtp://u:p@h:587" {
		t.Fatalf("open: %q %v", got, err)
	}
	for name, open := range map[string]func() ([]byte, error){
		"other workspace": func() ([]byte, error) {
			return k.OpenSecret("01900000-0000-7000-8000-000000000002", "smtp_url", sealed)
		},
		"other label":      func() ([]byte, error) { return k.OpenSecret(ws, "sms_url", sealed) },
		"other master key": func() ([]byte, error) { return k2.OpenSecret(ws, "smtp_url", sealed) },
		"truncated":        func() ([]byte, error) { return k.OpenSecret(ws, "smtp_url", sealed[:5]) },
	} {
		if _, err := open(); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}
