package policyjson_test

import (
	"encoding/json"
	"testing"

	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/policy/policyjson"
)

// seedLines are realistic input lines; they seed the fuzzer and the round
// trip test.
var seedLines = []string{
	spec6Line,
	`{"id":"c-1","facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"prospect","consents":[{"purpose":"direct_marketing","channels":["email"],"status":"confirmed","given_at":"2025-06-01","confirmed_at":"2025-06-01T08:00:00Z","verification":"email_doi","evidence_recorded":true}]},"request":{"purpose":"direct_marketing","channel":"email"}}`,
	`{"id":2,"facts":{"as_of":"2026-03-01","audience":"b2b","relationship":"prospect","b2b_presumed_consent":{"present":true,"basis":"asked for a call"}},"request":{"purpose":"direct_marketing","channel":"phone"}}`,
	`{"id":3,"facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"customer","contract_active":true,"processing":{"contains_advertising":true},"existing_customer":{"address_from_sale":true,"own_similar_offer":true,"notice_at_collection":true,"notice_in_message":true}},"request":{"purpose":"contract","channel":"email"}}`,
	`{"id":4,"facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"prospect","consents":[{"purpose":"direct_marketing","channels":["email"],"status":"withdrawn","given_at":"2024-01-01","withdrawn_at":"2025-01-01"},{"purpose":"direct_marketing","channels":["email"],"status":"pending","given_at":"2025-06-01"}],"objections":[{"type":"direct_marketing","channels":["any"],"at":"2024-06-01"}]},"request":{"purpose":"consent_confirmation","channel":"email"}}`,
	`{"id":5,"facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"prospect","processing":{"device_access":true,"analytics_mode":"pseudonymized"},"consents":[{"purpose":"analytics","channels":["web"],"status":"confirmed","given_at":"2025-06-01","verification":"consent_banner","evidence_recorded":true}]},"request":{"purpose":"analytics","channel":"web"}}`,
	`{"id":6,"facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"customer","processing":{"special_category_data":true},"consents":[{"purpose":"personalization","channels":["none"],"status":"confirmed","given_at":"2025-06-01","evidence_recorded":true,"explicit_special_category":true}]},"request":{"purpose":"personalization","channel":"none"}}`,
	`{"id":7,"facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"customer","retention_duty":{"applies":true,"until":"2025-12-31"},"erasure":{"status":"executed"}},"request":{"purpose":"legal_retention","channel":"none"}}`,
	`{"id":8,"facts":{"as_of":"2026-03-01","audience":"b2b","relationship":"supplier","supplier_notice_given":true,"data_source":"third_party","policy":{"third_party_postal_allowed":false}},"request":{"purpose":"direct_marketing","channel":"post"}}`,
	`{"id":9,"facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"customer","existing_customer":{"address_from_sale":true,"own_similar_offer":true,"notice_at_collection":true,"notice_in_message":true,"last_purchase_at":"2024-01-01"},"policy":{"ece_channels":["email","sms"],"ece_max_days_since_last_purchase":365,"accepted_verifications":{"email":["email_doi","written"],"sms":null},"consent_max_idle_days":730}},"request":{"purpose":"direct_marketing","channel":"sms"}}`,
	`{"id":10,"facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"prospect","inbound_request":{"open":true,"reply_channels":["phone"]},"restriction":{"active":true,"ground":"accuracy_contested"}},"request":{"purpose":"inquiry_reply","channel":"phone"}}`,
	`{"id":11,"facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"prospect","open_rights_request":true,"erasure":{"status":"requested"}},"request":{"purpose":"rights_response","channel":"post"}}`,
	`{"facts":{"as_of":"2026-13-01","audience":"xyz","relationship":"prospect"},"request":{"purpose":"direct_marketing","channel":"fax"}}`,
	`{"id":[],"facts":{"as_of":"2026-03-01","audience":"b2c","relationship":"prospect","consents":[{"purpose":"direct_marketing","channels":["email"],"status":"maybe","given_at":"2025-06-01"}]},"request":{"purpose":"direct_marketing","channel":"email"}}`,
	`not json`,
	`[{"id":1}]`,
	``,
}

// FuzzDecodeAndDecide feeds arbitrary lines to the wire format: it must
// never panic; an invalid line gives an error with a known code, a valid one
// a decision whose reasons are catalogue codes and whose first reason's
// allow/deny class matches Allowed; encoding the result gives valid JSON.
func FuzzDecodeAndDecide(f *testing.F) {
	for _, s := range seedLines {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res := policyjson.EvaluateJSON(data)
		if res.Err != nil {
			switch e := policyjson.ErrorOf(res.Err); e.Code {
			case policy.CodeInvalidFacts, policy.CodeInvalidRequest, policyjson.CodeInvalidJSON:
				if e.Message == "" {
					t.Fatalf("error without message: %+v", e)
				}
			default:
				t.Fatalf("unexpected error code %q", e.Code)
			}
		} else {
			d := res.Decision
			if len(d.Reasons) == 0 {
				t.Fatal("decision without reasons")
			}
			for _, r := range d.Reasons {
				if !r.Known() {
					t.Fatalf("unknown reason %q", r)
				}
			}
			if d.Reasons[0].Allows() != d.Allowed {
				t.Fatalf("allowed=%v but first reason %s", d.Allowed, d.Reasons[0])
			}
			if !d.Allowed && len(d.LegalBases) > 0 {
				t.Fatalf("deny with legal bases %v", d.LegalBases)
			}
			// Deterministic: deciding the decoded item again gives the same.
			it, err := policyjson.DecodeItem(data)
			if err != nil {
				t.Fatalf("DecodeItem failed after EvaluateJSON succeeded: %v", err)
			}
			again, err := policyjson.Evaluate(it)
			if err != nil || again.Allowed != d.Allowed || len(again.Reasons) != len(d.Reasons) || again.PolicyVersion != d.PolicyVersion {
				t.Fatalf("not deterministic: %+v vs %+v (%v)", again, d, err)
			}
		}
		b, err := json.Marshal(res)
		if err != nil || !json.Valid(b) {
			t.Fatalf("result does not encode: %v %s", err, b)
		}
	})
}
