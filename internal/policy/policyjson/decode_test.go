package policyjson_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/policy/policyjson"
)

func day(s string) policy.Date { return policy.MustParseDate(s) }

const fullItem = `{
  "id": "lead-42",
  "facts": {
    "as_of": "2026-03-01T09:30:00+01:00",
    "audience": "b2c",
    "relationship": "customer",
    "data_source": "self_provided",
    "consents": [
      {"id": "c1", "purpose": "direct_marketing", "channels": ["email", "sms"], "status": "confirmed",
       "given_at": "2025-06-01", "confirmed_at": "2025-06-02T10:00:00Z", "withdrawn_at": null, "last_used_at": "2026-01-15",
       "verification": "email_doi", "evidence_recorded": true, "collected_by": "self", "pre_ticked": false,
       "coupled": false, "explicit_special_category": true, "note": "ignored"}
    ],
    "objections": [{"type": "analytics", "channels": ["web"], "at": "2025-09-01"}, {"type": "direct_marketing"}],
    "existing_customer": {"address_from_sale": true, "own_similar_offer": true, "notice_at_collection": true,
                          "notice_in_message": false, "last_purchase_at": "2025-12-24"},
    "b2b_presumed_consent": {"present": true, "basis": "called us"},
    "supplier_notice_given": true,
    "contract_active": true,
    "inbound_request": {"open": true, "reply_channels": ["email", "phone"]},
    "open_rights_request": true,
    "restriction": {"active": false, "since": "2026-01-01", "ground": "legal_claims"},
    "erasure": {"status": "requested", "at": "2026-02-28"},
    "retention_duty": {"applies": true, "until": "2034-12-31", "basis": "HGB §257(4)"},
    "processing": {"contains_advertising": true, "special_category_data": true, "device_access": true,
                   "strictly_necessary": true, "analytics_mode": "pseudonymized"},
    "policy": {"ece_channels": ["email", "sms"], "accepted_verifications": {"email": ["email_doi", "written"]},
               "consent_max_idle_days": 730, "third_party_postal_allowed": false},
    "future_field": {"anything": [1, 2, 3]}
  },
  "request": {"purpose": "contract", "channel": "email", "priority": "high"}
}`

func TestDecodeItemAllFields(t *testing.T) {
	t.Parallel()
	it, err := policyjson.DecodeItem([]byte(fullItem))
	if err != nil {
		t.Fatal(err)
	}
	p := policy.DefaultPolicy()
	p.ECEChannels = []policy.Channel{"email", "sms"}
	p.AcceptedVerifications["email"] = []policy.Verification{"email_doi", "written"}
	p.ConsentMaxIdleDays = policy.LimitDays(730)
	p.ThirdPartyPostalAllowed = false
	want := policyjson.Item{
		ID:      json.RawMessage(`"lead-42"`),
		Request: policy.Request{Purpose: "contract", Channel: "email"},
		Facts: policy.Facts{
			AsOf: day("2026-03-01"), Audience: "b2c", Relationship: "customer", DataSource: "self_provided",
			Consents: []policy.ConsentRecord{{
				ID: "c1", Purpose: "direct_marketing", Channels: []policy.Channel{"email", "sms"}, Status: "confirmed",
				GivenAt: day("2025-06-01"), ConfirmedAt: day("2025-06-02"), LastUsedAt: day("2026-01-15"),
				Verification: "email_doi", EvidenceRecorded: true, CollectedBy: "self", ExplicitSpecialCategory: true,
			}},
			Objections: []policy.Objection{
				{Type: "analytics", Channels: []policy.Channel{"web"}, At: day("2025-09-01")},
				{Type: "direct_marketing"},
			},
			ExistingCustomer:    policy.ExistingCustomer{AddressFromSale: true, OwnSimilarOffer: true, NoticeAtCollection: true, LastPurchaseAt: day("2025-12-24")},
			B2BPresumedConsent:  policy.PresumedConsent{Present: true, Basis: "called us"},
			SupplierNoticeGiven: true,
			ContractActive:      true,
			InboundRequest:      policy.InboundRequest{Open: true, ReplyChannels: []policy.Channel{"email", "phone"}},
			OpenRightsRequest:   true,
			Restriction:         policy.Restriction{Since: day("2026-01-01"), Ground: "legal_claims"},
			Erasure:             policy.Erasure{Status: "requested", At: day("2026-02-28")},
			RetentionDuty:       policy.RetentionDuty{Applies: true, Until: day("2034-12-31"), Basis: "HGB §257(4)"},
			Processing:          policy.Processing{ContainsAdvertising: true, SpecialCategoryData: true, DeviceAccess: true, StrictlyNecessary: true, AnalyticsMode: "pseudonymized"},
			Policy:              &p,
		},
	}
	if !reflect.DeepEqual(it, want) {
		t.Errorf("DecodeItem =\n%+v\nwant\n%+v", it, want)
	}
}

func TestDecodeDefaults(t *testing.T) {
	t.Parallel()
	it, err := policyjson.DecodeItem([]byte(`{"facts":{"as_of":"2026-03-01","audience":"b2b","relationship":"prospect",
		"consents":null,"objections":[{"type":"direct_marketing","channels":null}],"processing":null,"existing_customer":{}},
		"request":{"purpose":"direct_marketing","channel":"post"}}`))
	if err != nil {
		t.Fatal(err)
	}
	f := it.Facts
	if it.ID != nil || f.Policy != nil || f.DataSource != "" || f.Consents != nil || len(f.Objections) != 1 || f.Objections[0].Channels != nil ||
		f.Processing != (policy.Processing{}) || f.ExistingCustomer != (policy.ExistingCustomer{}) {
		t.Errorf("defaults not applied: %+v", it)
	}
	// The unscoped objection means any channel (§4.3).
	d, err := policyjson.Evaluate(it)
	if err != nil || d.Allowed || !slices.Equal(d.Reasons, []policy.Reason{"marketing_objection"}) {
		t.Errorf("decision = %+v, %v", d, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	const okFacts = `"as_of":"2026-03-01","audience":"b2c","relationship":"prospect"`
	const okReq = `"request":{"purpose":"direct_marketing","channel":"email"}`
	item := func(factsBody string) string { return `{"facts":{` + okFacts + factsBody + `},` + okReq + `}` }
	cases := []struct {
		name, in, code, field, msgHas string
	}{
		{"malformed JSON", `{"facts":`, "invalid_json", "", "malformed JSON"},
		{"not an object", `[1,2]`, "invalid_json", "", "object"},
		{"a bare string", `"hello"`, "invalid_json", "", "object"},
		{"request missing", `{"facts":{` + okFacts + `}}`, "invalid_request", "request", "required"},
		{"request not an object", `{"facts":{` + okFacts + `},"request":"direct_marketing"}`, "invalid_request", "request", "object"},
		{"purpose wrongly typed", `{"facts":{` + okFacts + `},"request":{"purpose":1,"channel":"email"}}`, "invalid_request", "request.purpose", "string"},
		{"§1 fax channel", `{"facts":{` + okFacts + `},"request":{"purpose":"direct_marketing","channel":"fax"}}`, "invalid_request", "request.channel", "email, sms, phone, post"},
		{"request checked before facts", `{"facts":5,"request":{"purpose":"analytics","channel":"post"}}`, "invalid_request", "request.channel", "web, email"},
		{"facts missing", `{` + okReq + `}`, "invalid_facts", "facts", "required"},
		{"facts not an object", `{"facts":[],` + okReq + `}`, "invalid_facts", "facts", "object"},
		{"as_of missing", `{"facts":{"audience":"b2c","relationship":"prospect"},` + okReq + `}`, "invalid_facts", "facts.as_of", "required"},
		{"as_of invalid month", `{"facts":{"as_of":"2026-13-01","audience":"b2c","relationship":"prospect"},` + okReq + `}`, "invalid_facts", "facts.as_of", "2026-13-01"},
		{"as_of a number", `{"facts":{"as_of":20260301,"audience":"b2c","relationship":"prospect"},` + okReq + `}`, "invalid_facts", "facts.as_of", "string"},
		{"as_of empty", `{"facts":{"as_of":"","audience":"b2c","relationship":"prospect"},` + okReq + `}`, "invalid_facts", "facts.as_of", "date"},
		{"field names are case-sensitive", `{"facts":{"As_Of":"2026-03-01","audience":"b2c","relationship":"prospect"},` + okReq + `}`, "invalid_facts", "facts.as_of", "required"},
		{"audience xyz", `{"facts":{"as_of":"2026-03-01","audience":"xyz","relationship":"prospect"},` + okReq + `}`, "invalid_facts", "facts.audience", "b2c, b2b"},
		{"relationship null is missing", `{"facts":{"as_of":"2026-03-01","audience":"b2c","relationship":null},` + okReq + `}`, "invalid_facts", "facts.relationship", "required"},
		{"consents not an array", item(`,"consents":{}`), "invalid_facts", "facts.consents", "array"},
		{"consent not an object", item(`,"consents":[1]`), "invalid_facts", "facts.consents[0]", "object"},
		{"consent channels missing", item(`,"consents":[{"purpose":"direct_marketing","status":"confirmed","given_at":"2025-01-01"}]`), "invalid_facts", "facts.consents[0].channels", "required"},
		{"consent channels a string", item(`,"consents":[{"purpose":"direct_marketing","channels":"email","status":"confirmed","given_at":"2025-01-01"}]`), "invalid_facts", "facts.consents[0].channels", "array"},
		{"consent channel a number", item(`,"consents":[{"purpose":"direct_marketing","channels":[3],"status":"confirmed","given_at":"2025-01-01"}]`), "invalid_facts", "facts.consents[0].channels[0]", "string"},
		{"consent channel fax", item(`,"consents":[{"purpose":"direct_marketing","channels":["email","fax"],"status":"confirmed","given_at":"2025-01-01"}]`), "invalid_facts", "facts.consents[0].channels[1]", "email, sms"},
		{"consent status maybe", item(`,"consents":[{"purpose":"direct_marketing","channels":["email"],"status":"maybe","given_at":"2025-01-01"}]`), "invalid_facts", "facts.consents[0].status", "pending, confirmed, withdrawn"},
		{"consent given_at missing", item(`,"consents":[{"purpose":"direct_marketing","channels":["email"],"status":"confirmed"}]`), "invalid_facts", "facts.consents[0].given_at", "required"},
		{"consent date invalid", item(`,"consents":[{"purpose":"direct_marketing","channels":["email"],"status":"confirmed","given_at":"2025-02-30"}]`), "invalid_facts", "facts.consents[0].given_at", "2025-02-30"},
		{"consent bool as string", item(`,"consents":[{"purpose":"direct_marketing","channels":["email"],"status":"confirmed","given_at":"2025-01-01","evidence_recorded":"true"}]`), "invalid_facts", "facts.consents[0].evidence_recorded", "true or false"},
		{"second consent reported with its index", item(`,"consents":[{"purpose":"direct_marketing","channels":["email"],"status":"confirmed","given_at":"2025-01-01"},{"purpose":"newsletter","channels":["email"],"status":"confirmed","given_at":"2025-01-01"}]`), "invalid_facts", "facts.consents[1].purpose", "direct_marketing, analytics, personalization"},
		{"objection channel fax", item(`,"objections":[{"type":"direct_marketing","channels":["fax"]}]`), "invalid_facts", "facts.objections[0].channels[0]", "any"},
		{"objection type missing", item(`,"objections":[{"channels":["any"]}]`), "invalid_facts", "facts.objections[0].type", "required"},
		{"existing_customer not an object", item(`,"existing_customer":true`), "invalid_facts", "facts.existing_customer", "object"},
		{"presumed consent basis a number", item(`,"b2b_presumed_consent":{"present":true,"basis":5}`), "invalid_facts", "facts.b2b_presumed_consent.basis", "string"},
		{"contract_active a number", item(`,"contract_active":1`), "invalid_facts", "facts.contract_active", "true or false"},
		{"reply channel any", item(`,"inbound_request":{"open":true,"reply_channels":["any"]}`), "invalid_facts", "facts.inbound_request.reply_channels[0]", "email"},
		{"restriction ground", item(`,"restriction":{"active":true,"ground":"whim"}`), "invalid_facts", "facts.restriction.ground", "objection_pending"},
		{"erasure status", item(`,"erasure":{"status":"done"}`), "invalid_facts", "facts.erasure.status", "none, requested, executed"},
		{"retention until invalid", item(`,"retention_duty":{"applies":true,"until":"2030-00-01"}`), "invalid_facts", "facts.retention_duty.until", "YYYY-MM-DD"},
		{"analytics_mode", item(`,"processing":{"analytics_mode":"aggregate"}`), "invalid_facts", "facts.processing.analytics_mode", "identified, pseudonymized, anonymous"},
		{"policy not an object", item(`,"policy":[]`), "invalid_facts", "facts.policy", "object"},
		{"policy BGH I ZR 164/09 email_doi for phone", item(`,"policy":{"accepted_verifications":{"phone":["email_doi"]}}`), "invalid_facts", "facts.policy.accepted_verifications.phone", "BGH I ZR 164/09"},
		{"policy unknown verification", item(`,"policy":{"accepted_verifications":{"sms":["pigeon"]}}`), "invalid_facts", "facts.policy.accepted_verifications.sms", "sms_doi"},
		{"policy verification not a string", item(`,"policy":{"accepted_verifications":{"sms":[1]}}`), "invalid_facts", "facts.policy.accepted_verifications.sms[0]", "string"},
		{"policy unknown channel key", item(`,"policy":{"accepted_verifications":{"fax":["written"]}}`), "invalid_facts", "facts.policy.accepted_verifications.fax", "email"},
		{"policy days as string", item(`,"policy":{"consent_max_idle_days":"730"}`), "invalid_facts", "facts.policy.consent_max_idle_days", "whole number"},
		{"policy days fractional", item(`,"policy":{"consent_age_warning_days":1.5}`), "invalid_facts", "facts.policy.consent_age_warning_days", "whole number"},
		{"policy days negative", item(`,"policy":{"ece_max_days_since_last_purchase":-1}`), "invalid_facts", "facts.policy.ece_max_days_since_last_purchase", "whole number"},
		{"policy ece_channels phone", item(`,"policy":{"ece_channels":["phone"]}`), "invalid_facts", "facts.policy.ece_channels", "email, sms"},
		{"policy bool as string", item(`,"policy":{"later_consent_lifts_objection":"no"}`), "invalid_facts", "facts.policy.later_consent_lifts_objection", "true or false"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := policyjson.DecodeItem([]byte(c.in))
			var ve *policy.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *policy.ValidationError", err)
			}
			if ve.Code != c.code || ve.Field != c.field || !strings.Contains(ve.Message, c.msgHas) {
				t.Errorf("got %s %q %q, want %s %q containing %q", ve.Code, ve.Field, ve.Message, c.code, c.field, c.msgHas)
			}
			// The one-shot evaluation reports the same error.
			res := policyjson.EvaluateJSON([]byte(c.in))
			if res.Err == nil || policyjson.ErrorOf(res.Err) != policyjson.ErrorOf(err) {
				t.Errorf("EvaluateJSON error = %v, want %v", res.Err, err)
			}
		})
	}
}

func TestDecodePolicyMerge(t *testing.T) {
	t.Parallel()
	p, err := policyjson.DecodePolicy(policy.DefaultPolicy(), []byte(`{"accepted_verifications":{"email":["written"],"web":["consent_banner"],"sms":null},
		"consent_max_idle_days":null,"consent_age_warning_days":null,"withdrawal_counts_as_objection":false,"accept_third_party_consents":null,"unknown_key":1}`))
	if err != nil {
		t.Fatal(err)
	}
	av := p.AcceptedVerifications
	if !slices.Equal(av["email"], []policy.Verification{"written"}) || !slices.Equal(av["web"], []policy.Verification{"consent_banner"}) ||
		!slices.Equal(av["phone"], []policy.Verification{"sms_doi", "written", "voice_recording"}) {
		t.Errorf("accepted_verifications = %v", av)
	}
	if _, ok := av["sms"]; ok {
		t.Error("null must remove the sms check")
	}
	if p.ConsentAgeWarningDays.On || p.ConsentMaxIdleDays.On || p.WithdrawalCountsAsObjection || p.AcceptThirdPartyConsents || !p.LaterConsentLiftsObjection {
		t.Errorf("policy = %+v", p)
	}
	// The base is not modified by the merge.
	base := policy.DefaultPolicy()
	if _, err := policyjson.DecodePolicy(base, []byte(`{"accepted_verifications":{"email":["written"]}}`)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(base.AcceptedVerifications["email"], []policy.Verification{"email_doi"}) {
		t.Error("DecodePolicy changed its base")
	}
}

// TestPolicyOverrideDecisions runs the §5 switches through the wire format.
func TestPolicyOverrideDecisions(t *testing.T) {
	t.Parallel()
	const consentWritten = `"consents":[{"purpose":"direct_marketing","channels":["email","sms"],"status":"confirmed","given_at":"2025-06-01","confirmed_at":"2025-06-01","verification":"written","evidence_recorded":true}]`
	cases := []struct {
		name, facts, channel string
		allowed              bool
		first                policy.Reason
		plainVersion         bool
	}{
		{"BGH I ZR 164/09 written consent rejected for e-mail by default", consentWritten, "email", false, "no_consent", true},
		{"BGH I ZR 164/09 accepted_verifications email override", consentWritten + `,"policy":{"accepted_verifications":{"email":["written"]}}`, "email", true, "consent_valid", false},
		{"BGH I ZR 164/09 e-mail override keeps sms at sms_doi", consentWritten + `,"policy":{"accepted_verifications":{"email":["written"]}}`, "sms", false, "no_consent", false},
		{"GDPR Art. 7(1) null removes the sms check", consentWritten + `,"policy":{"accepted_verifications":{"sms":null}}`, "sms", true, "consent_valid", false},
		{"an empty override keeps the plain version", consentWritten + `,"policy":{}`, "email", false, "no_consent", true},
		{"LG München I 17 HK O 138/10 consent_max_idle_days", `"consents":[{"purpose":"direct_marketing","channels":["email"],"status":"confirmed","given_at":"2023-01-01","verification":"email_doi","evidence_recorded":true}],"policy":{"consent_max_idle_days":730}`, "email", false, "no_consent", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := `{"facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"prospect",` + c.facts + `},"request":{"purpose":"direct_marketing","channel":"` + c.channel + `"}}`
			res := policyjson.EvaluateJSON([]byte(in))
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			d := res.Decision
			if d.Allowed != c.allowed || d.Reasons[0] != c.first {
				t.Errorf("decision %v %v, want %v %s", d.Allowed, d.Reasons, c.allowed, c.first)
			}
			if (d.PolicyVersion == policy.Version) != c.plainVersion || !strings.HasPrefix(d.PolicyVersion, policy.Version) {
				t.Errorf("policy_version = %q", d.PolicyVersion)
			}
		})
	}
}
