package policy_test

import (
	"slices"
	"testing"

	"github.com/fairlead/fairlead/internal/policy"
)

func TestCatalogueHas12AllowAnd34DenyCodes(t *testing.T) {
	t.Parallel()
	cat := policy.Catalogue()
	var allow, deny int
	seen := map[policy.Reason]bool{}
	for i, r := range cat {
		if seen[r.Code] {
			t.Errorf("duplicate code %s", r.Code)
		}
		seen[r.Code] = true
		if r.Allow {
			allow++
			if i >= 12 {
				t.Errorf("allow code %s after the deny codes", r.Code)
			}
		} else {
			deny++
			if len(r.LegalBases)+len(r.ConditionalBases) > 0 {
				t.Errorf("deny code %s has legal bases", r.Code)
			}
		}
		if r.Allow && len(r.LegalBases) == 0 && r.Code != policy.ReasonAnonymousData {
			t.Errorf("allow code %s has no legal basis", r.Code)
		}
		if len(r.LegalRefs) == 0 && r.Code != policy.ReasonECEPurchaseTooOld {
			t.Errorf("code %s has no legal reference", r.Code)
		}
		switch r.Status {
		case policy.StatusLaw, policy.StatusCase, policy.StatusContested, policy.StatusPolicy:
		default:
			t.Errorf("code %s has status %q", r.Code, r.Status)
		}
		if r.Meaning == "" || r.StatusNote == "" {
			t.Errorf("code %s lacks meaning or status note", r.Code)
		}
		if r.Code.Allows() != r.Allow || !r.Code.Known() {
			t.Errorf("code %s: Allows/Known disagree with the catalogue", r.Code)
		}
	}
	if allow != 12 || deny != 34 || len(cat) != 46 {
		t.Errorf("catalogue has %d allow and %d deny codes (%d total), want 12 and 34", allow, deny, len(cat))
	}
	if policy.Reason("fax_consent").Known() || policy.Reason("fax_consent").Allows() {
		t.Error("unknown code reported as known")
	}
}

func TestCatalogueLegalReferences(t *testing.T) {
	t.Parallel()
	// Spot checks against the "legal reference" column of §8, split at ";".
	want := map[policy.Reason][]string{
		policy.ReasonNoConsent:                    {"GDPR Art. 6(1)(a)", "UWG §7(2) Nr. 1-2"},
		policy.ReasonECENoticeMissingAtCollection: {"UWG §7(3) Nr. 4"},
		policy.ReasonConsentValid:                 {"GDPR Art. 6(1)(a), 7", "UWG §7(2) Nr. 1-2 (email/sms/phone)", "TDDDG §25(1) (device access)", "GDPR Art. 9(2)(a) (special categories)"},
		policy.ReasonLegalRetentionDuty:           {"GDPR Art. 6(1)(c), 17(3)(b)", "HGB §257", "AO §147", "UWG §7a(2)", "BDSG §35(3)"},
		policy.ReasonDeviceAccessRequiresConsent:  {"TDDDG §25(1)", "Directive 2002/58/EC Art. 5(3)", "CJEU C-673/17", "BGH I ZR 7/16"},
		policy.ReasonECEPurchaseTooOld:            nil,
		policy.ReasonConsentStale:                 {"LG München I 17 HK O 138/10", "AG München 161 C 12736/22 (contra BGH III ZR 196/17)"},
	}
	for code, refs := range want {
		info, ok := policy.LookupReason(code)
		if !ok {
			t.Fatalf("%s missing", code)
		}
		if !slices.Equal(info.LegalRefs, refs) {
			t.Errorf("%s refs = %q, want %q", code, info.LegalRefs, refs)
		}
	}
	info, _ := policy.LookupReason(policy.ReasonConsentValid)
	if !slices.Equal(info.LegalBases, B("art6_1_a")) || !slices.Equal(info.ConditionalBases, B("art9_2_a", "tdddg_25_1")) {
		t.Errorf("consent_valid bases = %v + %v", info.LegalBases, info.ConditionalBases)
	}
	if _, ok := policy.LookupReason("nope"); ok {
		t.Error("LookupReason found an unknown code")
	}
}

func TestCatalogueIsACopy(t *testing.T) {
	t.Parallel()
	cat := policy.Catalogue()
	cat[0].LegalRefs[0] = "changed"
	cat[0].Code = "changed"
	again := policy.Catalogue()
	if again[0].Code != policy.ReasonConsentValid || again[0].LegalRefs[0] != "GDPR Art. 6(1)(a), 7" {
		t.Error("Catalogue shares state with its callers")
	}
}

func TestObligationAndWarningCatalogues(t *testing.T) {
	t.Parallel()
	if n := len(policy.ObligationCatalogue()); n != 10 {
		t.Errorf("%d obligations, want 10", n)
	}
	if n := len(policy.WarningCatalogue()); n != 3 {
		t.Errorf("%d warnings, want 3", n)
	}
}

// TestEveryCodeIsProduced runs every table case and requires that each of
// the 46 reason codes, each obligation and each warning of §9 occurs in at
// least one decision.
func TestEveryCodeIsProduced(t *testing.T) {
	t.Parallel()
	reasons := map[policy.Reason]int{}
	obligations := map[string]int{}
	warnings := map[string]int{}
	tablesMu.Lock()
	defer tablesMu.Unlock()
	if len(tables) < 8 {
		t.Fatalf("only %d tables registered", len(tables))
	}
	for _, cases := range tables {
		for _, c := range cases {
			d, err := policy.Decide(c.facts, c.req)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			for _, r := range d.Reasons {
				if !r.Known() {
					t.Errorf("%s: unknown code %s", c.name, r)
				}
				reasons[r]++
			}
			for _, o := range d.Obligations {
				obligations[string(o)]++
			}
			for _, w := range d.Warnings {
				warnings[string(w)]++
			}
		}
	}
	for _, info := range policy.Catalogue() {
		if reasons[info.Code] == 0 {
			t.Errorf("reason code %s is produced by no test case", info.Code)
		}
	}
	for _, o := range policy.ObligationCatalogue() {
		if obligations[o.Code] == 0 {
			t.Errorf("obligation %s is produced by no test case", o.Code)
		}
	}
	for _, w := range policy.WarningCatalogue() {
		if warnings[w.Code] == 0 {
			t.Errorf("warning %s is produced by no test case", w.Code)
		}
	}
}
