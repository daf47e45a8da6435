package consentrecord

import (
	"sort"
	"strings"
)

// Profile and namespace IRIs.
const (
	// RecordProfile is the DPVCG profile for consent records conforming
	// with ISO/IEC TS 27560:2023 (https://w3id.org/dpv/schema/dpv-27560).
	RecordProfile = "https://w3id.org/dpv/schema/dpv-27560#record"
	// ExtensionNamespace is the namespace of the few terms the DPV profile
	// has no field for (prefix "fairlead"): channel and textShown. It points
	// at this package's documentation.
	ExtensionNamespace = "https://pkg.go.dev/github.com/fairlead/fairlead/internal/consentrecord#"
	// ReceiptSummaryProfile is fairlead's profile for the summary receipt
	// given to the person. The DPVCG defines no summary profile; this one
	// follows the summary example of the DPVCG guide (see the package
	// documentation).
	ReceiptSummaryProfile = ExtensionNamespace + "receipt-summary-v1"
)

// context maps the prefixes used in the output to their namespaces; it is
// written as the JSON-LD @context of every document.
var context = map[string]any{
	"dct":      "http://purl.org/dc/terms/",
	"dpv":      "https://w3id.org/dpv#",
	"eu-gdpr":  "https://w3id.org/dpv/legal/eu/gdpr#",
	"fairlead": ExtensionNamespace,
	"loc":      "https://w3id.org/dpv/loc#",
	"pd":       "https://w3id.org/dpv/pd#",
	"rdf":      "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
	"schema":   "https://schema.org/",
	"skos":     "http://www.w3.org/2004/02/skos/core#",
}

func contextPrefixes() []string { return strings.Split(keys(context), ", ") }

// lawfulBases maps the ledger's lawful basis codes to the DPV EU-GDPR
// extension. Only consent bases may appear in a consent record; the others
// are listed so the error can say why a code is refused.
var lawfulBases = map[string]struct {
	iri     string
	consent bool
}{
	"art6_1_a": {"eu-gdpr:A6-1-a", true},
	"art6_1_b": {"eu-gdpr:A6-1-b", false},
	"art6_1_c": {"eu-gdpr:A6-1-c", false},
	"art6_1_d": {"eu-gdpr:A6-1-d", false},
	"art6_1_e": {"eu-gdpr:A6-1-e", false},
	"art6_1_f": {"eu-gdpr:A6-1-f", false},
	"art9_2_a": {"eu-gdpr:A9-2-a", true},
}

// LegalBasisIRI returns the DPV concept of a lawful basis code such as
// "art6_1_a" (eu-gdpr:A6-1-a), and false for an unknown code.
func LegalBasisIRI(code string) (string, bool) {
	b, ok := lawfulBases[code]
	return b.iri, ok
}

// consentTypes maps the purpose's consent type to the DPV consent type
// written on given consent.
var consentTypes = map[string]string{
	"":          "dpv:ExpressedConsent",
	"expressed": "dpv:ExpressedConsent",
	"explicit":  "dpv:ExplicitlyExpressedConsent",
}

// purposeKinds maps the consent-based legal purpose kinds to DPV purpose
// categories.
var purposeKinds = map[string]string{
	"direct_marketing": "dpv:DirectMarketing",
	"analytics":        "dpv:ServiceUsageAnalytics",
	"personalization":  "dpv:ServicePersonalisation",
}

// dataConcepts maps the ledger's data category keys to DPV personal data
// concepts where the mapping is unambiguous.
var dataConcepts = map[string]string{
	"name":           "pd:Name",
	"email":          "pd:EmailAddress",
	"phone":          "pd:TelephoneNumber",
	"postal_address": "pd:PhysicalAddress",
}

var recipientRoles = map[string]string{
	"processor":   "dpv:DataProcessor",
	"third_party": "dpv:ThirdParty",
}

// defaultRights are the GDPR rights a person has over consent-based
// processing: withdrawal (Art. 7(3)), access, rectification, erasure,
// restriction, portability and objection.
var defaultRights = []string{"eu-gdpr:A7-3", "eu-gdpr:A15", "eu-gdpr:A16", "eu-gdpr:A17", "eu-gdpr:A18", "eu-gdpr:A20", "eu-gdpr:A21"}

// StatusConcept returns the DPV consent status concept of a status:
// dpv:ConsentRequested, dpv:ConsentGiven or dpv:ConsentWithdrawn.
func StatusConcept(s Status) (string, bool) {
	switch s {
	case StatusPending:
		return "dpv:ConsentRequested", true
	case StatusGiven:
		return "dpv:ConsentGiven", true
	case StatusWithdrawn:
		return "dpv:ConsentWithdrawn", true
	}
	return "", false
}

func keys[V any](m map[string]V) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}
