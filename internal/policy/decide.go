package policy

import (
	"strconv"
	"strings"
)

// Decide answers whether the processing r may be carried out for the person
// described by f on f.AsOf (rule specification §7). It reads no clock and
// does no I/O; the same facts and request always give the same decision.
//
// A *ValidationError is returned instead of a decision when the
// purpose/channel combination is not in §3 (invalid_request) or a fact is
// missing or has a value outside its enumeration (invalid_facts). A caller
// must treat an error as "not allowed".
func Decide(f Facts, r Request) (Decision, error) {
	p, ch, err := checkRequest(r)
	if err != nil {
		return Decision{}, err
	}
	e := engine{f: &f}
	version := Version
	if f.Policy != nil {
		if e.r, err = f.Policy.compile(); err != nil {
			return Decision{}, err
		}
		version = e.r.version()
	} else {
		e.r = defaultRules()
	}
	// The buffers live in Decide's frame (not in engine) so that the engine
	// does not point into itself and stays on the stack.
	var recBuf [8]rec
	var objBuf [4]objection
	if e.recs, e.objs, err = e.load(recBuf[:0], objBuf[:0]); err != nil {
		return Decision{}, err
	}
	var out reasonList
	allowed := e.run(p, ch, &out)
	return e.decision(p, ch, allowed, &out, version), nil
}

// Internal purpose indices.
type purpose uint8

const (
	pDirectMarketing purpose = iota
	pConsentConfirmation
	pInquiryReply
	pContract
	pRightsResponse
	pLegalRetention
	pAnalytics
	pPersonalization
)

const (
	maskMessaging  = 1<<chEmail | 1<<chSMS | 1<<chPhone | 1<<chPost
	maskElectronic = 1<<chEmail | 1<<chSMS
)

var purposeInfo = [...]struct {
	name     Purpose
	channels uint8
	list     string
}{
	pDirectMarketing:     {PurposeDirectMarketing, maskMessaging, "email, sms, phone, post"},
	pConsentConfirmation: {PurposeConsentConfirmation, maskElectronic, "email, sms"},
	pInquiryReply:        {PurposeInquiryReply, maskMessaging, "email, sms, phone, post"},
	pContract:            {PurposeContract, maskMessaging, "email, sms, phone, post"},
	pRightsResponse:      {PurposeRightsResponse, maskMessaging, "email, sms, phone, post"},
	pLegalRetention:      {PurposeLegalRetention, 1 << chNone, "none"},
	pAnalytics:           {PurposeAnalytics, 1<<chWeb | 1<<chEmail, "web, email"},
	pPersonalization:     {PurposePersonalization, 1<<chWeb | 1<<chNone, "web, none"},
}

const purposeList = "direct_marketing, consent_confirmation, inquiry_reply, contract, rights_response, legal_retention, analytics, personalization"

func purposeIndex(p Purpose) (purpose, bool) {
	for i := range purposeInfo {
		if purposeInfo[i].name == p {
			return purpose(i), true
		}
	}
	return 0, false
}

// ValidRequest reports whether r is one of the purpose/channel combinations
// of §3; the error is the one Decide would return.
func ValidRequest(r Request) error {
	_, _, err := checkRequest(r)
	return err
}

func checkRequest(r Request) (purpose, uint8, error) {
	if r.Purpose == "" {
		return 0, 0, requestErr("request.purpose", "required; allowed: "+purposeList)
	}
	p, ok := purposeIndex(r.Purpose)
	if !ok {
		return 0, 0, requestErr("request.purpose", "unknown purpose "+strconv.Quote(string(r.Purpose))+"; allowed: "+purposeList)
	}
	info := &purposeInfo[p]
	if r.Channel == "" {
		return 0, 0, requestErr("request.channel", "required; allowed for "+string(info.name)+": "+info.list)
	}
	ch, ok := channelIndex(r.Channel)
	if !ok || ch == chAny || info.channels&(1<<ch) == 0 {
		return 0, 0, requestErr("request.channel", "channel "+strconv.Quote(string(r.Channel))+" is not allowed for "+string(info.name)+"; allowed: "+info.list)
	}
	return p, ch, nil
}

// Consent record flags.
const (
	fEvidence uint8 = 1 << iota
	fThirdParty
	fInvalid // pre-ticked or coupled
	fExplicit
)

// Consent record states.
const (
	sPending uint8 = iota
	sConfirmed
	sWithdrawn
)

// rec is a consent record reduced to what the engine needs.
type rec struct {
	key      int32 // order key (§7.1)
	given    int32
	activity int32 // max(confirmed_at or given_at, last_used_at)
	purpose  purpose
	channels uint8
	status   uint8
	verif    uint8
	flags    uint8
}

type objection struct {
	dm       bool // direct_marketing (else analytics)
	channels uint8
	at       int32 // 0 = missing
}

type engine struct {
	f    *Facts
	r    rules
	asOf int32

	recs      []rec
	objs      []objection
	replies   uint8
	thirdPty  bool
	b2b       bool
	rel       Relationship
	erasure   ErasureStatus
	mode      AnalyticsMode
	consentOK bool  // consent_valid was produced
	freshest  int32 // latest activity of the valid records behind consent_valid
	adAllowed bool  // advertising in a service message was allowed
}

// load validates the facts and reduces them to the engine's compact form,
// using recBuf and objBuf when they are large enough. The reduced records
// are returned rather than stored through e, which would move the buffers to
// the heap.
func (e *engine) load(recBuf []rec, objBuf []objection) (recs []rec, objs []objection, err error) {
	f := e.f
	if f.AsOf.IsZero() {
		return nil, nil, factsErr("facts.as_of", "required: the evaluation date (YYYY-MM-DD)")
	}
	e.asOf = f.AsOf.n
	switch f.Audience {
	case AudienceB2C:
	case AudienceB2B:
		e.b2b = true
	case "":
		return nil, nil, factsErr("facts.audience", "required; allowed: b2c, b2b")
	default:
		return nil, nil, factsErr("facts.audience", badValue(string(f.Audience), "b2c, b2b"))
	}
	switch f.Relationship {
	case RelationshipProspect, RelationshipCustomer, RelationshipSupplier:
		e.rel = f.Relationship
	case "":
		return nil, nil, factsErr("facts.relationship", "required; allowed: prospect, customer, supplier")
	default:
		return nil, nil, factsErr("facts.relationship", badValue(string(f.Relationship), "prospect, customer, supplier"))
	}
	switch f.DataSource {
	case "", DataSourceSelfProvided:
	case DataSourceThirdParty:
		e.thirdPty = true
	default:
		return nil, nil, factsErr("facts.data_source", badValue(string(f.DataSource), "self_provided, third_party"))
	}
	if len(f.Consents) <= cap(recBuf) {
		recs = recBuf[:len(f.Consents)]
	} else {
		recs = make([]rec, len(f.Consents))
	}
	for i := range f.Consents {
		if err := loadConsent(&f.Consents[i], i, &recs[i]); err != nil {
			return nil, nil, err
		}
	}
	if len(f.Objections) <= cap(objBuf) {
		objs = objBuf[:len(f.Objections)]
	} else {
		objs = make([]objection, len(f.Objections))
	}
	for i := range f.Objections {
		o := &f.Objections[i]
		x := &objs[i]
		switch o.Type {
		case ObjectionDirectMarketing:
			x.dm = true
		case ObjectionAnalytics:
		case "":
			return nil, nil, factsErr(indexed("facts.objections", i, "type"), "required; allowed: direct_marketing, analytics")
		default:
			return nil, nil, factsErr(indexed("facts.objections", i, "type"), badValue(string(o.Type), "direct_marketing, analytics"))
		}
		if len(o.Channels) == 0 {
			x.channels = 1 << chAny
		}
		for j, c := range o.Channels {
			ci, ok := channelIndex(c)
			if !ok {
				return nil, nil, factsErr(indexed("facts.objections", i, "channels")+"["+strconv.Itoa(j)+"]", badValue(string(c), channelList+", any"))
			}
			x.channels |= 1 << ci
		}
		x.at = o.At.n
	}
	for j, c := range f.InboundRequest.ReplyChannels {
		ci, ok := channelIndex(c)
		if !ok || ci == chAny {
			return nil, nil, factsErr("facts.inbound_request.reply_channels["+strconv.Itoa(j)+"]", badValue(string(c), channelList))
		}
		e.replies |= 1 << ci
	}
	switch f.Restriction.Ground {
	case "", GroundAccuracyContested, GroundUnlawfulOpposedErasure, GroundLegalClaims, GroundObjectionPending:
	default:
		return nil, nil, factsErr("facts.restriction.ground", badValue(string(f.Restriction.Ground), "accuracy_contested, unlawful_opposed_erasure, legal_claims, objection_pending"))
	}
	switch f.Erasure.Status {
	case "", ErasureNone:
		e.erasure = ErasureNone
	case ErasureRequested, ErasureExecuted:
		e.erasure = f.Erasure.Status
	default:
		return nil, nil, factsErr("facts.erasure.status", badValue(string(f.Erasure.Status), "none, requested, executed"))
	}
	switch f.Processing.AnalyticsMode {
	case "", AnalyticsIdentified:
		e.mode = AnalyticsIdentified
	case AnalyticsPseudonymized, AnalyticsAnonymous:
		e.mode = f.Processing.AnalyticsMode
	default:
		return nil, nil, factsErr("facts.processing.analytics_mode", badValue(string(f.Processing.AnalyticsMode), "identified, pseudonymized, anonymous"))
	}
	return recs, objs, nil
}

func loadConsent(c *ConsentRecord, i int, x *rec) error {
	switch c.Purpose {
	case PurposeDirectMarketing:
		x.purpose = pDirectMarketing
	case PurposeAnalytics:
		x.purpose = pAnalytics
	case PurposePersonalization:
		x.purpose = pPersonalization
	case "":
		return factsErr(indexed("facts.consents", i, "purpose"), "required; allowed: direct_marketing, analytics, personalization")
	default:
		return factsErr(indexed("facts.consents", i, "purpose"), badValue(string(c.Purpose), "direct_marketing, analytics, personalization"))
	}
	for j, ch := range c.Channels {
		ci, ok := channelIndex(ch)
		if !ok || ci == chAny {
			return factsErr(indexed("facts.consents", i, "channels")+"["+strconv.Itoa(j)+"]", badValue(string(ch), channelList))
		}
		x.channels |= 1 << ci
	}
	switch c.Status {
	case ConsentPending:
		x.status = sPending
	case ConsentConfirmed:
		x.status = sConfirmed
	case ConsentWithdrawn:
		x.status = sWithdrawn
	case "":
		return factsErr(indexed("facts.consents", i, "status"), "required; allowed: pending, confirmed, withdrawn")
	default:
		return factsErr(indexed("facts.consents", i, "status"), badValue(string(c.Status), "pending, confirmed, withdrawn"))
	}
	if c.GivenAt.IsZero() {
		return factsErr(indexed("facts.consents", i, "given_at"), "required: the date of the declaration (YYYY-MM-DD)")
	}
	vi, ok := verificationIndex(c.Verification)
	if !ok {
		return factsErr(indexed("facts.consents", i, "verification"), badValue(string(c.Verification), verificationList))
	}
	x.verif = vi
	switch c.CollectedBy {
	case "", CollectedBySelf:
	case CollectedByThirdParty:
		x.flags |= fThirdParty
	default:
		return factsErr(indexed("facts.consents", i, "collected_by"), badValue(string(c.CollectedBy), "self, third_party"))
	}
	if c.EvidenceRecorded {
		x.flags |= fEvidence
	}
	if c.PreTicked || c.Coupled {
		x.flags |= fInvalid
	}
	if c.ExplicitSpecialCategory {
		x.flags |= fExplicit
	}
	x.given = c.GivenAt.n
	base := c.GivenAt.n
	if c.ConfirmedAt.n != 0 {
		base = c.ConfirmedAt.n
	}
	x.activity = max(base, c.LastUsedAt.n)
	switch {
	case x.status == sWithdrawn && c.WithdrawnAt.n != 0:
		x.key = c.WithdrawnAt.n
	case x.status == sWithdrawn:
		x.key = c.GivenAt.n
	default:
		x.key = base
	}
	return nil
}

func indexed(list string, i int, field string) string {
	return list + "[" + strconv.Itoa(i) + "]." + field
}

func badValue(got, allowed string) string {
	return "unknown value " + strconv.Quote(got) + "; allowed: " + allowed
}

// reasonList is an ordered set of reason codes (first occurrence kept).
type reasonList struct {
	seen  uint64
	n     uint8
	codes [numReasons]rc
}

func (l *reasonList) add(c rc) {
	if l.seen&(1<<c) != 0 {
		return
	}
	l.seen |= 1 << c
	l.codes[l.n] = c
	l.n++
}

func (l *reasonList) addAll(o *reasonList) {
	for _, c := range o.codes[:o.n] {
		l.add(c)
	}
}

// deny records a denial: the decisive code, then the diagnostics of the
// consent evaluation (§6: decisive first, then why alternatives failed).
func (l *reasonList) deny(c rc, diag *reasonList) bool {
	l.add(c)
	l.addAll(diag)
	return false
}

func (l *reasonList) has(c rc) bool { return l.seen&(1<<c) != 0 }

// consentResult is EvalConsent(P, ch) of §7.1.
type consentResult struct {
	valid       int
	anyExplicit bool
	maxGiven    int32
	maxActivity int32
	withdrawn   bool // consent_withdrawn ∈ diag
	diag        reasonList
}

// evalConsent implements EvalConsent: the covering records are walked
// newest first by order key (a withdrawal sorts first on equal dates, input
// order breaks remaining ties) until the first withdrawal.
func (e *engine) evalConsent(p purpose, ch uint8) consentResult {
	var res consentResult
	var buf [16]int
	sel := buf[:0]
	for i := range e.recs {
		if e.recs[i].purpose == p && e.recs[i].channels&(1<<ch) != 0 {
			sel = append(sel, i)
		}
	}
	if len(sel) == 0 {
		for i := range e.recs {
			if e.recs[i].status != sWithdrawn {
				res.diag.add(rcConsentScopeMismatch)
				break
			}
		}
		return res
	}
	// Stable insertion sort: the lists are short.
	for i := 1; i < len(sel); i++ {
		for j := i; j > 0 && e.sortsBefore(sel[j], sel[j-1]); j-- {
			sel[j], sel[j-1] = sel[j-1], sel[j]
		}
	}
	for _, i := range sel {
		x := &e.recs[i]
		if x.status == sWithdrawn {
			res.diag.add(rcConsentWithdrawn)
			res.withdrawn = true
			break
		}
		if c, failed := e.check(x, ch); failed {
			res.diag.add(c)
			continue
		}
		res.valid++
		if x.flags&fExplicit != 0 {
			res.anyExplicit = true
		}
		res.maxGiven = max(res.maxGiven, x.given)
		res.maxActivity = max(res.maxActivity, x.activity)
	}
	if res.valid > 0 {
		res.diag = reasonList{}
		res.withdrawn = false
	}
	return res
}

func (e *engine) sortsBefore(a, b int) bool {
	x, y := &e.recs[a], &e.recs[b]
	if x.key != y.key {
		return x.key > y.key
	}
	return x.status == sWithdrawn && y.status != sWithdrawn
}

// check is check(r, ch) of §7.1.
func (e *engine) check(x *rec, ch uint8) (rc, bool) {
	switch {
	case x.status == sPending:
		return rcConsentPendingDOI, true
	case x.flags&fInvalid != 0:
		return rcConsentInvalid, true
	case x.flags&fThirdParty != 0 && !e.r.acceptThirdParty:
		return rcThirdPartyConsentNotAccepted, true
	case x.flags&fEvidence == 0:
		return rcConsentEvidenceMissing, true
	case ch == chPhone && x.verif == vEmailDOI:
		// BGH I ZR 164/09: an e-mail DOI never proves consent to calls; not
		// configurable.
		return rcConsentVerificationInsufficient, true
	case e.r.verifDefined&(1<<ch) != 0 && e.r.verif[ch]&(1<<x.verif) == 0:
		return rcConsentVerificationInsufficient, true
	case e.r.maxIdle >= 0 && int(e.asOf-x.activity) > e.r.maxIdle:
		return rcConsentStale, true
	}
	return 0, false
}

// objectionBlocks is ObjectionBlocks(type, ch, valid) of §7.1.
func (e *engine) objectionBlocks(dm bool, ch uint8, c *consentResult) bool {
	for i := range e.objs {
		o := &e.objs[i]
		if o.dm != dm || o.channels&(1<<chAny|1<<ch) == 0 {
			continue
		}
		lifted := e.r.lifts && o.at != 0 && c.valid > 0 && c.maxGiven > o.at
		if !lifted {
			return true
		}
	}
	return false
}

func (e *engine) useConsent(c *consentResult, out *reasonList) bool {
	out.add(rcConsentValid)
	if !e.consentOK || c.maxActivity > e.freshest {
		e.freshest = c.maxActivity
	}
	e.consentOK = true
	return true
}

// run evaluates the gates of §7.2 and the purpose rules, appending reasons to
// out; it reports whether the processing is allowed.
func (e *engine) run(p purpose, ch uint8, out *reasonList) bool {
	switch e.erasure {
	case ErasureExecuted:
		if p != pLegalRetention && p != pRightsResponse {
			out.add(rcErased)
			return false
		}
	case ErasureRequested:
		switch p {
		case pDirectMarketing, pConsentConfirmation, pAnalytics, pPersonalization:
			out.add(rcErasureRequested)
			return false
		}
	}
	if e.f.Restriction.Active && p != pLegalRetention && p != pRightsResponse {
		out.add(rcProcessingRestricted)
		return false
	}
	switch p {
	case pDirectMarketing:
		return e.directMarketing(ch, out)
	case pContract:
		if !e.f.ContractActive {
			out.add(rcNoContract)
			return false
		}
		return e.adCheck(rcContractPerformance, ch, out)
	case pInquiryReply:
		if !e.f.InboundRequest.Open {
			out.add(rcNoInboundRequest)
			return false
		}
		if e.replies&(1<<ch) == 0 {
			out.add(rcReplyChannelNotDesignated)
			return false
		}
		return e.adCheck(rcInquiryReply, ch, out)
	case pRightsResponse:
		if !e.f.OpenRightsRequest {
			out.add(rcNoRightsRequest)
			return false
		}
		return e.adCheck(rcRightsRequestResponse, ch, out)
	case pConsentConfirmation:
		return e.consentConfirmation(ch, out)
	case pLegalRetention:
		d := &e.f.RetentionDuty
		if !d.Applies {
			out.add(rcNoRetentionDuty)
			return false
		}
		if d.Until.n != 0 && e.asOf > d.Until.n {
			out.add(rcRetentionPeriodExpired)
			return false
		}
		out.add(rcLegalRetentionDuty)
		return true
	case pAnalytics:
		return e.analytics(ch, out)
	default:
		return e.personalization(ch, out)
	}
}

// adCheck is AdCheck(base) of §7.1.
func (e *engine) adCheck(base rc, ch uint8, out *reasonList) bool {
	if !e.f.Processing.ContainsAdvertising {
		out.add(base)
		return true
	}
	var dm reasonList
	ok := e.run(pDirectMarketing, ch, &dm)
	if ok {
		out.add(base)
	} else {
		out.add(rcAdvertisingInServiceMessage)
	}
	out.addAll(&dm)
	e.adAllowed = ok
	return ok
}

// directMarketing is §7.3.
func (e *engine) directMarketing(ch uint8, out *reasonList) bool {
	f := e.f
	c := e.evalConsent(pDirectMarketing, ch)
	if e.objectionBlocks(true, ch, &c) {
		out.add(rcMarketingObjection)
		return false
	}
	if f.Processing.SpecialCategoryData && !c.anyExplicit {
		out.add(rcSpecialCategory)
		return false
	}
	if c.valid > 0 {
		return e.useConsent(&c, out)
	}
	// Step D. A withdrawal of a marketing consent is read as a formless
	// objection to direct marketing on that channel (Art. 21(2) GDPR; UWG
	// §7(3) Nr. 3; UWG §7(1) S. 2). Whether it must be is not decided case
	// law (rules §12.5), so it stays the switch the rules define, on by
	// default; docs/policy-notes.md advises against turning it off.
	if c.withdrawn && e.r.withdrawalObj {
		return out.deny(rcConsentWithdrawn, &c.diag)
	}
	switch ch {
	case chEmail, chSMS:
		if e.rel != RelationshipCustomer {
			return out.deny(rcNoConsent, &c.diag)
		}
		var fails reasonList
		ec := &f.ExistingCustomer
		if e.r.eceChannels&(1<<ch) == 0 {
			fails.add(rcECEChannelNotCovered)
		}
		if !ec.AddressFromSale {
			fails.add(rcECEAddressNotFromSale)
		}
		if !ec.OwnSimilarOffer {
			fails.add(rcECEOfferNotSimilar)
		}
		if !ec.NoticeAtCollection {
			fails.add(rcECENoticeMissingAtCollection)
		}
		if !ec.NoticeInMessage {
			fails.add(rcECENoticeMissingInMessage)
		}
		if e.r.eceMaxDays >= 0 && (ec.LastPurchaseAt.n == 0 || int(e.asOf-ec.LastPurchaseAt.n) > e.r.eceMaxDays) {
			fails.add(rcECEPurchaseTooOld)
		}
		if fails.n == 0 {
			out.add(rcExistingCustomerExemption)
			return true
		}
		out.add(rcNoConsent)
		out.addAll(&c.diag)
		out.addAll(&fails)
		return false
	case chPhone:
		if e.b2b {
			if f.B2BPresumedConsent.Present && strings.TrimSpace(f.B2BPresumedConsent.Basis) != "" {
				out.add(rcB2BPresumedConsent)
				return true
			}
			out.add(rcNoPresumedConsent)
		}
		return out.deny(rcNoConsent, &c.diag)
	default: // post
		if e.rel == RelationshipSupplier && !f.SupplierNoticeGiven {
			out.add(rcSupplierNoticeMissing)
			return false
		}
		if e.thirdPty && !e.r.thirdPartyPostal {
			out.add(rcThirdPartyDataNotAccepted)
			return false
		}
		out.add(rcPostalLegitimateInterest)
		return true
	}
}

// consentConfirmation is the consent_confirmation rule of §7.4.
func (e *engine) consentConfirmation(ch uint8, out *reasonList) bool {
	var latest int32
	found := false
	for i := range e.recs {
		x := &e.recs[i]
		if x.status == sPending && x.channels&(1<<ch) != 0 {
			found = true
			latest = max(latest, x.given)
		}
	}
	if !found {
		out.add(rcNoPendingConsent)
		return false
	}
	for i := range e.objs {
		o := &e.objs[i]
		if o.dm && o.channels&(1<<chAny|1<<ch) != 0 && (o.at == 0 || o.at >= latest) {
			out.add(rcMarketingObjection)
			return false
		}
	}
	return e.adCheck(rcDOIConfirmationRequest, ch, out)
}

// analytics is §7.6.
func (e *engine) analytics(ch uint8, out *reasonList) bool {
	pr := &e.f.Processing
	c := e.evalConsent(pAnalytics, ch)
	if e.objectionBlocks(false, ch, &c) {
		out.add(rcProcessingObjection)
		return false
	}
	if pr.SpecialCategoryData && !c.anyExplicit {
		out.add(rcSpecialCategory)
		return false
	}
	if pr.DeviceAccess && !pr.StrictlyNecessary {
		if c.valid > 0 {
			return e.useConsent(&c, out)
		}
		return out.deny(rcDeviceAccessRequiresConsent, &c.diag)
	}
	if e.mode == AnalyticsAnonymous {
		out.add(rcAnonymousData)
		return true
	}
	if c.valid > 0 {
		return e.useConsent(&c, out)
	}
	if c.withdrawn && e.r.withdrawalObj {
		return out.deny(rcConsentWithdrawn, &c.diag)
	}
	if e.mode == AnalyticsPseudonymized {
		if e.r.pseudoAnalytics {
			out.add(rcPseudonymizedAnalytics)
			return true
		}
		return out.deny(rcNoConsent, &c.diag)
	}
	out.add(rcIdentifiedTrackingRequiresConsent)
	return out.deny(rcNoConsent, &c.diag)
}

// personalization is §7.7.
func (e *engine) personalization(ch uint8, out *reasonList) bool {
	pr := &e.f.Processing
	c := e.evalConsent(pPersonalization, ch)
	if e.objectionBlocks(true, ch, &c) {
		out.add(rcMarketingObjection)
		return false
	}
	if pr.SpecialCategoryData && !c.anyExplicit {
		out.add(rcSpecialCategory)
		return false
	}
	if pr.DeviceAccess && !pr.StrictlyNecessary && c.valid == 0 {
		return out.deny(rcDeviceAccessRequiresConsent, &c.diag)
	}
	if c.valid > 0 {
		return e.useConsent(&c, out)
	}
	// Step E: as in direct marketing, the switch of the rules (§5) decides
	// whether a withdrawal blocks the legitimate-interest fallback.
	if c.withdrawn && e.r.withdrawalObj {
		return out.deny(rcConsentWithdrawn, &c.diag)
	}
	if e.r.persLI && e.rel == RelationshipCustomer && !e.thirdPty {
		out.add(rcPersonalizationLegitimateInterest)
		return true
	}
	return out.deny(rcNoConsent, &c.diag)
}

// decision builds the §6 output: legal references, legal bases,
// obligations and warnings (§9).
func (e *engine) decision(p purpose, ch uint8, allowed bool, out *reasonList, version string) Decision {
	d := Decision{Allowed: allowed, PolicyVersion: version, AsOf: e.f.AsOf}
	d.Reasons = make([]Reason, out.n)
	nrefs := 0
	for i, c := range out.codes[:out.n] {
		d.Reasons[i] = reasons[c].code
		nrefs += len(reasons[c].refs)
	}
	d.LegalRefs = make([]string, 0, nrefs)
	for _, c := range out.codes[:out.n] {
	refs:
		for _, s := range reasons[c].refs {
			for _, have := range d.LegalRefs {
				if have == s {
					continue refs
				}
			}
			d.LegalRefs = append(d.LegalRefs, s)
		}
	}
	pr := &e.f.Processing
	if allowed {
		var bases [6]LegalBasis
		nb := 0
		addBasis := func(b LegalBasis) {
			for _, have := range bases[:nb] {
				if have == b {
					return
				}
			}
			bases[nb] = b
			nb++
		}
		for _, c := range out.codes[:out.n] {
			for _, b := range reasons[c].bases {
				addBasis(b)
			}
			if c == rcConsentValid {
				if pr.SpecialCategoryData {
					addBasis(BasisExplicitConsent)
				}
				if pr.DeviceAccess && !pr.StrictlyNecessary && (p == pAnalytics || p == pPersonalization) {
					addBasis(BasisDeviceConsent)
				}
			}
		}
		if nb > 0 {
			d.LegalBases = append([]LegalBasis(nil), bases[:nb]...)
		}
	}

	var obl [10]Obligation
	no := 0
	service := p == pContract || p == pInquiryReply || p == pRightsResponse || p == pConsentConfirmation
	if allowed {
		advertising := p == pDirectMarketing || (service && pr.ContainsAdvertising && e.adAllowed)
		if advertising && (ch == chEmail || ch == chSMS || ch == chPhone) {
			obl[no] = ObligationIncludeSenderIdentity
			no++
		}
		if advertising && (ch == chEmail || ch == chSMS) {
			obl[no] = ObligationIncludeUnsubscribeNotice
			no++
		}
		for _, c := range out.codes[:out.n] {
			if reasons[c].objections {
				obl[no] = ObligationIncludeObjectionNotice
				no++
				break
			}
		}
		if e.thirdPty {
			obl[no] = ObligationProvideArt14Information
			no++
		}
		if out.has(rcConsentValid) {
			obl[no] = ObligationLogConsentUsage
			no++
			if ch == chPhone && !e.b2b {
				obl[no] = ObligationDocumentPhoneConsent7a
				no++
			}
		}
		if out.has(rcB2BPresumedConsent) {
			obl[no] = ObligationRecordPresumedConsentBasis
			no++
		}
		if service && !pr.ContainsAdvertising {
			obl[no] = ObligationNoAdvertisingContent
			no++
		}
		if out.has(rcLegalRetentionDuty) {
			obl[no] = ObligationRestrictToRetentionPurpose
			no++
		}
	}
	if out.has(rcRetentionPeriodExpired) {
		obl[no] = ObligationDeleteNow
		no++
	}
	if no > 0 {
		d.Obligations = append([]Obligation(nil), obl[:no]...)
	}

	if allowed {
		var warn [3]Warning
		nw := 0
		if out.has(rcConsentValid) && e.r.maxIdle < 0 && e.r.warnDays >= 0 && int(e.asOf-e.freshest) > e.r.warnDays {
			warn[nw] = WarningConsentOld
			nw++
		}
		if out.has(rcB2BPresumedConsent) {
			warn[nw] = WarningPresumedConsentRequiresReview
			nw++
		}
		if e.thirdPty {
			warn[nw] = WarningThirdPartySource
			nw++
		}
		if nw > 0 {
			d.Warnings = append([]Warning(nil), warn[:nw]...)
		}
	}
	return d
}

// ValidateFacts reports the first problem Decide would find in f (missing
// required field, value outside its enumeration, invalid policy) as a
// *ValidationError with code invalid_facts.
func ValidateFacts(f Facts) error {
	e := engine{f: &f}
	if f.Policy != nil {
		if _, err := f.Policy.compile(); err != nil {
			return err
		}
	}
	_, _, err := e.load(nil, nil)
	return err
}
