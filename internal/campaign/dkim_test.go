package campaign

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/fairlead/fairlead/internal/mail/smtptest"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// A campaign message signed with the configured key verifies with an
// independent DKIM implementation, covering the one-click unsubscribe
// fields; a changed body fails.
func TestDKIMSignatureVerifies(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := LoadDKIMSigner(path, "mail2026", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	lookup := func(domain string) ([]string, error) {
		if domain != "mail2026._domainkey.example.org" {
			t.Errorf("lookup of %s", domain)
		}
		return []string{"v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(pub)}, nil
	}
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, smtptest.Options{})
		f.svc.Signer = signer
		f.subscriber(1)
		camp := f.create(newsletter())
		f.schedule(camp)
		f.run(camp)
		m := f.smtp.WaitFor(t, 1, 5*time.Second)[0]
		vs, err := dkim.VerifyWithOptions(bytes.NewReader(m.Data), &dkim.VerifyOptions{LookupTXT: lookup})
		if err != nil || len(vs) != 1 {
			t.Fatalf("verify: %v, %d signatures", err, len(vs))
		}
		if vs[0].Err != nil || vs[0].Domain != "example.org" {
			t.Fatalf("signature: %+v", vs[0])
		}
		signed := strings.Join(vs[0].HeaderKeys, ":")
		for _, h := range []string{"from", "subject", "list-unsubscribe", "list-unsubscribe-post"} {
			if !strings.Contains(signed, h) {
				t.Fatalf("%s not signed: %s", h, signed)
			}
		}
		tampered := bytes.Replace(m.Data, []byte("Neuigkeiten"), []byte("Neuigkeitem"), 1)
		vs, err = dkim.VerifyWithOptions(bytes.NewReader(tampered), &dkim.VerifyOptions{LookupTXT: lookup})
		if err != nil || len(vs) != 1 || vs[0].Err == nil {
			t.Fatalf("tampered message verified: %v %+v", err, vs)
		}
	})
}

func TestDKIMKeyErrorsNameTheSetting(t *testing.T) {
	for _, c := range []struct{ key, sel, dom, want string }{
		{"nonsense", "s", "example.org", "FAIRLEAD_DKIM_KEY_FILE"},
		{"", "", "example.org", "FAIRLEAD_DKIM_SELECTOR"},
		{"", "s", "", "FAIRLEAD_DKIM_DOMAIN"},
	} {
		_, err := NewDKIMSigner([]byte(c.key), c.sel, c.dom)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q/%q/%q: %v, want naming %s", c.key, c.sel, c.dom, err, c.want)
		}
	}
}
