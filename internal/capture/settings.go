package capture

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Settings are a workspace's choices for its public pages and messages.
// Zero values fall back to the server's defaults (Defaults).
type Settings struct {
	// Imprint is the Impressum (UWG §5a, DDG §5) per language, put into the
	// footer of every message fairlead builds.
	Imprint map[string]string `json:"imprint"`
	// PublicURL is the base of every link in messages, e.g.
	// https://leads.example.com; empty = FAIRLEAD_PUBLIC_URL.
	PublicURL string `json:"public_url"`
	// MailFrom is the sender address; empty = FAIRLEAD_MAIL_FROM.
	MailFrom     string `json:"mail_from"`
	MailFromName string `json:"mail_from_name"`
	// DOIDays is the lifetime of a confirmation link (default 7).
	DOIDays int `json:"doi_days"`
	// PreferencesDays is the lifetime of a preference-center link (default 30).
	PreferencesDays int `json:"preferences_days"`
	// SMSCodeMinutes is the lifetime of an SMS code (default 15).
	SMSCodeMinutes int `json:"sms_code_minutes"`
	// RecordIP keeps the IP address in the evidence of sign-ups and
	// confirmations (sealed). Off by default: time, method and user agent
	// prove the double opt-in; the IP address is extra personal data.
	RecordIP bool `json:"record_ip"`
	// ConfiguredSMTP and ConfiguredSMS say whether the workspace has its own
	// gateway; the URLs themselves are secrets and never read back.
	ConfiguredSMTP bool `json:"smtp_configured"`
	ConfiguredSMS  bool `json:"sms_configured"`
}

// Secrets are the workspace's own gateway URLs with credentials, sealed
// under the master key. Empty = the server's FAIRLEAD_SMTP_URL / FAIRLEAD_SMS_URL.
type Secrets struct {
	SMTPURL string `json:"smtp_url,omitempty"`
	SMSURL  string `json:"sms_url,omitempty"`
}

// Defaults are the server-wide settings from configuration.
type Defaults struct {
	PublicURL string
	MailFrom  string
	SMTPURL   string
	SMSURL    string
}

// Effective are the settings in force for a workspace: its own over the defaults.
type Effective struct {
	Settings
	SMTPURL string
	SMSURL  string
}

const (
	defaultDOIDays         = 7
	defaultPreferencesDays = 30
	defaultSMSCodeMinutes  = 15
)

// SettingsStore reads and writes workspace settings.
type SettingsStore struct {
	db       *store.DB
	keys     *keyring.Keyring
	defaults Defaults
	now      func() time.Time

	// decoded keeps, per workspace, the last settings row read and what
	// it decoded to (*decodedSettings). The row is still read every time —
	// another process may have changed it — but the same bytes are not
	// decoded and their secrets not opened again.
	decoded sync.Map
	// changes counts the Updates of this store, so that what was read
	// before one (Service.PublicForm's cache) is not used after it.
	changes atomic.Uint64
}

type decodedSettings struct {
	js     string
	sealed []byte
	st     Settings
	sec    Secrets
}

// NewSettingsStore works on db.
func NewSettingsStore(db *store.DB, keys *keyring.Keyring, d Defaults, now func() time.Time) *SettingsStore {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &SettingsStore{db: db, keys: keys, defaults: d, now: now}
}

// Get returns the workspace's own settings (without secrets).
func (s *SettingsStore) Get(ctx context.Context, ws string) (Settings, error) {
	st, _, err := s.read(ctx, s.db.R, ws)
	return st, err
}

func (s *SettingsStore) read(ctx context.Context, q store.Querier, ws string) (Settings, Secrets, error) {
	var st Settings
	var sec Secrets
	if !id.Valid(ws) {
		return st, sec, store.ErrNotFound
	}
	var js string
	var sealed []byte
	err := q.QueryRowContext(ctx, `SELECT settings, secrets FROM workspace_settings WHERE workspace_id = $1`, ws).Scan(&js, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return st, sec, nil
	}
	if err != nil {
		return st, sec, fmt.Errorf("read settings: %w", err)
	}
	return s.decode(ws, js, sealed)
}

// decode turns a settings row into settings and secrets, reusing what the
// same bytes decoded to last time.
func (s *SettingsStore) decode(ws, js string, sealed []byte) (Settings, Secrets, error) {
	if c, ok := s.decoded.Load(ws); ok {
		d := c.(*decodedSettings)
		if d.js == js && bytes.Equal(d.sealed, sealed) {
			st := d.st
			st.Imprint = maps.Clone(d.st.Imprint)
			return st, d.sec, nil
		}
	}
	var st Settings
	var sec Secrets
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		return st, sec, fmt.Errorf("read settings: %w", err)
	}
	if len(sealed) > 0 {
		pt, err := s.keys.OpenSecret(ws, "gateways", sealed)
		if err != nil {
			return st, sec, err
		}
		if err := json.Unmarshal(pt, &sec); err != nil {
			return st, sec, fmt.Errorf("read settings: %w", err)
		}
	}
	st.ConfiguredSMTP, st.ConfiguredSMS = sec.SMTPURL != "", sec.SMSURL != ""
	keep := st
	keep.Imprint = maps.Clone(st.Imprint)
	s.decoded.Store(ws, &decodedSettings{js: js, sealed: bytes.Clone(sealed), st: keep, sec: sec})
	return st, sec, nil
}

// fromRow is Effective for a settings row the caller has read (js not
// valid: the workspace has none).
func (s *SettingsStore) fromRow(ws string, js sql.NullString, sealed []byte) (Effective, error) {
	var st Settings
	var sec Secrets
	if js.Valid {
		var err error
		if st, sec, err = s.decode(ws, js.String, sealed); err != nil {
			return Effective{}, err
		}
	}
	return s.effective(st, sec), nil
}

// Effective returns what is in force for the workspace.
func (s *SettingsStore) Effective(ctx context.Context, ws string) (Effective, error) {
	st, sec, err := s.read(ctx, s.db.R, ws)
	if err != nil {
		return Effective{}, err
	}
	return s.effective(st, sec), nil
}

// effective puts the server's defaults under a workspace's own settings.
func (s *SettingsStore) effective(st Settings, sec Secrets) Effective {
	e := Effective{Settings: st, SMTPURL: sec.SMTPURL, SMSURL: sec.SMSURL}
	if e.PublicURL == "" {
		e.PublicURL = s.defaults.PublicURL
	}
	e.PublicURL = strings.TrimRight(e.PublicURL, "/")
	if e.MailFrom == "" {
		e.MailFrom = s.defaults.MailFrom
	}
	if e.SMTPURL == "" {
		e.SMTPURL = s.defaults.SMTPURL
	}
	if e.SMSURL == "" {
		e.SMSURL = s.defaults.SMSURL
	}
	if e.DOIDays == 0 {
		e.DOIDays = defaultDOIDays
	}
	if e.PreferencesDays == 0 {
		e.PreferencesDays = defaultPreferencesDays
	}
	if e.SMSCodeMinutes == 0 {
		e.SMSCodeMinutes = defaultSMSCodeMinutes
	}
	return e
}

// SettingsUpdate changes settings; nil fields stay. Secret URLs: nil =
// unchanged, "" = removed (use the server default).
type SettingsUpdate struct {
	Imprint         map[string]string `json:"imprint,omitempty"`
	PublicURL       *string           `json:"public_url,omitempty"`
	MailFrom        *string           `json:"mail_from,omitempty"`
	MailFromName    *string           `json:"mail_from_name,omitempty"`
	DOIDays         *int              `json:"doi_days,omitempty"`
	PreferencesDays *int              `json:"preferences_days,omitempty"`
	SMSCodeMinutes  *int              `json:"sms_code_minutes,omitempty"`
	RecordIP        *bool             `json:"record_ip,omitempty"`
	SMTPURL         *string           `json:"smtp_url,omitempty"`
	SMSURL          *string           `json:"sms_url,omitempty"`
}

// URLCheck validates a gateway URL (the mail and SMS packages parse them).
type URLCheck func(field, raw string) error

// Update applies up in one transaction and returns the new settings.
func (s *SettingsStore) Update(ctx context.Context, ws string, up SettingsUpdate, check URLCheck) (Settings, error) {
	if !id.Valid(ws) {
		return Settings{}, store.ErrNotFound
	}
	var out Settings
	// Counted after the commit (or the failure): a read that saw the old
	// row was cached before, under the count this increment retires.
	defer s.changes.Add(1)
	err := s.db.Tx(ctx, func(tx store.Tx) error {
		st, sec, err := s.read(ctx, tx, ws)
		if err != nil {
			return err
		}
		if up.Imprint != nil {
			for lang, v := range up.Imprint {
				if lang != "de" && lang != "en" {
					return validate.OneOf("imprint."+lang, lang, []string{"de", "en"})
				}
				if len(v) > 2000 {
					return validate.Invalid("imprint."+lang, "at most 2000 characters")
				}
			}
			st.Imprint = up.Imprint
		}
		if up.PublicURL != nil {
			if *up.PublicURL != "" {
				u, err := url.Parse(*up.PublicURL)
				if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
					return validate.Invalid("public_url", "want an absolute http(s) URL without query, e.g. https://leads.example.com")
				}
			}
			st.PublicURL = strings.TrimRight(*up.PublicURL, "/")
		}
		if up.MailFrom != nil {
			if *up.MailFrom != "" && (!strings.Contains(*up.MailFrom, "@") || strings.ContainsAny(*up.MailFrom, "\r\n<> ")) {
				return validate.Invalid("mail_from", "want a bare e-mail address, e.g. news@example.com")
			}
			st.MailFrom = *up.MailFrom
		}
		if up.MailFromName != nil {
			if strings.ContainsAny(*up.MailFromName, "\r\n") || len(*up.MailFromName) > 100 {
				return validate.Invalid("mail_from_name", "one line of at most 100 characters")
			}
			st.MailFromName = *up.MailFromName
		}
		for _, f := range []struct {
			name     string
			v        *int
			dst      *int
			min, max int
		}{
			{"doi_days", up.DOIDays, &st.DOIDays, 1, 30},
			{"preferences_days", up.PreferencesDays, &st.PreferencesDays, 1, 365},
			{"sms_code_minutes", up.SMSCodeMinutes, &st.SMSCodeMinutes, 5, 60},
		} {
			if f.v != nil {
				if *f.v < f.min || *f.v > f.max {
					return validate.Invalid(f.name, fmt.Sprintf("want %d to %d", f.min, f.max))
				}
				*f.dst = *f.v
			}
		}
		if up.RecordIP != nil {
			st.RecordIP = *up.RecordIP
		}
		if up.SMTPURL != nil {
			if *up.SMTPURL != "" && check != nil {
				if err := check("smtp_url", *up.SMTPURL); err != nil {
					return err
				}
			}
			sec.SMTPURL = *up.SMTPURL
		}
		if up.SMSURL != nil {
			if *up.SMSURL != "" && check != nil {
				if err := check("sms_url", *up.SMSURL); err != nil {
					return err
				}
			}
			sec.SMSURL = *up.SMSURL
		}
		st.ConfiguredSMTP, st.ConfiguredSMS = sec.SMTPURL != "", sec.SMSURL != ""
		js, _ := json.Marshal(st)
		var sealed []byte
		if sec != (Secrets{}) {
			b, _ := json.Marshal(sec)
			if sealed, err = s.keys.SealSecret(ws, "gateways", b); err != nil {
				return err
			}
		}
		now := s.now().UTC().Truncate(time.Microsecond)
		if _, err := tx.ExecContext(ctx, `INSERT INTO workspace_settings (workspace_id, settings, secrets, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (workspace_id) DO UPDATE SET settings = excluded.settings, secrets = excluded.secrets, updated_at = excluded.updated_at`,
			ws, string(js), sealed, now); err != nil {
			return fmt.Errorf("save settings: %w", store.MapError(err))
		}
		out = st
		return nil
	})
	return out, err
}
