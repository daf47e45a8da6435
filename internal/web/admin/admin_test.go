package admin

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/letter"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/supplier"
	"github.com/fairlead/fairlead/internal/workspace"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// clock is a settable time for expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newUser(t *testing.T, db *store.DB) (string, string) {
	t.Helper()
	ctx := context.Background()
	ws, err := workspace.Create(ctx, db.W, "w", "W", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	u, err := auth.NewStore(db, nil).CreateUser(ctx, ws.ID, auth.NewUser{Email: "ann@example.com", Role: "marketing", Password: "a long password 1"})
	if err != nil {
		t.Fatal(err)
	}
	return ws.ID, u.ID
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws, uid := newUser(t, db)
		c := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
		ss := NewSessions(db, 30*time.Minute, 2*time.Hour, c.now)

		// Idle: a session used every 20 minutes lives; one left alone for
		// 30 minutes is gone.
		tok, err := ss.Create(ctx, ws, uid, "de", false)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			c.add(20 * time.Minute)
			s, err := ss.Lookup(ctx, tok)
			if err != nil {
				t.Fatalf("active session after %v: %v", c.now().Sub(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)), err)
			}
			if s.Role != auth.RoleMarketing || s.Lang != "de" || s.UserID != uid {
				t.Fatalf("session: %+v", s)
			}
		}
		// Absolute: at 2 h after the login it ends, however busy.
		c.add(20 * time.Minute)
		if _, err := ss.Lookup(ctx, tok); !errors.Is(err, ErrNoSession) {
			t.Fatalf("session past its absolute expiry: %v", err)
		}
		var n int
		if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM admin_sessions`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("expired session still stored: %d %v", n, err)
		}

		tok, err = ss.Create(ctx, ws, uid, "en", false)
		if err != nil {
			t.Fatal(err)
		}
		c.add(30 * time.Minute)
		if _, err := ss.Lookup(ctx, tok); !errors.Is(err, ErrNoSession) {
			t.Fatalf("session idle for 30 minutes: %v", err)
		}

		// Logout and a disabled user end a session at once.
		tok, _ = ss.Create(ctx, ws, uid, "en", false)
		s, err := ss.Lookup(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if err := ss.Delete(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := ss.Lookup(ctx, tok); !errors.Is(err, ErrNoSession) {
			t.Fatalf("session after logout: %v", err)
		}
		tok, _ = ss.Create(ctx, ws, uid, "en", false)
		dis := true
		if _, err := auth.NewStore(db, nil).UpdateUser(ctx, ws, uid, auth.UserUpdate{Disabled: &dis}); err != nil {
			t.Fatal(err)
		}
		if _, err := ss.Lookup(ctx, tok); !errors.Is(err, ErrNoSession) {
			t.Fatalf("session of a disabled user: %v", err)
		}
		if _, err := ss.Lookup(ctx, "not a token"); !errors.Is(err, ErrNoSession) {
			t.Fatalf("unknown token: %v", err)
		}
	})
}

func TestLockout(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
		th := NewThrottle(db, []byte("test key"), c.now)
		acct, ip := th.AccountSubject("demo", "Ann@Example.com"), th.IPSubject("192.0.2.7")
		if acct != th.AccountSubject("demo", "ann@example.com ") {
			t.Fatal("the account subject depends on case or spaces")
		}
		for i := range DefaultAccountLimit - 1 {
			if err := th.Check(ctx, acct, ip); err != nil {
				t.Fatalf("locked after %d failures: %v", i, err)
			}
			if err := th.Fail(ctx, acct, ip); err != nil {
				t.Fatal(err)
			}
		}
		if err := th.Check(ctx, acct, ip); err != nil {
			t.Fatalf("locked after %d failures: %v", DefaultAccountLimit-1, err)
		}
		if err := th.Fail(ctx, acct, ip); err != nil {
			t.Fatal(err)
		}
		var locked *ErrLocked
		if err := th.Check(ctx, acct, ip); !errors.As(err, &locked) || !locked.Until.Equal(c.now().Add(time.Minute)) {
			t.Fatalf("after %d failures: %v, want locked for a minute", DefaultAccountLimit, err)
		}
		// Another account from the same address is not locked yet.
		if err := th.Check(ctx, th.AccountSubject("demo", "bob@example.com"), ip); err != nil {
			t.Fatalf("another account: %v", err)
		}
		// Waiting out the lock allows one try; failing again doubles it.
		c.add(61 * time.Second)
		if err := th.Check(ctx, acct, ip); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
		if err := th.Fail(ctx, acct, ip); err != nil {
			t.Fatal(err)
		}
		if err := th.Check(ctx, acct); !errors.As(err, &locked) || !locked.Until.Equal(c.now().Add(2*time.Minute)) {
			t.Fatalf("after the next failure: %v, want locked for two minutes", err)
		}
		// A good login clears the account, not the address's count.
		if err := th.Succeed(ctx, acct); err != nil {
			t.Fatal(err)
		}
		if err := th.Check(ctx, acct); err != nil {
			t.Fatalf("after a good login: %v", err)
		}
		// No e-mail address or IP address is stored.
		rows, err := db.R.QueryContext(ctx, `SELECT subject FROM admin_login_failures`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			_ = rows.Scan(&s)
			if len(s) < 64 || containsAny(s, "ann", "example", "192.0.2.7") {
				t.Errorf("subject %q looks like personal data", s)
			}
		}
	})
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

func TestTOTPEnrolAndVerify(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws, uid := newUser(t, db)
		c := &clock{t: time.Date(2026, 3, 2, 9, 0, 5, 0, time.UTC)}
		tf := NewTOTP(db, testKeys(t, db), "fairlead", c.now)
		e, err := tf.Enrol(ctx, ws, uid, "ann@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if e.Secret == "" || e.QR == "" || !containsAny(e.URI, "otpauth://totp/fairlead:ann@example.com") || !containsAny(e.URI, "secret="+e.Secret) {
			t.Fatalf("enrolment: %+v", e)
		}
		if on, err := tf.Active(ctx, ws, uid); err != nil || on {
			t.Fatalf("active before a code: %v %v", on, err)
		}
		// A pending factor does not log in.
		code, _ := totp.GenerateCode(e.Secret, c.now())
		if err := tf.Verify(ctx, ws, uid, code, false); err == nil {
			t.Fatal("a pending factor logged in")
		}
		if err := tf.Verify(ctx, ws, uid, "000000", true); err == nil && code != "000000" {
			t.Fatal("a wrong code activated")
		}
		if err := tf.Verify(ctx, ws, uid, code, true); err != nil {
			t.Fatalf("activate: %v", err)
		}
		if on, _ := tf.Active(ctx, ws, uid); !on {
			t.Fatal("not active after the code")
		}
		// The same code (same time step) is accepted once only.
		if err := tf.Verify(ctx, ws, uid, code, false); err == nil {
			t.Fatal("a used code was accepted again")
		}
		c.add(30 * time.Second)
		next, _ := totp.GenerateCode(e.Secret, c.now())
		if err := tf.Verify(ctx, ws, uid, next, false); err != nil {
			t.Fatalf("login with the next code: %v", err)
		}
		// A code two steps old is refused (drift allows one step).
		c.add(90 * time.Second)
		old, _ := totp.GenerateCode(e.Secret, c.now().Add(-60*time.Second))
		if old != next {
			if err := tf.Verify(ctx, ws, uid, old, false); err == nil {
				t.Fatal("a code two steps old was accepted")
			}
		}
		// Enrolling again is refused while the factor is active.
		if _, err := tf.Enrol(ctx, ws, uid, "ann@example.com"); err == nil {
			t.Fatal("re-enrolled over an active factor")
		}
		if err := tf.Remove(ctx, ws, uid); err != nil {
			t.Fatal(err)
		}
		if on, _ := tf.Active(ctx, ws, uid); on {
			t.Fatal("active after removal")
		}
	})
}

func testKeys(t *testing.T, db *store.DB) *keyring.Keyring {
	t.Helper()
	k, err := keyring.New(db, []byte(strings.Repeat("k", keyring.KeySize)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestTOTPSecretSealed: the secret is stored sealed, not as the base32 an
// authenticator app is given; a sealed secret copied onto another user's
// row does not open; a plain secret stored before sealing still logs in
// and is sealed by that login.
func TestTOTPSecretSealed(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws, uid := newUser(t, db)
		c := &clock{t: time.Date(2026, 3, 2, 9, 0, 5, 0, time.UTC)}
		tf := NewTOTP(db, testKeys(t, db), "fairlead", c.now)
		raw := func(user string) string {
			t.Helper()
			var s string
			if err := db.R.QueryRowContext(ctx, `SELECT secret FROM admin_totp WHERE workspace_id = $1 AND user_id = $2`, ws, user).Scan(&s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		e, err := tf.Enrol(ctx, ws, uid, "ann@example.com")
		if err != nil {
			t.Fatal(err)
		}
		stored := raw(uid)
		if strings.Contains(strings.ToUpper(stored), e.Secret) || strings.Contains(stored, e.Secret[:8]) || !strings.HasPrefix(stored, sealedPrefix) {
			t.Fatalf("the column holds the secret %s readably: %q", e.Secret, stored)
		}
		code, _ := totp.GenerateCode(e.Secret, c.now())
		if err := tf.Verify(ctx, ws, uid, code, true); err != nil {
			t.Fatalf("activate with the sealed secret: %v", err)
		}

		// Another user of the workspace with the first one's sealed secret.
		u2, err := auth.NewStore(db, nil).CreateUser(ctx, ws, auth.NewUser{Email: "bob@example.com", Role: "sales", Password: "a long password 2"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.W.ExecContext(ctx, `INSERT INTO admin_totp (workspace_id, user_id, secret, created_at) VALUES ($1,$2,$3,$4)`, ws, u2.ID, raw(uid), c.now()); err != nil {
			t.Fatal(err)
		}
		c.add(30 * time.Second)
		code, _ = totp.GenerateCode(e.Secret, c.now())
		if err := tf.Verify(ctx, ws, u2.ID, code, true); err == nil || errors.Is(err, errBadCode) {
			t.Fatalf("a sealed secret moved to another user: %v, want it not to open", err)
		}

		// A plain secret from before: it logs in once and is sealed then.
		if _, err := db.W.ExecContext(ctx, `UPDATE admin_totp SET secret = $3 WHERE workspace_id = $1 AND user_id = $2`, ws, u2.ID, e.Secret); err != nil {
			t.Fatal(err)
		}
		if err := tf.Verify(ctx, ws, u2.ID, code, true); err != nil {
			t.Fatalf("a plain secret stored before sealing: %v", err)
		}
		if s := raw(u2.ID); !strings.HasPrefix(s, sealedPrefix) || strings.Contains(s, e.Secret) {
			t.Fatalf("the plain secret was not sealed at its login: %q", s)
		}
		c.add(30 * time.Second)
		code, _ = totp.GenerateCode(e.Secret, c.now())
		if err := tf.Verify(ctx, ws, u2.ID, code, false); err != nil {
			t.Fatalf("login after sealing: %v", err)
		}
	})
}

func TestSecureFor(t *testing.T) {
	for _, c := range []struct {
		addr, pub string
		want      bool
	}{
		{"127.0.0.1:8080", "http://127.0.0.1:8080", false},
		{"localhost:8080", "", false},
		{"[::1]:8080", "http://localhost:8080", false},
		{"127.0.0.1:8080", "https://leads.example.com", true},
		{"0.0.0.0:8080", "http://leads.example.com", true},
		{":8080", "", true},
		{"192.0.2.1:80", "", true},
	} {
		if got := SecureFor(c.addr, c.pub); got != c.want {
			t.Errorf("SecureFor(%q, %q) = %v, want %v", c.addr, c.pub, got, c.want)
		}
	}
}

// TestLeftOutInWords: every reason a batch leaves a contact out for, besides
// the engine's, is said in words in both languages, with its code.
func TestLeftOutInWords(t *testing.T) {
	for _, code := range []string{supplier.ReasonAddressDoesNotFit, supplier.ReasonNoPostalAddress, supplier.ReasonErased, "letter_invalid",
		letter.CodeDoesNotFit, letter.CodeUnsupportedCharacter, "required", "invalid_value", "marketing_objection", "supplier_notice_missing"} {
		en, de := leftOutText(code, "en"), leftOutText(code, "de")
		if en == code || de == code || en == de || !strings.HasSuffix(en, "("+code+")") || !strings.HasSuffix(de, "("+code+")") {
			t.Errorf("%s: %q / %q", code, en, de)
		}
	}
}
