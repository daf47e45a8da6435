package policy_test

import (
	"testing"

	"github.com/fairlead/fairlead/internal/policy"
)

// cell is an expected outcome: allowed and the first reason.
type cell struct {
	allowed bool
	first   string
}

func allow(first string) cell { return cell{true, first} }
func deny(first string) cell  { return cell{false, first} }

// quickRefColumns are the columns of the §10 quick reference.
var quickRefColumns = [5]struct {
	name string
	aud  policy.Audience
	rel  policy.Relationship
}{
	{"B2C prospect", policy.AudienceB2C, policy.RelationshipProspect},
	{"B2C customer", policy.AudienceB2C, policy.RelationshipCustomer},
	{"B2B prospect", policy.AudienceB2B, policy.RelationshipProspect},
	{"B2B customer", policy.AudienceB2B, policy.RelationshipCustomer},
	{"supplier (B2B)", policy.AudienceB2B, policy.RelationshipSupplier},
}

func presumed(f *policy.Facts) {
	f.B2BPresumedConsent = policy.PresumedConsent{Present: true, Basis: "asked for a call on 2026-02-25"}
}

// TestQuickReference checks the §10 table (defaults, no objection, erasure or
// restriction) cell by cell, with and without the basis each cell names.
func TestQuickReference(t *testing.T) {
	t.Parallel()
	rows := []struct {
		row, variant string
		req          policy.Request
		mod          func(*policy.Facts)
		cells        [5]cell
	}{
		{"email", "no basis", req(pDM, email), func(*policy.Facts) {},
			[5]cell{deny("no_consent"), deny("no_consent"), deny("no_consent"), deny("no_consent"), deny("no_consent")}},
		{"email", "consent (DOI)", req(pDM, email), withConsents(dm(email)),
			[5]cell{allow("consent_valid"), allow("consent_valid"), allow("consent_valid"), allow("consent_valid"), allow("consent_valid")}},
		{"email", "UWG §7(3) conditions met", req(pDM, email), eceAll,
			[5]cell{deny("no_consent"), allow("existing_customer_exemption"), deny("no_consent"), allow("existing_customer_exemption"), deny("no_consent")}},
		{"sms", "consent (SMS DOI)", req(pDM, sms), withConsents(dm(sms)),
			[5]cell{allow("consent_valid"), allow("consent_valid"), allow("consent_valid"), allow("consent_valid"), allow("consent_valid")}},
		{"sms", "UWG §7(3) conditions met, default policy", req(pDM, sms), eceAll,
			[5]cell{deny("no_consent"), deny("no_consent"), deny("no_consent"), deny("no_consent"), deny("no_consent")}},
		{"sms", "UWG §7(3) conditions met, ece_channels with sms", req(pDM, sms),
			func(f *policy.Facts) {
				eceAll(f)
				withPolicy(func(p *policy.Policy) { p.ECEChannels = []policy.Channel{email, sms} })(f)
			},
			[5]cell{deny("no_consent"), allow("existing_customer_exemption"), deny("no_consent"), allow("existing_customer_exemption"), deny("no_consent")}},
		{"phone", "express consent, documented", req(pDM, phone), withConsents(dm(phone)),
			[5]cell{allow("consent_valid"), allow("consent_valid"), allow("consent_valid"), allow("consent_valid"), allow("consent_valid")}},
		{"phone", "documented presumed consent", req(pDM, phone), presumed,
			[5]cell{deny("no_consent"), deny("no_consent"), allow("b2b_presumed_consent"), allow("b2b_presumed_consent"), allow("b2b_presumed_consent")}},
		{"phone", "UWG §7(3) conditions met (no ECE for calls)", req(pDM, phone), eceAll,
			[5]cell{deny("no_consent"), deny("no_consent"), deny("no_presumed_consent"), deny("no_presumed_consent"), deny("no_presumed_consent")}},
		{"post", "no consent", req(pDM, post), func(*policy.Facts) {},
			[5]cell{allow("postal_legitimate_interest"), allow("postal_legitimate_interest"), allow("postal_legitimate_interest"), allow("postal_legitimate_interest"), deny("supplier_notice_missing")}},
		{"post", "supplier notice given", req(pDM, post), func(f *policy.Facts) { f.SupplierNoticeGiven = true },
			[5]cell{allow("postal_legitimate_interest"), allow("postal_legitimate_interest"), allow("postal_legitimate_interest"), allow("postal_legitimate_interest"), allow("postal_legitimate_interest")}},
		{"web tracking w/ device access", "no consent", req(pAnalyt, web), device,
			[5]cell{deny("device_access_requires_consent"), deny("device_access_requires_consent"), deny("device_access_requires_consent"), deny("device_access_requires_consent"), deny("device_access_requires_consent")}},
		{"web tracking w/ device access", "consent", req(pAnalyt, web), func(f *policy.Facts) { device(f); withConsents(consent(pAnalyt, web))(f) },
			[5]cell{allow("consent_valid"), allow("consent_valid"), allow("consent_valid"), allow("consent_valid"), allow("consent_valid")}},
		{"pseudonymized analytics w/o device access", "no objection", req(pAnalyt, web), mode(policy.AnalyticsPseudonymized),
			[5]cell{allow("pseudonymized_analytics_legitimate_interest"), allow("pseudonymized_analytics_legitimate_interest"), allow("pseudonymized_analytics_legitimate_interest"), allow("pseudonymized_analytics_legitimate_interest"), allow("pseudonymized_analytics_legitimate_interest")}},
		{"pseudonymized analytics w/o device access", "objection", req(pAnalyt, web),
			func(f *policy.Facts) {
				mode(policy.AnalyticsPseudonymized)(f)
				objection(policy.ObjectionAnalytics, "2025-09-01")(f)
			},
			[5]cell{deny("processing_objection"), deny("processing_objection"), deny("processing_objection"), deny("processing_objection"), deny("processing_objection")}},
		{"personalization (non-sensitive)", "no consent", req(pPerson, web), func(*policy.Facts) {},
			[5]cell{deny("no_consent"), allow("personalization_legitimate_interest"), deny("no_consent"), allow("personalization_legitimate_interest"), deny("no_consent")}},
		{"personalization (non-sensitive)", "consent", req(pPerson, web), withConsents(consent(pPerson, web)),
			[5]cell{allow("consent_valid"), allow("consent_valid"), allow("consent_valid"), allow("consent_valid"), allow("consent_valid")}},
		{"personalization (non-sensitive)", "objection", req(pPerson, web), dmObjection("2025-09-01"),
			[5]cell{deny("marketing_objection"), deny("marketing_objection"), deny("marketing_objection"), deny("marketing_objection"), deny("marketing_objection")}},
		{"personalization (sensitive)", "ordinary consent", req(pPerson, web), func(f *policy.Facts) { special(f); withConsents(consent(pPerson, web))(f) },
			[5]cell{deny("special_category_requires_explicit_consent"), deny("special_category_requires_explicit_consent"), deny("special_category_requires_explicit_consent"), deny("special_category_requires_explicit_consent"), deny("special_category_requires_explicit_consent")}},
		{"personalization (sensitive)", "explicit consent", req(pPerson, web), func(f *policy.Facts) { special(f); withConsents(consent(pPerson, web, explicit))(f) },
			[5]cell{allow("consent_valid"), allow("consent_valid"), allow("consent_valid"), allow("consent_valid"), allow("consent_valid")}},
	}
	for _, row := range rows {
		for i, col := range quickRefColumns {
			want := row.cells[i]
			t.Run("§10 "+row.row+" / "+col.name+" / "+row.variant, func(t *testing.T) {
				f := facts(col.aud, col.rel, row.mod)
				d, err := policy.Decide(f, row.req)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed != want.allowed || len(d.Reasons) == 0 || string(d.Reasons[0]) != want.first {
					t.Errorf("got allowed=%v reasons=%v, want allowed=%v first=%s", d.Allowed, d.Reasons, want.allowed, want.first)
				}
			})
		}
	}
}
