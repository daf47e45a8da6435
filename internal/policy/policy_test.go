package policy_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/policy"
)

func TestPolicyVersion(t *testing.T) {
	t.Parallel()
	d, err := policy.Decide(b2cProspect(), req(pDM, post))
	if err != nil {
		t.Fatal(err)
	}
	if d.PolicyVersion != policy.Version {
		t.Errorf("default policy_version = %q, want %q", d.PolicyVersion, policy.Version)
	}

	// An override equal to the defaults decides exactly as the defaults do.
	same := policy.DefaultPolicy()
	same.ECEChannels = []policy.Channel{email, email}
	if v, _ := same.Version(); v != policy.Version {
		t.Errorf("default-equal override version = %q", v)
	}

	withSMS := policy.DefaultPolicy()
	withSMS.ECEChannels = []policy.Channel{sms, email}
	v1, err := withSMS.Version()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v1, policy.Version+"+") || len(v1) != len(policy.Version)+13 {
		t.Errorf("override version = %q, want %s+<12 hex>", v1, policy.Version)
	}
	reordered := policy.DefaultPolicy()
	reordered.ECEChannels = []policy.Channel{email, sms}
	if v2, _ := reordered.Version(); v2 != v1 {
		t.Errorf("list order changed the version: %q vs %q", v2, v1)
	}
	stale := policy.DefaultPolicy()
	stale.ConsentMaxIdleDays = policy.LimitDays(730)
	if v3, _ := stale.Version(); v3 == v1 || v3 == policy.Version {
		t.Errorf("different policies share version %q", v3)
	}
	// Reproducible across calls and visible in decisions.
	f := b2cProspect()
	f.Policy = &withSMS
	d, _ = policy.Decide(f, req(pDM, post))
	if d.PolicyVersion != v1 {
		t.Errorf("decision version %q, want %q", d.PolicyVersion, v1)
	}
	canon, err := withSMS.CanonicalPolicy()
	if err != nil || !strings.Contains(canon, "ece_channels=email,sms\n") || !strings.Contains(canon, "accepted_verifications.post=-\n") {
		t.Errorf("canonical form:\n%s", canon)
	}
}

func TestDefaultPolicyMatchesSpec(t *testing.T) {
	t.Parallel()
	p := policy.DefaultPolicy()
	want := policy.Policy{
		AcceptedVerifications: map[policy.Channel][]policy.Verification{
			email: {policy.VerificationEmailDOI},
			sms:   {policy.VerificationSMSDOI},
			phone: {policy.VerificationSMSDOI, policy.VerificationWritten, policy.VerificationVoiceRecording},
		},
		ConsentAgeWarningDays:                policy.LimitDays(730),
		ECEChannels:                          []policy.Channel{email},
		LaterConsentLiftsObjection:           true,
		WithdrawalCountsAsObjection:          true,
		ThirdPartyPostalAllowed:              true,
		PseudonymizedAnalyticsWithoutConsent: true,
		PersonalizationLegitimateInterest:    true,
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("DefaultPolicy = %+v", p)
	}
	p.AcceptedVerifications[email] = nil
	if policy.DefaultPolicy().AcceptedVerifications[email] == nil {
		t.Error("DefaultPolicy shares its map")
	}
}

func TestDecideErrors(t *testing.T) {
	t.Parallel()
	ok := b2cProspect()
	cases := []struct {
		name        string
		facts       policy.Facts
		req         policy.Request
		code, field string
		msgHas      string
	}{
		{"§3 purpose missing", ok, req("", email), "invalid_request", "request.purpose", "direct_marketing"},
		{"§3 unknown purpose", ok, req("cold_calling", phone), "invalid_request", "request.purpose", "allowed: direct_marketing"},
		{"§3 channel missing", ok, req(pDM, ""), "invalid_request", "request.channel", "email, sms, phone, post"},
		{"§1 fax is out of scope (UWG §7(2) Nr. 2)", ok, req(pDM, "fax"), "invalid_request", "request.channel", "email, sms, phone, post"},
		{"§3 legal_retention only on none", ok, req(pRetain, email), "invalid_request", "request.channel", "allowed: none"},
		{"§3 analytics not on sms", ok, req(pAnalyt, sms), "invalid_request", "request.channel", "web, email"},
		{"§3 personalization not on email", ok, req(pPerson, email), "invalid_request", "request.channel", "web, none"},
		{"§3 consent_confirmation not by phone", ok, req(pConfirm, phone), "invalid_request", "request.channel", "email, sms"},
		{"§3 direct_marketing not on web", ok, req(pDM, web), "invalid_request", "request.channel", "email, sms, phone, post"},
		{"§3 any is no request channel", ok, req(pDM, policy.ChannelAny), "invalid_request", "request.channel", "email"},
		{"§3 request checked before facts", policy.Facts{}, req(pDM, "fax"), "invalid_request", "request.channel", ""},
		{"§4.1 as_of required", policy.Facts{Audience: "b2c", Relationship: "prospect"}, req(pDM, post), "invalid_facts", "facts.as_of", "required"},
		{"§4.1 audience required", facts("", policy.RelationshipProspect), req(pDM, post), "invalid_facts", "facts.audience", "b2c, b2b"},
		{"§4.1 audience enumeration", facts("xyz", policy.RelationshipProspect), req(pDM, post), "invalid_facts", "facts.audience", `"xyz"`},
		{"§4.1 relationship required", facts(policy.AudienceB2C, ""), req(pDM, post), "invalid_facts", "facts.relationship", "prospect, customer, supplier"},
		{"§4.1 relationship enumeration", facts(policy.AudienceB2C, "partner"), req(pDM, post), "invalid_facts", "facts.relationship", "supplier"},
		{"§4.1 data_source enumeration", b2cProspect(func(f *policy.Facts) { f.DataSource = "scraped" }), req(pDM, post), "invalid_facts", "facts.data_source", "self_provided, third_party"},
		{"§4.2 consent purpose enumeration", b2cProspect(withConsents(consent(pContract, email))), req(pDM, post), "invalid_facts", "facts.consents[0].purpose", "direct_marketing, analytics, personalization"},
		{"§4.2 consent purpose required", b2cProspect(withConsents(consent("", email))), req(pDM, post), "invalid_facts", "facts.consents[0].purpose", "required"},
		{"§4.2 consent channel enumeration", b2cProspect(withConsents(dm(email), dm("fax"))), req(pDM, post), "invalid_facts", "facts.consents[1].channels[0]", `"fax"`},
		{"§4.2 consent channel any is not a consent scope", b2cProspect(withConsents(dm(policy.ChannelAny))), req(pDM, post), "invalid_facts", "facts.consents[0].channels[0]", "email"},
		{"§4.2 status required", b2cProspect(withConsents(dm(email, func(c *policy.ConsentRecord) { c.Status = "" }))), req(pDM, post), "invalid_facts", "facts.consents[0].status", "pending, confirmed, withdrawn"},
		{"§4.2 status enumeration", b2cProspect(withConsents(dm(email, func(c *policy.ConsentRecord) { c.Status = "maybe" }))), req(pDM, post), "invalid_facts", "facts.consents[0].status", `"maybe"`},
		{"§4.2 given_at required", b2cProspect(withConsents(dm(email, func(c *policy.ConsentRecord) { c.GivenAt = policy.Date{} }))), req(pDM, post), "invalid_facts", "facts.consents[0].given_at", "required"},
		{"§4.2 verification enumeration", b2cProspect(withConsents(dm(email, func(c *policy.ConsentRecord) { c.Verification = "fax_signature" }))), req(pDM, post), "invalid_facts", "facts.consents[0].verification", "email_doi"},
		{"§4.2 collected_by enumeration", b2cProspect(withConsents(dm(email, func(c *policy.ConsentRecord) { c.CollectedBy = "partner" }))), req(pDM, post), "invalid_facts", "facts.consents[0].collected_by", "self, third_party"},
		{"§4.3 objection type required", b2cProspect(objection("", "")), req(pDM, post), "invalid_facts", "facts.objections[0].type", "direct_marketing, analytics"},
		{"§4.3 objection type enumeration", b2cProspect(objection("profiling", "")), req(pDM, post), "invalid_facts", "facts.objections[0].type", `"profiling"`},
		{"§4.3 objection channel enumeration", b2cProspect(dmObjection("", "fax")), req(pDM, post), "invalid_facts", "facts.objections[0].channels[0]", "any"},
		{"§4.1 reply channel enumeration", b2cProspect(inbound(policy.ChannelAny)), req(pDM, post), "invalid_facts", "facts.inbound_request.reply_channels[0]", "email"},
		{"§4.1 restriction ground enumeration", b2cProspect(func(f *policy.Facts) { f.Restriction.Ground = "whim" }), req(pDM, post), "invalid_facts", "facts.restriction.ground", "legal_claims"},
		{"§4.1 erasure status enumeration", b2cProspect(erasure("pending")), req(pDM, post), "invalid_facts", "facts.erasure.status", "none, requested, executed"},
		{"§4.5 analytics_mode enumeration", b2cProspect(mode("aggregated")), req(pDM, post), "invalid_facts", "facts.processing.analytics_mode", "identified, pseudonymized, anonymous"},
		{"§5 BGH I ZR 164/09 email_doi can never be accepted for phone", b2cProspect(withPolicy(func(p *policy.Policy) {
			p.AcceptedVerifications[phone] = append(p.AcceptedVerifications[phone], policy.VerificationEmailDOI)
		})), req(pDM, post), "invalid_facts", "facts.policy.accepted_verifications.phone", "BGH I ZR 164/09"},
		{"§5 accepted_verifications enumeration", b2cProspect(withPolicy(func(p *policy.Policy) {
			p.AcceptedVerifications[email] = []policy.Verification{"carrier_pigeon"}
		})), req(pDM, post), "invalid_facts", "facts.policy.accepted_verifications.email", "email_doi"},
		{"§5 accepted_verifications channel enumeration", b2cProspect(withPolicy(func(p *policy.Policy) {
			p.AcceptedVerifications["fax"] = nil
		})), req(pDM, post), "invalid_facts", "facts.policy.accepted_verifications.fax", "email, sms"},
		{"§5 UWG §7(3) ece_channels only electronic mail", b2cProspect(withPolicy(func(p *policy.Policy) { p.ECEChannels = []policy.Channel{phone} })), req(pDM, post), "invalid_facts", "facts.policy.ece_channels", "email, sms"},
		{"§5 day limits are not negative", b2cProspect(withPolicy(func(p *policy.Policy) { p.ConsentMaxIdleDays = policy.LimitDays(-1) })), req(pDM, post), "invalid_facts", "facts.policy.consent_max_idle_days", ">= 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := policy.Decide(c.facts, c.req)
			var ve *policy.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			if ve.Code != c.code || ve.Field != c.field || !strings.Contains(ve.Message, c.msgHas) {
				t.Errorf("got %s %s %q, want %s %s containing %q", ve.Code, ve.Field, ve.Message, c.code, c.field, c.msgHas)
			}
			wantSentinel := policy.ErrInvalidFacts
			if c.code == policy.CodeInvalidRequest {
				wantSentinel = policy.ErrInvalidRequest
			}
			if !errors.Is(err, wantSentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, wantSentinel)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Errorf("Error() = %q lacks the field", err.Error())
			}
		})
	}
}

func TestDecideDoesNotChangeItsInput(t *testing.T) {
	t.Parallel()
	f := b2cProspect(withConsents(
		dm(email, givenOn("2024-01-01")),
		dm(email, withdrawnOn("2025-03-01")),
		dm(email, pending)), dmObjection("2025-01-01"))
	before := clone(f)
	for range 3 {
		if _, err := policy.Decide(f, req(pDM, email)); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(f, before) {
		t.Error("Decide modified its facts")
	}
}

func clone(f policy.Facts) policy.Facts {
	out := f
	out.Consents = nil
	for _, c := range f.Consents {
		c.Channels = append([]policy.Channel(nil), c.Channels...)
		out.Consents = append(out.Consents, c)
	}
	out.Objections = nil
	for _, o := range f.Objections {
		o.Channels = append([]policy.Channel(nil), o.Channels...)
		out.Objections = append(out.Objections, o)
	}
	return out
}

func TestManyConsentRecords(t *testing.T) {
	t.Parallel()
	// More records than the engine's inline buffers hold.
	var cs []policy.ConsentRecord
	for i := range 40 {
		cs = append(cs, dm(email, givenOn(policy.NewDate(2024, 1, 1+i).String()), pending))
	}
	cs = append(cs, dm(email, withdrawnOn("2023-06-01"), givenOn("2023-01-01")))
	var objs []func(*policy.Facts)
	for range 10 {
		objs = append(objs, objection(policy.ObjectionAnalytics, "2025-01-01"))
	}
	f := b2cProspect(append(objs, withConsents(cs...))...)
	d, err := policy.Decide(f, req(pDM, email))
	if err != nil {
		t.Fatal(err)
	}
	if want := R("consent_withdrawn", "consent_pending_doi"); !reflect.DeepEqual(d.Reasons, want) {
		t.Errorf("reasons = %v, want %v", d.Reasons, want)
	}
}

func TestDate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, want string
	}{
		{"2026-03-01", "2026-03-01"},
		{"2024-02-29", "2024-02-29"},
		{"0001-01-01", "0001-01-01"},
		{"9999-12-31", "9999-12-31"},
		{"2026-03-01T23:59:59Z", "2026-03-01"},
		{"2026-03-01T23:30:00-05:00", "2026-03-01"},
		{"2026-03-01T00:30:00+14:00", "2026-03-01"},
		{"2026-03-01T10:00:00.123456Z", "2026-03-01"},
		{"2026-03-01T10:00:00", "2026-03-01"},
	} {
		d, err := policy.ParseDate(c.in)
		if err != nil || d.String() != c.want {
			t.Errorf("ParseDate(%q) = %v, %v; want %s", c.in, d, err, c.want)
		}
	}
	for _, bad := range []string{"", "2026-13-01", "2026-02-29", "2026-00-10", "2026-01-32", "0000-01-01", "26-03-01", "2026/03/01",
		"2026-03-01T25:00:00Z", "2026-03-01X", "2026-03-01 10:00", "２０２６-03-01", "-026-03-01", "2026-3-1"} {
		if d, err := policy.ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) = %v, want error", bad, d)
		}
	}
	a, b := day("2024-02-28"), day("2024-03-01")
	if b.DaysSince(a) != 2 || a.AddDays(2) != b || !a.Before(b) || !b.After(a) || a.Compare(b) != -1 || b.Compare(a) != 1 || a.Compare(a) != 0 {
		t.Error("date arithmetic")
	}
	if y, m, d := b.Civil(); y != 2024 || m != time.March || d != 1 {
		t.Errorf("Civil = %d %v %d", y, m, d)
	}
	if policy.NewDate(2026, time.February, 30) != day("2026-03-02") {
		t.Error("NewDate does not normalize")
	}
	if !policy.NewDate(10000, 1, 1).IsZero() || !day("9999-12-31").AddDays(1).IsZero() || !(policy.Date{}).AddDays(1).IsZero() {
		t.Error("out-of-range dates must be zero")
	}
	if policy.DateOf(time.Date(2026, 3, 1, 23, 0, 0, 0, time.FixedZone("x", -5*3600))) != day("2026-03-01") {
		t.Error("DateOf must use the time's own zone")
	}
	if day("2026-03-01").Time() != time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) || !(policy.Date{}).Time().IsZero() {
		t.Error("Time")
	}
	var z policy.Date
	if z.String() != "" || !z.IsZero() {
		t.Error("zero date")
	}
	txt, _ := day("2026-03-01").MarshalText()
	var back policy.Date
	if err := back.UnmarshalText(txt); err != nil || back != day("2026-03-01") {
		t.Errorf("text round trip: %s %v %v", txt, back, err)
	}
	if err := back.UnmarshalText(nil); err != nil || !back.IsZero() {
		t.Error("empty text must give the zero date")
	}
	// Every day between 1900 and 2100 survives a round trip through String.
	for d := day("1900-01-01"); d.Before(day("2100-12-31")); d = d.AddDays(1) {
		if back, err := policy.ParseDate(d.String()); err != nil || back != d {
			t.Fatalf("round trip of %s: %v %v", d, back, err)
		}
		if policy.DateOf(d.Time()) != d {
			t.Fatalf("DateOf(Time()) of %s", d)
		}
	}
}
