package policy_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/fairlead/fairlead/internal/policy"
)

// asOf is the evaluation date of all table cases unless a case says
// otherwise.
const asOf = "2026-03-01"

func day(s string) policy.Date { return policy.MustParseDate(s) }

// facts returns minimal valid facts for audience and relationship, changed by
// mods.
func facts(aud policy.Audience, rel policy.Relationship, mods ...func(*policy.Facts)) policy.Facts {
	f := policy.Facts{AsOf: day(asOf), Audience: aud, Relationship: rel}
	for _, m := range mods {
		m(&f)
	}
	return f
}

func b2cProspect(mods ...func(*policy.Facts)) policy.Facts {
	return facts(policy.AudienceB2C, policy.RelationshipProspect, mods...)
}

func b2cCustomer(mods ...func(*policy.Facts)) policy.Facts {
	return facts(policy.AudienceB2C, policy.RelationshipCustomer, mods...)
}

func b2bProspect(mods ...func(*policy.Facts)) policy.Facts {
	return facts(policy.AudienceB2B, policy.RelationshipProspect, mods...)
}

func verificationFor(ch policy.Channel) policy.Verification {
	switch ch {
	case policy.ChannelEmail:
		return policy.VerificationEmailDOI
	case policy.ChannelSMS:
		return policy.VerificationSMSDOI
	case policy.ChannelPhone, policy.ChannelPost:
		return policy.VerificationWritten
	}
	return policy.VerificationConsentBanner
}

// consent returns a valid, confirmed consent record for purpose on ch given
// and confirmed on 2025-06-01, changed by mods.
func consent(p policy.Purpose, ch policy.Channel, mods ...func(*policy.ConsentRecord)) policy.ConsentRecord {
	c := policy.ConsentRecord{
		Purpose:          p,
		Channels:         []policy.Channel{ch},
		Status:           policy.ConsentConfirmed,
		GivenAt:          day("2025-06-01"),
		ConfirmedAt:      day("2025-06-01"),
		Verification:     verificationFor(ch),
		EvidenceRecorded: true,
	}
	for _, m := range mods {
		m(&c)
	}
	return c
}

func dm(ch policy.Channel, mods ...func(*policy.ConsentRecord)) policy.ConsentRecord {
	return consent(policy.PurposeDirectMarketing, ch, mods...)
}

// Consent record modifiers.
func pending(c *policy.ConsentRecord) {
	c.Status = policy.ConsentPending
	c.ConfirmedAt = policy.Date{}
}

func withdrawnOn(d string) func(*policy.ConsentRecord) {
	return func(c *policy.ConsentRecord) {
		c.Status = policy.ConsentWithdrawn
		c.WithdrawnAt = day(d)
	}
}

func givenOn(d string) func(*policy.ConsentRecord) {
	return func(c *policy.ConsentRecord) {
		c.GivenAt = day(d)
		if !c.ConfirmedAt.IsZero() {
			c.ConfirmedAt = day(d)
		}
	}
}

// Facts modifiers.
func withConsents(cs ...policy.ConsentRecord) func(*policy.Facts) {
	return func(f *policy.Facts) { f.Consents = append(f.Consents, cs...) }
}

func objection(t policy.ObjectionType, at string, chs ...policy.Channel) func(*policy.Facts) {
	return func(f *policy.Facts) {
		o := policy.Objection{Type: t, Channels: chs}
		if at != "" {
			o.At = day(at)
		}
		f.Objections = append(f.Objections, o)
	}
}

func dmObjection(at string, chs ...policy.Channel) func(*policy.Facts) {
	return objection(policy.ObjectionDirectMarketing, at, chs...)
}

func withPolicy(mod func(*policy.Policy)) func(*policy.Facts) {
	return func(f *policy.Facts) {
		p := policy.DefaultPolicy()
		if f.Policy != nil {
			p = *f.Policy
		}
		mod(&p)
		f.Policy = &p
	}
}

func eceAll(f *policy.Facts) {
	f.ExistingCustomer = policy.ExistingCustomer{AddressFromSale: true, OwnSimilarOffer: true, NoticeAtCollection: true, NoticeInMessage: true}
}

func advertising(f *policy.Facts) { f.Processing.ContainsAdvertising = true }
func special(f *policy.Facts)     { f.Processing.SpecialCategoryData = true }
func device(f *policy.Facts)      { f.Processing.DeviceAccess = true }
func thirdParty(f *policy.Facts)  { f.DataSource = policy.DataSourceThirdParty }
func mode(m policy.AnalyticsMode) func(*policy.Facts) {
	return func(f *policy.Facts) { f.Processing.AnalyticsMode = m }
}

func req(p policy.Purpose, ch policy.Channel) policy.Request {
	return policy.Request{Purpose: p, Channel: ch}
}

// Wire-name shorthands, so expectations read like the specification.
func R(s ...string) []policy.Reason     { return conv[policy.Reason](s) }
func O(s ...string) []policy.Obligation { return conv[policy.Obligation](s) }
func W(s ...string) []policy.Warning    { return conv[policy.Warning](s) }
func B(s ...string) []policy.LegalBasis { return conv[policy.LegalBasis](s) }
func conv[T ~string](s []string) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[i] = T(v)
	}
	return out
}

// Frequent obligation sets.
var (
	oEmailConsent = O("include_sender_identity", "include_unsubscribe_notice", "log_consent_usage")
	oECE          = O("include_sender_identity", "include_unsubscribe_notice", "include_objection_notice")
	oService      = O("no_advertising_content")
	oLI           = O("include_objection_notice")
)

// tc is one table case: the name carries the legal reference it tests.
type tc struct {
	name        string
	facts       policy.Facts
	req         policy.Request
	allowed     bool
	reasons     []policy.Reason
	obligations []policy.Obligation
	warnings    []policy.Warning
	bases       []policy.LegalBasis
}

func runCases(t *testing.T, cases []tc) {
	t.Helper()
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Errorf("duplicate case name %q", c.name)
		}
		names[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d, err := policy.Decide(c.facts, c.req)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			checkDecision(t, d, c)
		})
	}
}

func checkDecision(t *testing.T, d policy.Decision, c tc) {
	t.Helper()
	if d.Allowed != c.allowed {
		t.Errorf("allowed = %v, want %v (reasons %v)", d.Allowed, c.allowed, d.Reasons)
	}
	if !slices.Equal(d.Reasons, c.reasons) {
		t.Errorf("reasons = %v, want %v", d.Reasons, c.reasons)
	}
	if !slices.Equal(d.Obligations, c.obligations) {
		t.Errorf("obligations = %v, want %v", d.Obligations, c.obligations)
	}
	if !slices.Equal(d.Warnings, c.warnings) {
		t.Errorf("warnings = %v, want %v", d.Warnings, c.warnings)
	}
	if !slices.Equal(d.LegalBases, c.bases) {
		t.Errorf("legal_bases = %v, want %v", d.LegalBases, c.bases)
	}
	if len(d.Reasons) > 0 && d.Reasons[0].Allows() != d.Allowed {
		t.Errorf("first reason %s does not match allowed=%v", d.Reasons[0], d.Allowed)
	}
	if d.AsOf != c.facts.AsOf {
		t.Errorf("as_of = %v, want %v", d.AsOf, c.facts.AsOf)
	}
	// legal_refs: the references of all reasons, in order, de-duplicated.
	var want []string
	for _, r := range d.Reasons {
		info, ok := policy.LookupReason(r)
		if !ok {
			t.Fatalf("reason %q is not in the catalogue", r)
		}
		for _, s := range info.LegalRefs {
			if !slices.Contains(want, s) {
				want = append(want, s)
			}
		}
	}
	if !slices.Equal(d.LegalRefs, want) {
		t.Errorf("legal_refs = %q, want %q", d.LegalRefs, want)
	}
}

// allTables lists every table of cases; the coverage test runs them all.
var (
	tablesMu sync.Mutex
	tables   = map[string][]tc{}
)

func register(name string, cases []tc) []tc {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	tables[name] = cases
	return cases
}
