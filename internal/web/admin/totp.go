package admin

import (
	"bytes"
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// TOTP holds the second factors of users (RFC 6238: SHA-1, 6 digits, 30 s,
// which every authenticator app understands).
//
// The shared secrets are sealed with the keyring's workspace-secret key:
// unlike a password hash, a TOTP secret must be read back to check a code,
// so a copy of the database alone would otherwise hand out every second
// factor. The seal is bound to workspace and user, so a sealed secret moved
// to another user's row does not open.
type TOTP struct {
	db     *store.DB
	keys   *keyring.Keyring
	now    func() time.Time
	Issuer string
}

const totpPeriod = 30

// sealedPrefix marks a sealed secret in admin_totp.secret; a value without
// it is a plain base32 secret written before secrets were sealed, which is
// sealed at its next accepted code.
const sealedPrefix = "sealed:v1:"

// NewTOTP works on db and seals the secrets with keys.
func NewTOTP(db *store.DB, keys *keyring.Keyring, issuer string, now func() time.Time) *TOTP {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	if issuer == "" {
		issuer = "fairlead"
	}
	return &TOTP{db: db, keys: keys, now: now, Issuer: issuer}
}

func totpLabel(userID string) string { return "admin_totp\x00" + strings.ToLower(userID) }

func (t *TOTP) seal(ws, userID, secret string) (string, error) {
	b, err := t.keys.SealSecret(ws, totpLabel(userID), []byte(secret))
	if err != nil {
		return "", fmt.Errorf("seal totp secret: %w", err)
	}
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(b), nil
}

// open returns the secret and whether it was stored plain.
func (t *TOTP) open(ws, userID, stored string) (string, bool, error) {
	rest, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return stored, true, nil
	}
	b, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil {
		return "", false, errors.New("admin: malformed sealed totp secret")
	}
	pt, err := t.keys.OpenSecret(ws, totpLabel(userID), b)
	if err != nil {
		return "", false, err
	}
	return string(pt), false, nil
}

// Enrolment is what a user needs to set up an authenticator app.
type Enrolment struct {
	Secret string       // base32, for typing in
	URI    string       // otpauth:// URI, also shown as text
	QR     template.URL // data: URI of a PNG QR code of URI (made here, safe to embed)
}

// Enrol makes a new, not yet active secret for a user (replacing one that
// was never activated). An active factor stays until the new one is
// activated with a code.
func (t *TOTP) Enrol(ctx context.Context, ws, userID, account string) (Enrolment, error) {
	if err := userIn(ctx, t.db.R, ws, userID); err != nil {
		return Enrolment{}, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: t.Issuer, AccountName: account, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrolment{}, err
	}
	now := t.now()
	// A pending secret lives in the same row as the active one would: an
	// active factor is kept apart by refusing to overwrite it here.
	var active sql.NullTime
	err = t.db.R.QueryRowContext(ctx, `SELECT activated_at FROM admin_totp WHERE workspace_id = $1 AND user_id = $2`, ws, userID).Scan(&active)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Enrolment{}, err
	}
	if active.Valid {
		return Enrolment{}, &validate.Error{Field: "totp", Code: "active", Message: "a second factor is already active; remove it first"}
	}
	sealed, err := t.seal(ws, userID, key.Secret())
	if err != nil {
		return Enrolment{}, err
	}
	if _, err := t.db.W.ExecContext(ctx, `INSERT INTO admin_totp (workspace_id, user_id, secret, created_at) VALUES ($1,$2,$3,$4)
		ON CONFLICT (workspace_id, user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0`,
		ws, userID, sealed, now); err != nil {
		return Enrolment{}, fmt.Errorf("store totp secret: %w", err)
	}
	e := Enrolment{Secret: key.Secret(), URI: key.URL()}
	if img, err := key.Image(200, 200); err == nil {
		var b bytes.Buffer
		if png.Encode(&b, img) == nil {
			e.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes()))
		}
	}
	return e, nil
}

// Active reports whether a user has an activated second factor.
func (t *TOTP) Active(ctx context.Context, ws, userID string) (bool, error) {
	if err := userIn(ctx, t.db.R, ws, userID); err != nil {
		return false, err
	}
	var active sql.NullTime
	err := t.db.R.QueryRowContext(ctx, `SELECT activated_at FROM admin_totp WHERE workspace_id = $1 AND user_id = $2`, ws, userID).Scan(&active)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return active.Valid, err
}

// errBadCode is the one answer to a wrong, reused or missing code.
var errBadCode = &validate.Error{Field: "code", Code: "invalid", Message: "the code is wrong or was already used; enter the current code from your app"}

// Verify checks a code against the user's secret (the current step, or one
// step before or after for clock drift) and accepts each step once. With
// activate it turns a pending secret into the active factor; otherwise the
// factor must be active.
func (t *TOTP) Verify(ctx context.Context, ws, userID, code string, activate bool) error {
	if err := userIn(ctx, t.db.R, ws, userID); err != nil {
		return err
	}
	if len(code) != 6 {
		return errBadCode
	}
	return t.db.Tx(ctx, func(tx store.Tx) error {
		var stored string
		var lastStep int64
		var active sql.NullTime
		err := tx.QueryRowContext(ctx, `SELECT secret, last_step, activated_at FROM admin_totp WHERE workspace_id = $1 AND user_id = $2`, ws, userID).
			Scan(&stored, &lastStep, &active)
		if errors.Is(err, sql.ErrNoRows) {
			return errBadCode
		}
		if err != nil {
			return err
		}
		secret, plain, err := t.open(ws, userID, stored)
		if err != nil {
			return err
		}
		if active.Valid == activate {
			return errBadCode
		}
		now := t.now()
		step := now.Unix() / totpPeriod
		matched := int64(-1)
		for _, s := range []int64{step - 1, step, step + 1} {
			want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err != nil {
				return err
			}
			if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
				matched = s
			}
		}
		if matched < 0 || matched <= lastStep {
			return errBadCode
		}
		if plain {
			if stored, err = t.seal(ws, userID, secret); err != nil {
				return err
			}
		}
		if activate {
			_, err = tx.ExecContext(ctx, `UPDATE admin_totp SET last_step = $3, activated_at = $4, secret = $5 WHERE workspace_id = $1 AND user_id = $2`, ws, userID, matched, now, stored)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE admin_totp SET last_step = $3, secret = $4 WHERE workspace_id = $1 AND user_id = $2`, ws, userID, matched, stored)
		}
		return err
	})
}

// Remove deletes a user's second factor.
func (t *TOTP) Remove(ctx context.Context, ws, userID string) error {
	if err := userIn(ctx, t.db.R, ws, userID); err != nil {
		return err
	}
	_, err := t.db.W.ExecContext(ctx, `DELETE FROM admin_totp WHERE workspace_id = $1 AND user_id = $2`, ws, userID)
	return err
}
