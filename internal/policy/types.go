package policy

// Purpose is the processing purpose of a Request (rule specification §3).
type Purpose string

// Purposes of §3.
const (
	PurposeDirectMarketing     Purpose = "direct_marketing"
	PurposeConsentConfirmation Purpose = "consent_confirmation"
	PurposeInquiryReply        Purpose = "inquiry_reply"
	PurposeContract            Purpose = "contract"
	PurposeRightsResponse      Purpose = "rights_response"
	PurposeLegalRetention      Purpose = "legal_retention"
	PurposeAnalytics           Purpose = "analytics"
	PurposePersonalization     Purpose = "personalization"
)

// Channel is the communication channel of a Request, a consent scope or a
// reply channel (§1, §3).
type Channel string

// Channels of §1. ChannelAny is valid only in Objection.Channels.
const (
	ChannelEmail Channel = "email"
	ChannelSMS   Channel = "sms"
	ChannelPhone Channel = "phone"
	ChannelPost  Channel = "post"
	ChannelWeb   Channel = "web"
	ChannelNone  Channel = "none"
	ChannelAny   Channel = "any"
)

// Request names what is to be done: one purpose on one channel.
type Request struct {
	Purpose Purpose
	Channel Channel
}

// Audience tells consumers from other market participants (§4.1).
type Audience string

// Audiences.
const (
	AudienceB2C Audience = "b2c"
	AudienceB2B Audience = "b2b"
)

// Relationship of the person to us (§4.1).
type Relationship string

// Relationships.
const (
	RelationshipProspect Relationship = "prospect"
	RelationshipCustomer Relationship = "customer"
	RelationshipSupplier Relationship = "supplier"
)

// DataSource tells how the contact data were obtained. The empty value means
// DataSourceSelfProvided.
type DataSource string

// Data sources.
const (
	DataSourceSelfProvided DataSource = "self_provided"
	DataSourceThirdParty   DataSource = "third_party"
)

// ConsentStatus is the state of one consent record (§4.2).
type ConsentStatus string

// Consent states.
const (
	ConsentPending   ConsentStatus = "pending"
	ConsentConfirmed ConsentStatus = "confirmed"
	ConsentWithdrawn ConsentStatus = "withdrawn"
)

// Verification is how a consent declaration was verified or recorded. The
// empty value means VerificationNone.
type Verification string

// Verification methods.
const (
	VerificationEmailDOI       Verification = "email_doi"
	VerificationSMSDOI         Verification = "sms_doi"
	VerificationWritten        Verification = "written"
	VerificationVoiceRecording Verification = "voice_recording"
	VerificationConsentBanner  Verification = "consent_banner"
	VerificationNone           Verification = "none"
)

// Collector tells who collected a consent declaration. The empty value means
// CollectedBySelf.
type Collector string

// Collectors.
const (
	CollectedBySelf       Collector = "self"
	CollectedByThirdParty Collector = "third_party"
)

// ObjectionType is the kind of an objection (§4.3).
type ObjectionType string

// Objection types.
const (
	// ObjectionDirectMarketing is a Werbewiderspruch (GDPR Art. 21(2)); it also
	// covers profiling for direct marketing.
	ObjectionDirectMarketing ObjectionType = "direct_marketing"
	// ObjectionAnalytics is an Art. 21(1) objection to legitimate-interest
	// measurement.
	ObjectionAnalytics ObjectionType = "analytics"
)

// ErasureStatus is the Art. 17 state of the record. The empty value means
// ErasureNone.
type ErasureStatus string

// Erasure states.
const (
	ErasureNone      ErasureStatus = "none"
	ErasureRequested ErasureStatus = "requested"
	ErasureExecuted  ErasureStatus = "executed"
)

// RestrictionGround is the (informational) ground of an Art. 18 restriction.
type RestrictionGround string

// Restriction grounds (Art. 18(1)(a)-(d)).
const (
	GroundAccuracyContested      RestrictionGround = "accuracy_contested"
	GroundUnlawfulOpposedErasure RestrictionGround = "unlawful_opposed_erasure"
	GroundLegalClaims            RestrictionGround = "legal_claims"
	GroundObjectionPending       RestrictionGround = "objection_pending"
)

// AnalyticsMode tells how strongly measurement data are linked to a person.
// The empty value means AnalyticsIdentified.
type AnalyticsMode string

// Analytics modes.
const (
	AnalyticsIdentified    AnalyticsMode = "identified"
	AnalyticsPseudonymized AnalyticsMode = "pseudonymized"
	AnalyticsAnonymous     AnalyticsMode = "anonymous"
)

// Facts are everything the engine knows about one person and one contact
// point (§4). Zero values are the defaults of §4 except for the required
// fields AsOf, Audience and Relationship.
type Facts struct {
	// AsOf is the evaluation date ("now"); required. The engine never reads a
	// clock.
	AsOf         Date
	Audience     Audience
	Relationship Relationship
	DataSource   DataSource
	// Consents are the consent log entries for this contact point only.
	Consents []ConsentRecord
	// Objections are all objections of the person.
	Objections          []Objection
	ExistingCustomer    ExistingCustomer
	B2BPresumedConsent  PresumedConsent
	SupplierNoticeGiven bool
	ContractActive      bool
	InboundRequest      InboundRequest
	OpenRightsRequest   bool
	Restriction         Restriction
	Erasure             Erasure
	RetentionDuty       RetentionDuty
	Processing          Processing
	// Policy, when set, replaces the default policy for this evaluation
	// (complete policy, not a patch: start from DefaultPolicy and change
	// fields). The Decision's PolicyVersion then tells the override apart.
	Policy *Policy
}

// ConsentRecord is one consent log entry (§4.2).
type ConsentRecord struct {
	ID       string
	Purpose  Purpose // direct_marketing, analytics or personalization
	Channels []Channel
	Status   ConsentStatus
	GivenAt  Date // required
	// ConfirmedAt is when the DOI link or code was confirmed; zero if not.
	ConfirmedAt Date
	// WithdrawnAt is when the consent was withdrawn; zero falls back to
	// GivenAt.
	WithdrawnAt             Date
	LastUsedAt              Date
	Verification            Verification
	EvidenceRecorded        bool
	CollectedBy             Collector
	PreTicked               bool
	Coupled                 bool
	ExplicitSpecialCategory bool
}

// Objection is one objection of the person (§4.3).
type Objection struct {
	Type ObjectionType
	// Channels is the scope; empty means ["any"].
	Channels []Channel
	// At is when the objection was received; zero means it can never be
	// lifted by a later consent.
	At Date
}

// ExistingCustomer holds the UWG §7(3) preconditions (§4.4).
type ExistingCustomer struct {
	AddressFromSale    bool // §7(3) Nr. 1
	OwnSimilarOffer    bool // §7(3) Nr. 2, per campaign
	NoticeAtCollection bool // §7(3) Nr. 4 at collection
	NoticeInMessage    bool // §7(3) Nr. 4 in this message template
	// LastPurchaseAt is used only by Policy.ECEMaxDaysSinceLastPurchase.
	LastPurchaseAt Date
}

// PresumedConsent is the human assessment that a business contact presumably
// wants a call (UWG §7(2) Nr. 1 Alt. 2).
type PresumedConsent struct {
	Present bool
	// Basis documents the concrete circumstances; a blank basis is no basis.
	Basis string
}

// InboundRequest is an unanswered request of the person.
type InboundRequest struct {
	Open bool
	// ReplyChannels are the channel the person used plus the channels the
	// person designated for the answer.
	ReplyChannels []Channel
}

// Restriction is the Art. 18 state of the contact record.
type Restriction struct {
	Active bool
	Since  Date              // informational
	Ground RestrictionGround // informational
}

// Erasure is the Art. 17 state of the contact record.
type Erasure struct {
	Status ErasureStatus
	At     Date // informational
}

// RetentionDuty tells whether a statutory retention duty covers records of
// the person.
type RetentionDuty struct {
	Applies bool
	// Until is the last day of the duty (inclusive); zero = ongoing or
	// unknown end.
	Until Date
	Basis string // informational
}

// Processing describes the processing being requested (§4.5).
type Processing struct {
	ContainsAdvertising bool
	SpecialCategoryData bool
	DeviceAccess        bool
	StrictlyNecessary   bool
	AnalyticsMode       AnalyticsMode
}

// Decision is the engine's answer (§6).
type Decision struct {
	Allowed bool
	// Reasons: on allow the basis code(s); on deny the decisive code first,
	// then diagnostic codes. De-duplicated.
	Reasons []Reason
	// LegalRefs are the references of all reasons in reason order,
	// de-duplicated.
	LegalRefs []string
	// LegalBases are empty on deny and for anonymous_data.
	LegalBases  []LegalBasis
	Obligations []Obligation
	Warnings    []Warning
	// PolicyVersion identifies rule set and effective policy (see Version).
	PolicyVersion string
	AsOf          Date
}
