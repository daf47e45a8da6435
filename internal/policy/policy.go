package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Version identifies the rule set (contactability-rules.md v1.0) together with
// DefaultPolicy. It changes whenever a rule or a default changes, so a stored
// decision can be reproduced with the same engine version.
//
// A decision evaluated under a policy that differs from DefaultPolicy carries
// Version + "+" + the first 12 hex digits of the SHA-256 of the policy's
// canonical form (see Policy.Version).
const Version = "2026-11-24"

// Limit is an optional number of days. The zero Limit is "off" (the JSON null
// of §5).
type Limit struct {
	Days int
	On   bool
}

// LimitDays returns a Limit that is on with n days.
func LimitDays(n int) Limit { return Limit{Days: n, On: true} }

// Policy is the configurable part of the rules (§5). Use DefaultPolicy and
// change fields; the zero Policy is not the default.
type Policy struct {
	// AcceptThirdPartyConsents relies on consents collected by third parties.
	AcceptThirdPartyConsents bool
	// AcceptedVerifications lists per requested channel the verification
	// methods accepted. A channel without an entry is unchecked; an entry with
	// an empty list accepts nothing. email_doi can never be accepted for phone
	// (BGH I ZR 164/09): such a policy is rejected.
	AcceptedVerifications map[Channel][]Verification
	// ConsentMaxIdleDays makes consents idle longer than this consent_stale.
	ConsentMaxIdleDays Limit
	// ConsentAgeWarningDays emits the consent_old warning above this idle time
	// while ConsentMaxIdleDays is off.
	ConsentAgeWarningDays Limit
	// ECEChannels are the channels on which UWG §7(3) is applied (email, sms).
	ECEChannels []Channel
	// ECEMaxDaysSinceLastPurchase makes the exemption fail when the last
	// purchase is missing or older.
	ECEMaxDaysSinceLastPurchase Limit
	// LaterConsentLiftsObjection lets a valid consent given strictly after an
	// objection lift it.
	LaterConsentLiftsObjection bool
	// WithdrawalCountsAsObjection makes a withdrawn consent block the
	// non-consent bases for its channel (rules §5, on by default). See
	// docs/policy-notes.md for why it should stay on.
	WithdrawalCountsAsObjection bool
	// ThirdPartyPostalAllowed allows postal advertising to third-party
	// addresses under Art. 6(1)(f) with Art. 14 information.
	ThirdPartyPostalAllowed bool
	// PseudonymizedAnalyticsWithoutConsent allows pseudonymized measurement
	// without device access on Art. 6(1)(f).
	PseudonymizedAnalyticsWithoutConsent bool
	// PersonalizationLegitimateInterest allows non-sensitive personalization
	// from own customer data on Art. 6(1)(f).
	PersonalizationLegitimateInterest bool
}

// DefaultPolicy returns the defaults of §5. Each call returns a new value.
func DefaultPolicy() Policy {
	return Policy{
		AcceptedVerifications: map[Channel][]Verification{
			ChannelEmail: {VerificationEmailDOI},
			ChannelSMS:   {VerificationSMSDOI},
			ChannelPhone: {VerificationSMSDOI, VerificationWritten, VerificationVoiceRecording},
		},
		ConsentAgeWarningDays:                LimitDays(730),
		ECEChannels:                          []Channel{ChannelEmail},
		LaterConsentLiftsObjection:           true,
		WithdrawalCountsAsObjection:          true,
		ThirdPartyPostalAllowed:              true,
		PseudonymizedAnalyticsWithoutConsent: true,
		PersonalizationLegitimateInterest:    true,
	}
}

// Validate reports the first invalid setting as a *ValidationError with
// code invalid_facts and a field under "facts.policy".
func (p Policy) Validate() error {
	_, err := p.compile()
	return err
}

// Version returns the policy_version a decision under p carries: Version for
// a policy equal to DefaultPolicy, otherwise Version + "+" + a 12-hex-digit
// hash of p's canonical form. The hash depends only on the effective
// settings (list order and duplicates do not matter).
func (p Policy) Version() (string, error) {
	r, err := p.compile()
	if err != nil {
		return "", err
	}
	return r.version(), nil
}

// Channel and verification indices used in bit sets.
const (
	chEmail uint8 = iota
	chSMS
	chPhone
	chPost
	chWeb
	chNone
	chAny
	numChannels = chAny // request channels
)

var channelNames = [...]Channel{ChannelEmail, ChannelSMS, ChannelPhone, ChannelPost, ChannelWeb, ChannelNone, ChannelAny}

const (
	vEmailDOI uint8 = iota
	vSMSDOI
	vWritten
	vVoiceRecording
	vConsentBanner
	vNone
	numVerifications
)

var verificationNames = [numVerifications]Verification{VerificationEmailDOI, VerificationSMSDOI, VerificationWritten, VerificationVoiceRecording, VerificationConsentBanner, VerificationNone}

func channelIndex(c Channel) (uint8, bool) {
	switch c {
	case ChannelEmail:
		return chEmail, true
	case ChannelSMS:
		return chSMS, true
	case ChannelPhone:
		return chPhone, true
	case ChannelPost:
		return chPost, true
	case ChannelWeb:
		return chWeb, true
	case ChannelNone:
		return chNone, true
	case ChannelAny:
		return chAny, true
	}
	return 0, false
}

func verificationIndex(v Verification) (uint8, bool) {
	switch v {
	case VerificationEmailDOI:
		return vEmailDOI, true
	case VerificationSMSDOI:
		return vSMSDOI, true
	case VerificationWritten:
		return vWritten, true
	case VerificationVoiceRecording:
		return vVoiceRecording, true
	case VerificationConsentBanner:
		return vConsentBanner, true
	case VerificationNone, "":
		return vNone, true
	}
	return 0, false
}

// rules is the compiled, comparable form of a Policy used by the engine.
type rules struct {
	acceptThirdParty bool
	verifDefined     uint8              // bit per channel index
	verif            [numChannels]uint8 // bit per verification index
	maxIdle          int                // -1 = off
	warnDays         int                // -1 = off
	eceChannels      uint8              // bit per channel index
	eceMaxDays       int                // -1 = off
	lifts            bool
	withdrawalObj    bool
	thirdPartyPostal bool
	pseudoAnalytics  bool
	persLI           bool
}

// defaultRules is DefaultPolicy compiled; it is built without allocation so
// that Decide with the default policy allocates only its result.
func defaultRules() rules {
	return rules{
		verifDefined: 1<<chEmail | 1<<chSMS | 1<<chPhone,
		verif: [numChannels]uint8{
			chEmail: 1 << vEmailDOI,
			chSMS:   1 << vSMSDOI,
			chPhone: 1<<vSMSDOI | 1<<vWritten | 1<<vVoiceRecording,
		},
		maxIdle:          -1,
		warnDays:         730,
		eceChannels:      1 << chEmail,
		eceMaxDays:       -1,
		lifts:            true,
		withdrawalObj:    true,
		thirdPartyPostal: true,
		pseudoAnalytics:  true,
		persLI:           true,
	}
}

// maxLimit caps day limits: more days than the calendar holds never differ.
const maxLimit = 4_000_000

func compileLimit(l Limit, field string) (int, error) {
	if !l.On {
		return -1, nil
	}
	if l.Days < 0 {
		return 0, factsErr(field, "must be a whole number of days >= 0, or null to switch it off")
	}
	return min(l.Days, maxLimit), nil
}

func (p *Policy) compile() (rules, error) {
	r := rules{
		acceptThirdParty: p.AcceptThirdPartyConsents,
		lifts:            p.LaterConsentLiftsObjection,
		withdrawalObj:    p.WithdrawalCountsAsObjection,
		thirdPartyPostal: p.ThirdPartyPostalAllowed,
		pseudoAnalytics:  p.PseudonymizedAnalyticsWithoutConsent,
		persLI:           p.PersonalizationLegitimateInterest,
	}
	// Iterate channels in fixed order so the first error is deterministic.
	for ci := range numChannels {
		ch := channelNames[ci]
		list, ok := p.AcceptedVerifications[ch]
		if !ok {
			continue
		}
		r.verifDefined |= 1 << ci
		for _, v := range list {
			vi, ok := verificationIndex(v)
			if !ok || v == "" {
				return rules{}, factsErr("facts.policy.accepted_verifications."+string(ch),
					"unknown verification "+strconv.Quote(string(v))+"; allowed: "+verificationList)
			}
			if ci == chPhone && vi == vEmailDOI {
				return rules{}, factsErr("facts.policy.accepted_verifications.phone",
					"email_doi never proves consent to phone advertising (BGH I ZR 164/09) and cannot be accepted for phone")
			}
			r.verif[ci] |= 1 << vi
		}
	}
	for ch := range p.AcceptedVerifications {
		if ci, ok := channelIndex(ch); !ok || ci == chAny {
			return rules{}, factsErr("facts.policy.accepted_verifications."+string(ch),
				"unknown channel "+strconv.Quote(string(ch))+"; allowed: "+channelList)
		}
	}
	for _, ch := range p.ECEChannels {
		switch ch {
		case ChannelEmail:
			r.eceChannels |= 1 << chEmail
		case ChannelSMS:
			r.eceChannels |= 1 << chSMS
		default:
			return rules{}, factsErr("facts.policy.ece_channels",
				"UWG §7(3) can only apply to electronic mail; allowed: email, sms; got "+strconv.Quote(string(ch)))
		}
	}
	var err error
	if r.maxIdle, err = compileLimit(p.ConsentMaxIdleDays, "facts.policy.consent_max_idle_days"); err != nil {
		return rules{}, err
	}
	if r.warnDays, err = compileLimit(p.ConsentAgeWarningDays, "facts.policy.consent_age_warning_days"); err != nil {
		return rules{}, err
	}
	if r.eceMaxDays, err = compileLimit(p.ECEMaxDaysSinceLastPurchase, "facts.policy.ece_max_days_since_last_purchase"); err != nil {
		return rules{}, err
	}
	return r, nil
}

const (
	channelList      = "email, sms, phone, post, web, none"
	verificationList = "email_doi, sms_doi, written, voice_recording, consent_banner, none"
)

// canonical appends the canonical form of r: one "key=value" line per §5 key
// in the order of §5, lists in the enumeration order of the spec, "null" for
// switched-off limits and "-" for an unchecked channel.
func (r *rules) canonical(b []byte) []byte {
	b = appendBool(b, "accept_third_party_consents", r.acceptThirdParty)
	for ci := range numChannels {
		b = append(b, "accepted_verifications."...)
		b = append(b, channelNames[ci]...)
		b = append(b, '=')
		if r.verifDefined&(1<<ci) == 0 {
			b = append(b, '-')
		} else {
			first := true
			for vi := range numVerifications {
				if r.verif[ci]&(1<<vi) != 0 {
					if !first {
						b = append(b, ',')
					}
					first = false
					b = append(b, verificationNames[vi]...)
				}
			}
		}
		b = append(b, '\n')
	}
	b = appendLimit(b, "consent_max_idle_days", r.maxIdle)
	b = appendLimit(b, "consent_age_warning_days", r.warnDays)
	b = append(b, "ece_channels="...)
	switch r.eceChannels {
	case 1 << chEmail:
		b = append(b, "email"...)
	case 1 << chSMS:
		b = append(b, "sms"...)
	case 1<<chEmail | 1<<chSMS:
		b = append(b, "email,sms"...)
	}
	b = append(b, '\n')
	b = appendLimit(b, "ece_max_days_since_last_purchase", r.eceMaxDays)
	b = appendBool(b, "later_consent_lifts_objection", r.lifts)
	b = appendBool(b, "withdrawal_counts_as_objection", r.withdrawalObj)
	b = appendBool(b, "third_party_postal_allowed", r.thirdPartyPostal)
	b = appendBool(b, "pseudonymized_analytics_without_consent", r.pseudoAnalytics)
	b = appendBool(b, "personalization_legitimate_interest", r.persLI)
	return b
}

func appendBool(b []byte, key string, v bool) []byte {
	b = append(b, key...)
	b = append(b, '=')
	b = strconv.AppendBool(b, v)
	return append(b, '\n')
}

func appendLimit(b []byte, key string, v int) []byte {
	b = append(b, key...)
	b = append(b, '=')
	if v < 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(v), 10)
	}
	return append(b, '\n')
}

func (r *rules) version() string {
	if *r == defaultRules() {
		return Version
	}
	var buf [768]byte
	sum := sha256.Sum256(r.canonical(buf[:0]))
	var out [len(Version) + 1 + 12]byte
	n := copy(out[:], Version)
	out[n] = '+'
	hex.Encode(out[n+1:], sum[:6])
	return string(out[:])
}

// CanonicalPolicy returns the canonical text the policy_version hash is
// computed over, for audit tooling that wants to show or re-derive it.
func (p Policy) CanonicalPolicy() (string, error) {
	r, err := p.compile()
	if err != nil {
		return "", err
	}
	return string(r.canonical(nil)), nil
}
