package catalogcheck

import (
	"slices"
	"testing"

	"github.com/fairlead/fairlead/internal/capture/form"
	"github.com/fairlead/fairlead/internal/consent"
)

type builtin struct {
	purposes map[string]consent.Purpose
	notices  map[string]form.NoticeInfo
}

func (b builtin) Purpose(key string) (form.PurposeInfo, bool) {
	p, ok := b.purposes[key]
	return form.PurposeInfo{Key: p.Key, Kind: p.Kind, DataCategories: p.DataCategories, Channels: p.Channels}, ok
}

func (b builtin) Notice(hash string) (form.NoticeInfo, bool) { n, ok := b.notices[hash]; return n, ok }

func newBuiltin() builtin {
	b := builtin{purposes: map[string]consent.Purpose{}, notices: map[string]form.NoticeInfo{}}
	for _, p := range consent.DefaultCatalog() {
		b.purposes[p.Key] = p
	}
	return b
}

func (b builtin) add(kind, lang, title, body string) string {
	h := consent.NoticeHash(lang, title, body)
	b.notices[h] = form.NoticeInfo{Hash: h, Kind: kind, Language: lang}
	return h
}

// TestDemoAgainstBuiltinCatalog is the promise of the demo form: a fresh
// workspace can publish it as it is.
func TestDemoAgainstBuiltinCatalog(t *testing.T) {
	b := newBuiltin()
	d := form.Demo(
		b.add(form.NoticeKindConsentText, "de", "Newsletter", "Ja, ich möchte den Newsletter per E-Mail erhalten."),
		b.add(form.NoticeKindConsentText, "en", "Newsletter", "Yes, I want to receive the newsletter by e-mail."),
		b.add(form.NoticeKindPrivacyNotice, "de", "Datenschutz", "Wir verarbeiten Ihre Daten …"),
		b.add(form.NoticeKindPrivacyNotice, "en", "Privacy", "We process your data …"),
	)
	if err := form.Validate(d, b); err != nil {
		t.Fatal(err)
	}
	if fs := form.Lint(d, b); len(fs) != 0 {
		t.Fatalf("demo form has findings: %+v", fs)
	}
	// The first name is optional, but it is also honestly needed: the
	// newsletter purpose covers names (for the salutation).
	d.Fields[1].Required = true
	if fs := form.Lint(d, b); len(fs) != 0 {
		t.Fatalf("newsletter does not cover names any more: %+v", fs)
	}
}

// TestVocabularyMatchesConsent keeps the form's closed sets in step with
// the consent package, which stores what forms collect.
func TestVocabularyMatchesConsent(t *testing.T) {
	if !slices.Equal(form.Channels, consent.Channels) {
		t.Errorf("channels %v, consent has %v", form.Channels, consent.Channels)
	}
	if !slices.Equal(form.Languages, consent.NoticeLanguages) {
		t.Errorf("languages %v, notices have %v", form.Languages, consent.NoticeLanguages)
	}
	for _, k := range []string{form.NoticeKindConsentText, form.NoticeKindPrivacyNotice} {
		if !slices.Contains(consent.NoticeKinds, k) {
			t.Errorf("notice kind %q unknown to consent", k)
		}
	}
}
