// Package policyjson is the JSON wire format of the contactability engine:
// facts and request as in contactability-rules.md §3-§5, the decision as in
// §6, and newline-delimited batches (Stream). It does no network or disk I/O
// of its own.
//
// Field names are matched exactly (snake_case, case-sensitive); unknown
// field names are ignored as §4 requires. Values are checked strictly: a
// wrongly typed value or one outside its enumeration is an error naming the
// field path (e.g. "facts.consents[0].status") and the allowed values. JSON
// null counts as "absent", so an optional field takes its §4 default and a
// required one is reported missing.
package policyjson

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"

	"github.com/fairlead/fairlead/internal/policy"
)

// CodeInvalidJSON is the error code for input that is not JSON or not a JSON
// object where one is expected.
const CodeInvalidJSON = "invalid_json"

// Item is one evaluation input: {"id": …, "facts": {…}, "request": {…}}.
type Item struct {
	// ID is the caller's id, any JSON value, echoed verbatim; nil if absent.
	ID      json.RawMessage
	Facts   policy.Facts
	Request policy.Request
}

// object is a decoded JSON object with exact (case-sensitive) field names.
type object map[string]json.RawMessage

func jsonErr(msg string) *policy.ValidationError {
	return &policy.ValidationError{Code: CodeInvalidJSON, Message: msg}
}

func factsErr(field, msg string) *policy.ValidationError {
	return &policy.ValidationError{Code: policy.CodeInvalidFacts, Field: field, Message: msg}
}

func requestErr(field, msg string) *policy.ValidationError {
	return &policy.ValidationError{Code: policy.CodeInvalidRequest, Field: field, Message: msg}
}

// first returns the first non-whitespace byte of a JSON value (0 if none).
func first(raw []byte) byte {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

func isNull(raw json.RawMessage) bool { return raw == nil || first(raw) == 'n' }

// DecodeItem decodes and validates one evaluation input. The error is a
// *policy.ValidationError with code invalid_json, invalid_request or
// invalid_facts; the request is checked before the facts, as Decide does.
// When the input is a JSON object its id is returned with the error too.
func DecodeItem(data []byte) (Item, error) {
	var it Item
	if first(data) != '{' {
		if !json.Valid(data) {
			return it, jsonErr(syntaxMessage(data))
		}
		return it, jsonErr("expected a JSON object {\"id\": …, \"facts\": {…}, \"request\": {…}}")
	}
	var top object
	if err := json.Unmarshal(data, &top); err != nil {
		return it, jsonErr(syntaxMessage(data))
	}
	if raw, ok := top["id"]; ok {
		it.ID = bytes.Clone(raw)
	}
	req, err := decodeRequest(top["request"], "request")
	if err != nil {
		return it, err
	}
	if err := policy.ValidRequest(req); err != nil {
		return it, err
	}
	it.Request = req
	f, err := decodeFacts(top["facts"], "facts")
	if err != nil {
		return it, err
	}
	if err := policy.ValidateFacts(f); err != nil {
		return it, err
	}
	it.Facts = f
	return it, nil
}

// DecodeRequest decodes and validates a request object
// {"purpose": …, "channel": …}.
func DecodeRequest(data []byte) (policy.Request, error) {
	if !json.Valid(data) {
		return policy.Request{}, jsonErr(syntaxMessage(data))
	}
	r, err := decodeRequest(data, "request")
	if err != nil {
		return policy.Request{}, err
	}
	if err := policy.ValidRequest(r); err != nil {
		return policy.Request{}, err
	}
	return r, nil
}

// DecodeFacts decodes and validates a facts object (§4). A "policy" member
// is merged onto policy.DefaultPolicy.
func DecodeFacts(data []byte) (policy.Facts, error) {
	if !json.Valid(data) {
		return policy.Facts{}, jsonErr(syntaxMessage(data))
	}
	f, err := decodeFacts(data, "facts")
	if err != nil {
		return policy.Facts{}, err
	}
	if err := policy.ValidateFacts(f); err != nil {
		return policy.Facts{}, err
	}
	return f, nil
}

// DecodePolicy applies a §5 policy override object to base: keys replace
// settings one by one, accepted_verifications is merged per channel (null
// for a channel removes its check), null for a day limit switches it off.
// Field paths in errors start with "facts.policy".
func DecodePolicy(base policy.Policy, data []byte) (policy.Policy, error) {
	if !json.Valid(data) {
		return policy.Policy{}, jsonErr(syntaxMessage(data))
	}
	p, err := mergePolicy(base, data, "facts.policy")
	if err != nil {
		return policy.Policy{}, err
	}
	if err := p.Validate(); err != nil {
		return policy.Policy{}, err
	}
	return p, nil
}

func syntaxMessage(data []byte) string {
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		return "expected a JSON object"
	}
	if se, ok := err.(*json.SyntaxError); ok {
		return "malformed JSON at byte " + strconv.FormatInt(se.Offset, 10) + ": " + se.Error()
	}
	return "malformed JSON: " + err.Error()
}

func decodeRequest(raw json.RawMessage, path string) (policy.Request, error) {
	var r policy.Request
	if isNull(raw) {
		return r, requestErr(path, "required: an object {\"purpose\": …, \"channel\": …}")
	}
	o, err := toObject(raw, path, requestErr)
	if err != nil {
		return r, err
	}
	s, err := str(o["purpose"], path+".purpose", requestErr)
	if err != nil {
		return r, err
	}
	r.Purpose = policy.Purpose(s)
	if s, err = str(o["channel"], path+".channel", requestErr); err != nil {
		return r, err
	}
	r.Channel = policy.Channel(s)
	return r, nil
}

type errFunc func(field, msg string) *policy.ValidationError

func toObject(raw json.RawMessage, path string, mk errFunc) (object, error) {
	if first(raw) != '{' {
		return nil, mk(path, "must be an object, got "+kindOf(raw))
	}
	var o object
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, mk(path, "must be an object")
	}
	return o, nil
}

func kindOf(raw json.RawMessage) string {
	switch first(raw) {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case 0:
		return "nothing"
	}
	return "a number"
}

// str decodes an optional string; null and absent give "".
func str(raw json.RawMessage, path string, mk errFunc) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	if first(raw) != '"' {
		return "", mk(path, "must be a string, got "+kindOf(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", mk(path, "must be a string")
	}
	return s, nil
}

func boolean(raw json.RawMessage, path string) (bool, error) {
	switch first(raw) {
	case 0, 'n':
		return false, nil
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return false, factsErr(path, "must be true or false")
		}
		return b, nil
	}
	return false, factsErr(path, "must be true or false, got "+kindOf(raw))
}

func date(raw json.RawMessage, path string) (policy.Date, error) {
	s, err := str(raw, path, factsErr)
	if err != nil || s == "" {
		if err == nil && !isNull(raw) {
			err = factsErr(path, "must be a date YYYY-MM-DD or an RFC 3339 date-time, got \"\"")
		}
		return policy.Date{}, err
	}
	d, perr := policy.ParseDate(s)
	if perr != nil {
		return policy.Date{}, factsErr(path, "invalid date "+strconv.Quote(s)+": must be YYYY-MM-DD or an RFC 3339 date-time with a valid calendar date")
	}
	return d, nil
}

func array(raw json.RawMessage, path string) ([]json.RawMessage, error) {
	if isNull(raw) {
		return nil, nil
	}
	if first(raw) != '[' {
		return nil, factsErr(path, "must be an array, got "+kindOf(raw))
	}
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, factsErr(path, "must be an array")
	}
	return a, nil
}

func channels(raw json.RawMessage, path string) ([]policy.Channel, error) {
	a, err := array(raw, path)
	if err != nil || a == nil {
		return nil, err
	}
	out := make([]policy.Channel, len(a))
	for i, v := range a {
		p := path + "[" + strconv.Itoa(i) + "]"
		if first(v) != '"' {
			return nil, factsErr(p, "must be a channel string, got "+kindOf(v))
		}
		s, err := str(v, p, factsErr)
		if err != nil {
			return nil, err
		}
		out[i] = policy.Channel(s)
	}
	return out, nil
}

// days decodes a §5 day limit: null switches it off.
func days(raw json.RawMessage, path string) (policy.Limit, error) {
	if isNull(raw) {
		return policy.Limit{}, nil
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 32)
	if err != nil || n < 0 {
		return policy.Limit{}, factsErr(path, "must be a whole number of days >= 0, or null to switch it off")
	}
	return policy.LimitDays(int(n)), nil
}

// sub returns the member object at key, or nil when absent or null.
func sub(o object, key, path string) (object, error) {
	raw := o[key]
	if isNull(raw) {
		return nil, nil
	}
	return toObject(raw, path, factsErr)
}

func decodeFacts(raw json.RawMessage, path string) (policy.Facts, error) {
	var f policy.Facts
	if isNull(raw) {
		return f, factsErr(path, "required: an object with as_of, audience and relationship")
	}
	o, err := toObject(raw, path, factsErr)
	if err != nil {
		return f, err
	}
	dec := decoder{path: path}
	f.AsOf = dec.date(o, "as_of")
	f.Audience = policy.Audience(dec.str(o, "audience"))
	f.Relationship = policy.Relationship(dec.str(o, "relationship"))
	f.DataSource = policy.DataSource(dec.str(o, "data_source"))
	if dec.err != nil {
		return f, dec.err
	}

	list, err := array(o["consents"], path+".consents")
	if err != nil {
		return f, err
	}
	if len(list) > 0 {
		f.Consents = make([]policy.ConsentRecord, len(list))
	}
	for i, raw := range list {
		if f.Consents[i], err = decodeConsent(raw, path+".consents["+strconv.Itoa(i)+"]"); err != nil {
			return f, err
		}
	}
	if list, err = array(o["objections"], path+".objections"); err != nil {
		return f, err
	}
	if len(list) > 0 {
		f.Objections = make([]policy.Objection, len(list))
	}
	for i, raw := range list {
		p := path + ".objections[" + strconv.Itoa(i) + "]"
		obj, err := toObject(raw, p, factsErr)
		if err != nil {
			return f, err
		}
		d := decoder{path: p}
		f.Objections[i] = policy.Objection{
			Type:     policy.ObjectionType(d.str(obj, "type")),
			Channels: d.channels(obj, "channels"),
			At:       d.date(obj, "at"),
		}
		if d.err != nil {
			return f, d.err
		}
	}

	if ec := dec.sub(o, "existing_customer"); ec != nil {
		d := decoder{path: path + ".existing_customer"}
		f.ExistingCustomer = policy.ExistingCustomer{
			AddressFromSale:    d.bool(ec, "address_from_sale"),
			OwnSimilarOffer:    d.bool(ec, "own_similar_offer"),
			NoticeAtCollection: d.bool(ec, "notice_at_collection"),
			NoticeInMessage:    d.bool(ec, "notice_in_message"),
			LastPurchaseAt:     d.date(ec, "last_purchase_at"),
		}
		dec.take(d.err)
	}
	if pc := dec.sub(o, "b2b_presumed_consent"); pc != nil {
		d := decoder{path: path + ".b2b_presumed_consent"}
		f.B2BPresumedConsent = policy.PresumedConsent{Present: d.bool(pc, "present"), Basis: d.str(pc, "basis")}
		dec.take(d.err)
	}
	f.SupplierNoticeGiven = dec.bool(o, "supplier_notice_given")
	f.ContractActive = dec.bool(o, "contract_active")
	if ir := dec.sub(o, "inbound_request"); ir != nil {
		d := decoder{path: path + ".inbound_request"}
		f.InboundRequest = policy.InboundRequest{Open: d.bool(ir, "open"), ReplyChannels: d.channels(ir, "reply_channels")}
		dec.take(d.err)
	}
	f.OpenRightsRequest = dec.bool(o, "open_rights_request")
	if r := dec.sub(o, "restriction"); r != nil {
		d := decoder{path: path + ".restriction"}
		f.Restriction = policy.Restriction{Active: d.bool(r, "active"), Since: d.date(r, "since"), Ground: policy.RestrictionGround(d.str(r, "ground"))}
		dec.take(d.err)
	}
	if e := dec.sub(o, "erasure"); e != nil {
		d := decoder{path: path + ".erasure"}
		f.Erasure = policy.Erasure{Status: policy.ErasureStatus(d.str(e, "status")), At: d.date(e, "at")}
		dec.take(d.err)
	}
	if rd := dec.sub(o, "retention_duty"); rd != nil {
		d := decoder{path: path + ".retention_duty"}
		f.RetentionDuty = policy.RetentionDuty{Applies: d.bool(rd, "applies"), Until: d.date(rd, "until"), Basis: d.str(rd, "basis")}
		dec.take(d.err)
	}
	if pr := dec.sub(o, "processing"); pr != nil {
		d := decoder{path: path + ".processing"}
		f.Processing = policy.Processing{
			ContainsAdvertising: d.bool(pr, "contains_advertising"),
			SpecialCategoryData: d.bool(pr, "special_category_data"),
			DeviceAccess:        d.bool(pr, "device_access"),
			StrictlyNecessary:   d.bool(pr, "strictly_necessary"),
			AnalyticsMode:       policy.AnalyticsMode(d.str(pr, "analytics_mode")),
		}
		dec.take(d.err)
	}
	if dec.err != nil {
		return f, dec.err
	}
	if raw := o["policy"]; !isNull(raw) {
		p, err := mergePolicy(policy.DefaultPolicy(), raw, path+".policy")
		if err != nil {
			return f, err
		}
		f.Policy = &p
	}
	return f, nil
}

func decodeConsent(raw json.RawMessage, path string) (policy.ConsentRecord, error) {
	var c policy.ConsentRecord
	o, err := toObject(raw, path, factsErr)
	if err != nil {
		return c, err
	}
	if isNull(o["channels"]) {
		return c, factsErr(path+".channels", "required: the channels named in the consent ("+channelList+")")
	}
	d := decoder{path: path}
	c = policy.ConsentRecord{
		ID:                      d.str(o, "id"),
		Purpose:                 policy.Purpose(d.str(o, "purpose")),
		Channels:                d.channels(o, "channels"),
		Status:                  policy.ConsentStatus(d.str(o, "status")),
		GivenAt:                 d.date(o, "given_at"),
		ConfirmedAt:             d.date(o, "confirmed_at"),
		WithdrawnAt:             d.date(o, "withdrawn_at"),
		LastUsedAt:              d.date(o, "last_used_at"),
		Verification:            policy.Verification(d.str(o, "verification")),
		EvidenceRecorded:        d.bool(o, "evidence_recorded"),
		CollectedBy:             policy.Collector(d.str(o, "collected_by")),
		PreTicked:               d.bool(o, "pre_ticked"),
		Coupled:                 d.bool(o, "coupled"),
		ExplicitSpecialCategory: d.bool(o, "explicit_special_category"),
	}
	return c, d.err
}

const channelList = "email, sms, phone, post, web, none"

// decoder reads members of one object and keeps the first error, so that a
// struct literal can list every field once.
type decoder struct {
	path string
	err  error
}

func (d *decoder) take(err error) {
	if d.err == nil && err != nil {
		d.err = err
	}
}

func (d *decoder) str(o object, key string) string {
	s, err := str(o[key], d.path+"."+key, factsErr)
	d.take(err)
	return s
}

func (d *decoder) bool(o object, key string) bool {
	b, err := boolean(o[key], d.path+"."+key)
	d.take(err)
	return b
}

func (d *decoder) date(o object, key string) policy.Date {
	v, err := date(o[key], d.path+"."+key)
	d.take(err)
	return v
}

func (d *decoder) channels(o object, key string) []policy.Channel {
	v, err := channels(o[key], d.path+"."+key)
	d.take(err)
	return v
}

func (d *decoder) sub(o object, key string) object {
	v, err := sub(o, key, d.path+"."+key)
	d.take(err)
	return v
}

func mergePolicy(p policy.Policy, raw json.RawMessage, path string) (policy.Policy, error) {
	o, err := toObject(raw, path, factsErr)
	if err != nil {
		return p, err
	}
	d := decoder{path: path}
	set := func(key string, dst *bool) {
		if !isNull(o[key]) {
			*dst = d.bool(o, key)
		}
	}
	limit := func(key string, dst *policy.Limit) {
		if raw, ok := o[key]; ok {
			v, err := days(raw, path+"."+key)
			d.take(err)
			*dst = v
		}
	}
	set("accept_third_party_consents", &p.AcceptThirdPartyConsents)
	if av := d.sub(o, "accepted_verifications"); av != nil {
		merged := make(map[policy.Channel][]policy.Verification, len(p.AcceptedVerifications)+len(av))
		for ch, list := range p.AcceptedVerifications {
			merged[ch] = append([]policy.Verification(nil), list...)
		}
		for _, ch := range slices.Sorted(maps.Keys(av)) {
			raw := av[ch]
			if isNull(raw) {
				delete(merged, policy.Channel(ch))
				continue
			}
			fp := path + ".accepted_verifications." + ch
			items, err := array(raw, fp)
			if err != nil {
				d.take(err)
				continue
			}
			list := make([]policy.Verification, 0, len(items))
			for i, it := range items {
				s, err := str(it, fp+"["+strconv.Itoa(i)+"]", factsErr)
				if err == nil && first(it) != '"' {
					err = factsErr(fp+"["+strconv.Itoa(i)+"]", "must be a verification string, got "+kindOf(it))
				}
				d.take(err)
				list = append(list, policy.Verification(s))
			}
			merged[policy.Channel(ch)] = list
		}
		p.AcceptedVerifications = merged
	}
	limit("consent_max_idle_days", &p.ConsentMaxIdleDays)
	limit("consent_age_warning_days", &p.ConsentAgeWarningDays)
	if raw := o["ece_channels"]; !isNull(raw) {
		if chs := d.channels(o, "ece_channels"); d.err == nil {
			p.ECEChannels = chs
			if chs == nil {
				p.ECEChannels = []policy.Channel{}
			}
		}
	}
	limit("ece_max_days_since_last_purchase", &p.ECEMaxDaysSinceLastPurchase)
	set("later_consent_lifts_objection", &p.LaterConsentLiftsObjection)
	set("withdrawal_counts_as_objection", &p.WithdrawalCountsAsObjection)
	set("third_party_postal_allowed", &p.ThirdPartyPostalAllowed)
	set("pseudonymized_analytics_without_consent", &p.PseudonymizedAnalyticsWithoutConsent)
	set("personalization_legitimate_interest", &p.PersonalizationLegitimateInterest)
	return p, d.err
}
