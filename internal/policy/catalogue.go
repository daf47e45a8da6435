package policy

// Reason is a reason code of §8. The set is closed: the engine emits no code
// that is not in the catalogue.
type Reason string

// Allow codes (§8).
const (
	ReasonConsentValid                      Reason = "consent_valid"
	ReasonExistingCustomerExemption         Reason = "existing_customer_exemption"
	ReasonB2BPresumedConsent                Reason = "b2b_presumed_consent"
	ReasonPostalLegitimateInterest          Reason = "postal_legitimate_interest"
	ReasonContractPerformance               Reason = "contract_performance"
	ReasonInquiryReply                      Reason = "inquiry_reply"
	ReasonRightsRequestResponse             Reason = "rights_request_response"
	ReasonDOIConfirmationRequest            Reason = "doi_confirmation_request"
	ReasonLegalRetentionDuty                Reason = "legal_retention_duty"
	ReasonAnonymousData                     Reason = "anonymous_data"
	ReasonPseudonymizedAnalyticsLegitimate  Reason = "pseudonymized_analytics_legitimate_interest"
	ReasonPersonalizationLegitimateInterest Reason = "personalization_legitimate_interest"
)

// Deny codes (§8).
const (
	ReasonErased                            Reason = "erased"
	ReasonErasureRequested                  Reason = "erasure_requested"
	ReasonProcessingRestricted              Reason = "processing_restricted"
	ReasonNoRetentionDuty                   Reason = "no_retention_duty"
	ReasonRetentionPeriodExpired            Reason = "retention_period_expired"
	ReasonNoRightsRequest                   Reason = "no_rights_request"
	ReasonNoContract                        Reason = "no_contract"
	ReasonNoInboundRequest                  Reason = "no_inbound_request"
	ReasonReplyChannelNotDesignated         Reason = "reply_channel_not_designated"
	ReasonNoPendingConsent                  Reason = "no_pending_consent"
	ReasonAdvertisingInServiceMessage       Reason = "advertising_in_service_message"
	ReasonMarketingObjection                Reason = "marketing_objection"
	ReasonProcessingObjection               Reason = "processing_objection"
	ReasonSpecialCategoryRequiresExplicit   Reason = "special_category_requires_explicit_consent"
	ReasonNoConsent                         Reason = "no_consent"
	ReasonConsentPendingDOI                 Reason = "consent_pending_doi"
	ReasonConsentWithdrawn                  Reason = "consent_withdrawn"
	ReasonConsentScopeMismatch              Reason = "consent_scope_mismatch"
	ReasonConsentInvalid                    Reason = "consent_invalid"
	ReasonConsentEvidenceMissing            Reason = "consent_evidence_missing"
	ReasonConsentVerificationInsufficient   Reason = "consent_verification_insufficient"
	ReasonConsentStale                      Reason = "consent_stale"
	ReasonThirdPartyConsentNotAccepted      Reason = "third_party_consent_not_accepted"
	ReasonECEChannelNotCovered              Reason = "ece_channel_not_covered"
	ReasonECEAddressNotFromSale             Reason = "ece_address_not_from_sale"
	ReasonECEOfferNotSimilar                Reason = "ece_offer_not_similar"
	ReasonECENoticeMissingAtCollection      Reason = "ece_notice_missing_at_collection"
	ReasonECENoticeMissingInMessage         Reason = "ece_notice_missing_in_message"
	ReasonECEPurchaseTooOld                 Reason = "ece_purchase_too_old"
	ReasonNoPresumedConsent                 Reason = "no_presumed_consent"
	ReasonSupplierNoticeMissing             Reason = "supplier_notice_missing"
	ReasonThirdPartyDataNotAccepted         Reason = "third_party_data_not_accepted"
	ReasonDeviceAccessRequiresConsent       Reason = "device_access_requires_consent"
	ReasonIdentifiedTrackingRequiresConsent Reason = "identified_tracking_requires_consent"
)

// Status is the legal status tag of §0.
type Status string

// Status tags.
const (
	StatusLaw       Status = "LAW"
	StatusCase      Status = "CASE"
	StatusContested Status = "CONTESTED"
	StatusPolicy    Status = "POLICY"
)

// LegalBasis is a legal basis an allow rests on (§6, §8).
type LegalBasis string

// Legal bases.
const (
	BasisConsent            LegalBasis = "art6_1_a"   // GDPR Art. 6(1)(a)
	BasisContract           LegalBasis = "art6_1_b"   // GDPR Art. 6(1)(b)
	BasisLegalObligation    LegalBasis = "art6_1_c"   // GDPR Art. 6(1)(c)
	BasisLegitimateInterest LegalBasis = "art6_1_f"   // GDPR Art. 6(1)(f)
	BasisExplicitConsent    LegalBasis = "art9_2_a"   // GDPR Art. 9(2)(a)
	BasisDeviceConsent      LegalBasis = "tdddg_25_1" // TDDDG §25(1)
)

// ReasonInfo describes one reason code for display and documentation.
type ReasonInfo struct {
	Code Reason
	// Allow is true for the 12 allow codes, false for the 34 deny codes.
	Allow   bool
	Meaning string
	// LegalRefs are the strings the code contributes to Decision.LegalRefs.
	LegalRefs []string
	// Status is the primary tag; StatusNote is the full status of §8, e.g.
	// "LAW (SMS: CONTESTED)".
	Status     Status
	StatusNote string
	// LegalBases are the bases an allow on this code always carries;
	// ConditionalBases are added when their condition holds (consent_valid:
	// art9_2_a for special-category data, tdddg_25_1 for device access).
	LegalBases       []LegalBasis
	ConditionalBases []LegalBasis
}

// rc is the internal index of a reason code; the order is that of §8.
type rc uint8

const (
	rcConsentValid rc = iota
	rcExistingCustomerExemption
	rcB2BPresumedConsent
	rcPostalLegitimateInterest
	rcContractPerformance
	rcInquiryReply
	rcRightsRequestResponse
	rcDOIConfirmationRequest
	rcLegalRetentionDuty
	rcAnonymousData
	rcPseudonymizedAnalytics
	rcPersonalizationLegitimateInterest
	rcErased
	rcErasureRequested
	rcProcessingRestricted
	rcNoRetentionDuty
	rcRetentionPeriodExpired
	rcNoRightsRequest
	rcNoContract
	rcNoInboundRequest
	rcReplyChannelNotDesignated
	rcNoPendingConsent
	rcAdvertisingInServiceMessage
	rcMarketingObjection
	rcProcessingObjection
	rcSpecialCategory
	rcNoConsent
	rcConsentPendingDOI
	rcConsentWithdrawn
	rcConsentScopeMismatch
	rcConsentInvalid
	rcConsentEvidenceMissing
	rcConsentVerificationInsufficient
	rcConsentStale
	rcThirdPartyConsentNotAccepted
	rcECEChannelNotCovered
	rcECEAddressNotFromSale
	rcECEOfferNotSimilar
	rcECENoticeMissingAtCollection
	rcECENoticeMissingInMessage
	rcECEPurchaseTooOld
	rcNoPresumedConsent
	rcSupplierNoticeMissing
	rcThirdPartyDataNotAccepted
	rcDeviceAccessRequiresConsent
	rcIdentifiedTrackingRequiresConsent
	numReasons
)

type reasonEntry struct {
	code       Reason
	allow      bool
	meaning    string
	refs       []string
	status     Status
	note       string
	bases      []LegalBasis
	condBases  []LegalBasis
	objections bool // allow on this code carries include_objection_notice
}

var (
	basesA  = []LegalBasis{BasisConsent}
	basesB  = []LegalBasis{BasisContract}
	basesC  = []LegalBasis{BasisLegalObligation}
	basesF  = []LegalBasis{BasisLegitimateInterest}
	basesBF = []LegalBasis{BasisContract, BasisLegitimateInterest}
)

// reasons is the §8 table. It is read-only; exported accessors hand out
// copies.
var reasons = [numReasons]reasonEntry{
	rcConsentValid: {ReasonConsentValid, true, "a valid consent covers purpose + channel",
		[]string{"GDPR Art. 6(1)(a), 7", "UWG §7(2) Nr. 1-2 (email/sms/phone)", "TDDDG §25(1) (device access)", "GDPR Art. 9(2)(a) (special categories)"},
		StatusLaw, "LAW", basesA, []LegalBasis{BasisExplicitConsent, BasisDeviceConsent}, false},
	rcExistingCustomerExemption: {ReasonExistingCustomerExemption, true, "all four UWG §7(3) conditions met",
		[]string{"UWG §7(3)", "GDPR Art. 6(1)(f), Recital 47"},
		StatusLaw, "LAW (SMS: CONTESTED)", basesF, nil, true},
	rcB2BPresumedConsent: {ReasonB2BPresumedConsent, true, "documented presumed consent of a non-consumer to a call",
		[]string{"UWG §7(2) Nr. 1 Alt. 2", "BGH I ZR 88/05", "GDPR Art. 6(1)(f)"},
		StatusLaw, "LAW/CASE", basesF, nil, true},
	rcPostalLegitimateInterest: {ReasonPostalLegitimateInterest, true, "addressed advertising letter under legitimate interest",
		[]string{"GDPR Art. 6(1)(f), Recital 47", "UWG §7(1)", "CJEU C-621/22"},
		StatusLaw, "LAW", basesF, nil, true},
	rcContractPerformance: {ReasonContractPerformance, true, "contract or pre-contractual communication",
		[]string{"GDPR Art. 6(1)(b)"},
		StatusLaw, "LAW", basesB, nil, false},
	rcInquiryReply: {ReasonInquiryReply, true, "answer to the person's own request on a designated channel",
		[]string{"GDPR Art. 6(1)(b) (steps at the person's request) or 6(1)(f)"},
		StatusLaw, "LAW", basesBF, nil, false},
	rcRightsRequestResponse: {ReasonRightsRequestResponse, true, "answer to a data-subject request",
		[]string{"GDPR Art. 12(3), 6(1)(c)"},
		StatusLaw, "LAW", basesC, nil, false},
	rcDOIConfirmationRequest: {ReasonDOIConfirmationRequest, true, "ad-free DOI confirmation request for a pending sign-up",
		[]string{"GDPR Art. 7(1), 6(1)(f)", "BGH I ZR 164/09", "OLG Celle 13 U 15/14"},
		StatusContested, "CONTESTED", basesF, nil, false},
	rcLegalRetentionDuty: {ReasonLegalRetentionDuty, true, "storage required by a retention duty",
		[]string{"GDPR Art. 6(1)(c), 17(3)(b)", "HGB §257", "AO §147", "UWG §7a(2)", "BDSG §35(3)"},
		StatusLaw, "LAW", basesC, nil, false},
	rcAnonymousData: {ReasonAnonymousData, true, "no personal data, no device access",
		[]string{"GDPR Recital 26"},
		StatusLaw, "LAW", nil, nil, false},
	rcPseudonymizedAnalytics: {ReasonPseudonymizedAnalyticsLegitimate, true, "pseudonymized measurement without device access, no objection",
		[]string{"GDPR Art. 6(1)(f), 21(1)"},
		StatusPolicy, "POLICY", basesF, nil, true},
	rcPersonalizationLegitimateInterest: {ReasonPersonalizationLegitimateInterest, true, "non-sensitive personalization from own customer data",
		[]string{"GDPR Art. 6(1)(f), Recital 47, Art. 21(2)"},
		StatusPolicy, "POLICY", basesF, nil, true},

	rcErased: {ReasonErased, false, "erasure executed",
		[]string{"GDPR Art. 17(1)"}, StatusLaw, "LAW", nil, nil, false},
	rcErasureRequested: {ReasonErasureRequested, false, "erasure pending; optional processing stopped",
		[]string{"GDPR Art. 17, 12(3)"}, StatusPolicy, "POLICY", nil, nil, false},
	rcProcessingRestricted: {ReasonProcessingRestricted, false, "Art. 18 restriction active",
		[]string{"GDPR Art. 18(2)"}, StatusLaw, "LAW", nil, nil, false},
	rcNoRetentionDuty: {ReasonNoRetentionDuty, false, "no retention duty applies",
		[]string{"GDPR Art. 5(1)(e), 17(1)(a)"}, StatusLaw, "LAW", nil, nil, false},
	rcRetentionPeriodExpired: {ReasonRetentionPeriodExpired, false, "retention period over; delete",
		[]string{"GDPR Art. 5(1)(e)", "HGB §257(4)-(5)", "AO §147(3)-(4)"}, StatusLaw, "LAW", nil, nil, false},
	rcNoRightsRequest: {ReasonNoRightsRequest, false, "no pending data-subject request",
		[]string{"GDPR Art. 5(1)(b)"}, StatusLaw, "LAW", nil, nil, false},
	rcNoContract: {ReasonNoContract, false, "no contract / pre-contractual relation",
		[]string{"GDPR Art. 6(1)(b)"}, StatusLaw, "LAW", nil, nil, false},
	rcNoInboundRequest: {ReasonNoInboundRequest, false, "nothing to reply to",
		[]string{"UWG §7(2) Nr. 1-2", "GDPR Art. 6(1)"}, StatusLaw, "LAW", nil, nil, false},
	rcReplyChannelNotDesignated: {ReasonReplyChannelNotDesignated, false, "reply on a channel the person did not use or designate",
		[]string{"UWG §7(2) Nr. 1-2"}, StatusPolicy, "POLICY", nil, nil, false},
	rcNoPendingConsent: {ReasonNoPendingConsent, false, "confirmation request without pending sign-up",
		[]string{"UWG §7(2) Nr. 2"}, StatusLaw, "LAW", nil, nil, false},
	rcAdvertisingInServiceMessage: {ReasonAdvertisingInServiceMessage, false, "service message carries unrequested advertising without marketing basis",
		[]string{"BGH VI ZR 134/15", "BGH VI ZR 225/17", "UWG §7(2) Nr. 2, §7(3)"}, StatusCase, "CASE", nil, nil, false},
	rcMarketingObjection: {ReasonMarketingObjection, false, "objection to direct marketing (Werbewiderspruch / Werbesperre)",
		[]string{"GDPR Art. 21(2)-(3)", "UWG §7(3) Nr. 3, §7(1) S. 2"}, StatusLaw, "LAW", nil, nil, false},
	rcProcessingObjection: {ReasonProcessingObjection, false, "Art. 21(1) objection to measurement",
		[]string{"GDPR Art. 21(1)"}, StatusLaw, "LAW (no automated override: POLICY)", nil, nil, false},
	rcSpecialCategory: {ReasonSpecialCategoryRequiresExplicit, false, "Art. 9 data without explicit consent",
		[]string{"GDPR Art. 9(1), 9(2)(a)", "CJEU C-21/23"}, StatusLaw, "LAW", nil, nil, false},
	rcNoConsent: {ReasonNoConsent, false, "consent required but none valid",
		[]string{"GDPR Art. 6(1)(a)", "UWG §7(2) Nr. 1-2"}, StatusLaw, "LAW", nil, nil, false},
	rcConsentPendingDOI: {ReasonConsentPendingDOI, false, "DOI not yet confirmed",
		[]string{"GDPR Art. 7(1)", "BGH I ZR 164/09"}, StatusCase, "CASE", nil, nil, false},
	rcConsentWithdrawn: {ReasonConsentWithdrawn, false, "latest covering record is a withdrawal",
		[]string{"GDPR Art. 7(3)"}, StatusLaw, "LAW", nil, nil, false},
	rcConsentScopeMismatch: {ReasonConsentScopeMismatch, false, "consents exist, none for this purpose+channel",
		[]string{"GDPR Art. 4(11), 6(1)(a)", "BGH I ZR 7/16"}, StatusLaw, "LAW", nil, nil, false},
	rcConsentInvalid: {ReasonConsentInvalid, false, "pre-ticked or coupled",
		[]string{"GDPR Art. 4(11), 7(4), Recitals 32, 43", "CJEU C-673/17", "BGH I ZR 7/16"}, StatusLaw, "LAW (coupling: CONTESTED)", nil, nil, false},
	rcConsentEvidenceMissing: {ReasonConsentEvidenceMissing, false, "consent cannot be demonstrated",
		[]string{"GDPR Art. 7(1)", "UWG §7a(1)", "BGH I ZR 164/09"}, StatusLaw, "LAW", nil, nil, false},
	rcConsentVerificationInsufficient: {ReasonConsentVerificationInsufficient, false, "verification method not accepted for this channel",
		[]string{"BGH I ZR 164/09"}, StatusCase, "CASE + POLICY", nil, nil, false},
	rcConsentStale: {ReasonConsentStale, false, "consent idle longer than configured",
		[]string{"LG München I 17 HK O 138/10", "AG München 161 C 12736/22 (contra BGH III ZR 196/17)"}, StatusPolicy, "POLICY", nil, nil, false},
	rcThirdPartyConsentNotAccepted: {ReasonThirdPartyConsentNotAccepted, false, "consent collected by a third party",
		[]string{"GDPR Art. 7(1)", "BGH I ZR 7/16"}, StatusPolicy, "POLICY", nil, nil, false},
	rcECEChannelNotCovered: {ReasonECEChannelNotCovered, false, "ECE not applied on this channel",
		[]string{"UWG §7(3)"}, StatusContested, "CONTESTED/POLICY", nil, nil, false},
	rcECEAddressNotFromSale: {ReasonECEAddressNotFromSale, false, "§7(3) Nr. 1 not met",
		[]string{"UWG §7(3) Nr. 1"}, StatusLaw, "LAW", nil, nil, false},
	rcECEOfferNotSimilar: {ReasonECEOfferNotSimilar, false, "§7(3) Nr. 2 not met",
		[]string{"UWG §7(3) Nr. 2"}, StatusLaw, "LAW", nil, nil, false},
	rcECENoticeMissingAtCollection: {ReasonECENoticeMissingAtCollection, false, "§7(3) Nr. 4 (collection) not met",
		[]string{"UWG §7(3) Nr. 4"}, StatusLaw, "LAW", nil, nil, false},
	rcECENoticeMissingInMessage: {ReasonECENoticeMissingInMessage, false, "§7(3) Nr. 4 (each use) not met",
		[]string{"UWG §7(3) Nr. 4"}, StatusLaw, "LAW", nil, nil, false},
	rcECEPurchaseTooOld: {ReasonECEPurchaseTooOld, false, "last purchase older than configured",
		nil, StatusPolicy, "POLICY", nil, nil, false},
	rcNoPresumedConsent: {ReasonNoPresumedConsent, false, "B2B call without (documented) presumed consent",
		[]string{"UWG §7(2) Nr. 1 Alt. 2", "BGH I ZR 88/05"}, StatusLaw, "LAW/CASE", nil, nil, false},
	rcSupplierNoticeMissing: {ReasonSupplierNoticeMissing, false, "supplier privacy notice not given before acquisition letter",
		[]string{"GDPR Art. 13, 21(4), Recital 47"}, StatusPolicy, "POLICY", nil, nil, false},
	rcThirdPartyDataNotAccepted: {ReasonThirdPartyDataNotAccepted, false, "third-party postal data excluded by policy",
		[]string{"GDPR Art. 14"}, StatusPolicy, "POLICY", nil, nil, false},
	rcDeviceAccessRequiresConsent: {ReasonDeviceAccessRequiresConsent, false, "terminal-equipment access without valid consent",
		[]string{"TDDDG §25(1)", "Directive 2002/58/EC Art. 5(3)", "CJEU C-673/17", "BGH I ZR 7/16"}, StatusLaw, "LAW", nil, nil, false},
	rcIdentifiedTrackingRequiresConsent: {ReasonIdentifiedTrackingRequiresConsent, false, "identified tracking/profiling without consent",
		[]string{"GDPR Art. 6(1)(a)", "DSK guidance for digital services"}, StatusPolicy, "POLICY", nil, nil, false},
}

// Catalogue returns all 46 reason codes of §8 in the order of §8 (allow codes
// first). The result is a fresh copy the caller may modify.
func Catalogue() []ReasonInfo {
	out := make([]ReasonInfo, numReasons)
	for i := range reasons {
		out[i] = reasons[i].info()
	}
	return out
}

// LookupReason returns the catalogue entry of code.
func LookupReason(code Reason) (ReasonInfo, bool) {
	if i, ok := reasonIndex(code); ok {
		return reasons[i].info(), true
	}
	return ReasonInfo{}, false
}

// Allows reports whether r is an allow code. Unknown codes are not.
func (r Reason) Allows() bool {
	i, ok := reasonIndex(r)
	return ok && reasons[i].allow
}

// Known reports whether r is a catalogue code.
func (r Reason) Known() bool {
	_, ok := reasonIndex(r)
	return ok
}

func reasonIndex(code Reason) (rc, bool) {
	for i := range reasons {
		if reasons[i].code == code {
			return rc(i), true
		}
	}
	return 0, false
}

func (e *reasonEntry) info() ReasonInfo {
	return ReasonInfo{
		Code:             e.code,
		Allow:            e.allow,
		Meaning:          e.meaning,
		LegalRefs:        append([]string(nil), e.refs...),
		Status:           e.status,
		StatusNote:       e.note,
		LegalBases:       append([]LegalBasis(nil), e.bases...),
		ConditionalBases: append([]LegalBasis(nil), e.condBases...),
	}
}

// Obligation is a duty the sending component must fulfil when it acts on a
// decision (§9).
type Obligation string

// Obligations of §9, in the order they appear in Decision.Obligations.
const (
	ObligationIncludeSenderIdentity      Obligation = "include_sender_identity"
	ObligationIncludeUnsubscribeNotice   Obligation = "include_unsubscribe_notice"
	ObligationIncludeObjectionNotice     Obligation = "include_objection_notice"
	ObligationProvideArt14Information    Obligation = "provide_art14_information"
	ObligationLogConsentUsage            Obligation = "log_consent_usage"
	ObligationDocumentPhoneConsent7a     Obligation = "document_phone_consent_7a"
	ObligationRecordPresumedConsentBasis Obligation = "record_presumed_consent_basis"
	ObligationNoAdvertisingContent       Obligation = "no_advertising_content"
	ObligationRestrictToRetentionPurpose Obligation = "restrict_to_retention_purpose"
	ObligationDeleteNow                  Obligation = "delete_now"
)

// Warning flags a decision for human attention; it never changes Allowed.
type Warning string

// Warnings of §9, in the order they appear in Decision.Warnings.
const (
	WarningConsentOld                    Warning = "consent_old"
	WarningPresumedConsentRequiresReview Warning = "presumed_consent_requires_review"
	WarningThirdPartySource              Warning = "third_party_source"
)

// NoteInfo describes an obligation or a warning for display.
type NoteInfo struct {
	Code   string
	When   string
	Source string
}

// ObligationCatalogue returns the obligations of §9 in output order.
func ObligationCatalogue() []NoteInfo {
	return []NoteInfo{
		{string(ObligationIncludeSenderIdentity), "every allowed email/sms/phone direct_marketing, and allowed advertising in a service message on these channels", "UWG §7(2) Nr. 3 a"},
		{string(ObligationIncludeUnsubscribeNotice), "every allowed email/sms direct_marketing (incl. ECE), and allowed advertising in a service message on these channels", "UWG §7(2) Nr. 3 c, §7(3) Nr. 4; GDPR Art. 21(4)"},
		{string(ObligationIncludeObjectionNotice), "allows on postal_legitimate_interest, b2b_presumed_consent, existing_customer_exemption, personalization_legitimate_interest, pseudonymized_analytics_legitimate_interest", "GDPR Art. 21(4)"},
		{string(ObligationProvideArt14Information), "data_source == third_party and allowed", "GDPR Art. 14(3)(b)"},
		{string(ObligationLogConsentUsage), "every allow on consent_valid (set last_used_at)", "GDPR Art. 7(1); UWG §7a(2)"},
		{string(ObligationDocumentPhoneConsent7a), "consent_valid on phone with audience b2c: keep proof 5 years from consent and from this use", "UWG §7a"},
		{string(ObligationRecordPresumedConsentBasis), "b2b_presumed_consent", "GDPR Art. 5(2)"},
		{string(ObligationNoAdvertisingContent), "allowed service messages without contains_advertising", "BGH VI ZR 134/15"},
		{string(ObligationRestrictToRetentionPurpose), "legal_retention_duty", "GDPR Art. 17(3)(b), 18; BDSG §35(3)"},
		{string(ObligationDeleteNow), "retention_period_expired (on the deny)", "GDPR Art. 5(1)(e), 17(1)(a)"},
	}
}

// WarningCatalogue returns the warnings of §9 in output order.
func WarningCatalogue() []NoteInfo {
	return []NoteInfo{
		{string(WarningConsentOld), "allow on consent_valid whose freshest relied-on consent has been idle longer than consent_age_warning_days while consent_max_idle_days is off", "LG München I 17 HK O 138/10; AG München 161 C 12736/22"},
		{string(WarningPresumedConsentRequiresReview), "always with b2b_presumed_consent", "BGH I ZR 88/05"},
		{string(WarningThirdPartySource), "allow with data_source == third_party", "GDPR Art. 14"},
	}
}
