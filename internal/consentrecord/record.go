package consentrecord

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// obj is a JSON object. encoding/json writes map keys sorted, which is what
// makes the output byte-for-byte deterministic.
type obj = map[string]any

// Record returns the consent record as JSON-LD following the DPVCG profile
// dpv-27560#record for ISO/IEC TS 27560:2023. The input is validated first.
func Record(in Input) ([]byte, error) {
	if err := in.Validate(); err != nil {
		return nil, fmt.Errorf("consentrecord: invalid input: %w", err)
	}
	in = in.withDefaults()
	ctl := in.Controller.ID

	notices := []any{}
	seen := map[Notice]bool{}
	events := make([]any, 0, len(in.Events))
	state := Status("")
	for _, e := range in.Events {
		if !e.Notice.empty() && !seen[e.Notice] {
			seen[e.Notice] = true
			notices = append(notices, noticeObj(e.Notice))
		}
		events = append(events, eventObj(in, e, state))
		state = next(state, e.Kind)
	}

	entities := []any{entityObj(in.Controller.Party, []string{"dpv:Organisation", "dpv:DataController"}, in.Controller.ImprintURL)}
	for _, r := range in.Recipients {
		entities = append(entities, entityObj(r.Party, []string{"dpv:Organisation", recipientRoles[r.Role]}, ""))
	}

	doc := obj{
		"@context":              context,
		"@id":                   "urn:uuid:" + in.RecordID,
		"@type":                 "dpv:ConsentRecord",
		"dct:conformsTo":        RecordProfile,
		"dct:identifier":        in.RecordID,
		"dpv:hasIdentifier":     in.RecordID,
		"dct:created":           timestamp(in.CreatedAt),
		"dct:modified":          timestamp(in.UpdatedAt),
		"schema:version":        in.Version,
		"dct:publisher":         ctl,
		"dpv:hasDataSubject":    subjectObj(in.Subject),
		"dpv:hasProcess":        []any{processObj(in)},
		"dpv:hasNotice":         notices,
		"dpv:hasEntity":         entities,
		"dpv:hasConsentStatus":  events,
		"dpv:hasDataController": ctl,
	}
	if len(in.ApplicableLaws) > 0 {
		doc["dpv:hasApplicableLaw"] = lawsObj(in.ApplicableLaws)
	}
	return encode(doc)
}

// Receipt returns the summary consent receipt for the person as JSON-LD: the
// receipt header of ISO/IEC TS 27560:2023 around a summary of the record
// (see ReceiptSummaryProfile). The input is validated first.
func Receipt(in Input) ([]byte, error) {
	if err := in.Validate(); err != nil {
		return nil, fmt.Errorf("consentrecord: invalid input: %w", err)
	}
	in = in.withDefaults()
	ctl := in.Controller.ID

	// The summary names the event that set the current state: the last
	// request while pending, the last confirmation while given, the
	// withdrawal once withdrawn.
	want := map[Status]EventKind{StatusPending: EventRequested, StatusGiven: EventConfirmed, StatusWithdrawn: EventWithdrawn}[in.Status]
	cur, prev := 0, Status("")
	state := Status("")
	for i, e := range in.Events {
		if e.Kind == want {
			cur, prev = i, state
		}
		state = next(state, e.Kind)
	}
	current := &in.Events[cur]
	status := obj{
		"@type":                   statusTypes(in, *current, prev),
		"dpv:isIndicatedAtTime":   timestamp(current.At),
		"dpv:isIndicatedBy":       indicatedBy(in, *current),
		"dpv:hasIndicationMethod": string(current.Method),
	}
	if !current.Notice.empty() {
		status["dpv:hasNotice"] = noticeObj(current.Notice)
	}

	record := obj{
		"@id":                   "urn:uuid:" + in.RecordID,
		"@type":                 "dpv:ConsentRecord",
		"dct:identifier":        in.RecordID,
		"schema:version":        in.Version,
		"dct:modified":          timestamp(in.UpdatedAt),
		"dpv:hasDataSubject":    "urn:uuid:" + in.Subject.ContactID,
		"dpv:hasDataController": ctl,
		"dpv:hasPurpose":        purposeObj(in.Purpose),
		"dpv:hasLegalBasis":     []any{lawfulBases[in.Purpose.LawfulBasis].iri},
		"fairlead:channel":      stringsAny(in.Channels),
		"dpv:hasConsentStatus":  status,
		"dpv:hasConsentControl": consentControlObj(in),
		"dpv:hasRight":          rightsObj(in),
	}
	if len(in.ApplicableLaws) > 0 {
		record["dpv:hasApplicableLaw"] = lawsObj(in.ApplicableLaws)
	}

	doc := obj{
		"@context":                context,
		"@id":                     "urn:uuid:" + in.ReceiptID,
		"@type":                   "dpv:ConsentReceipt",
		"dct:conformsTo":          ReceiptSummaryProfile,
		"dct:identifier":          in.ReceiptID,
		"dpv:hasIdentifier":       in.ReceiptID,
		"dct:created":             timestamp(in.IssuedAt),
		"dct:publisher":           ctl,
		"schema:recipient":        "urn:uuid:" + in.Subject.ContactID,
		"dpv:hasEntity":           []any{entityObj(in.Controller.Party, []string{"dpv:Organisation", "dpv:DataController"}, in.Controller.ImprintURL)},
		"dpv:hasRecordOfActivity": []any{record},
	}
	return encode(doc)
}

// withDefaults fills in the values that have defaults; it runs after
// validation.
func (in Input) withDefaults() Input {
	if in.UpdatedAt.IsZero() {
		in.UpdatedAt = in.CreatedAt
	}
	if in.IssuedAt.IsZero() {
		in.IssuedAt = in.UpdatedAt
	}
	if in.ReceiptID == "" {
		in.ReceiptID = uuidV5(in.RecordID, fmt.Sprintf("receipt-summary/v%d", in.Version))
	}
	if in.Controller.ID == "" {
		in.Controller.ID = in.Controller.ImprintURL
	}
	if len(in.Rights) == 0 {
		in.Rights = defaultRights
	}
	return in
}

func processObj(in Input) obj {
	p := in.Purpose
	data := make([]any, 0, len(p.DataCategories))
	for _, c := range p.DataCategories {
		concept := c.Concept
		if concept == "" {
			concept = dataConcepts[c.Key]
		}
		data = append(data, obj{
			"@type":          "dpv:PersonalData",
			"dct:identifier": c.Key,
			"skos:broader":   concept,
		})
	}
	recipients := []any{in.Controller.ID}
	for _, r := range in.Recipients {
		recipients = append(recipients, r.ID)
	}
	storage := []any{
		obj{"@type": "dpv:StorageLocation", "dpv:hasLocation": stringsAny(in.Storage.Locations)},
		durationCondition(in.Storage),
	}
	return obj{
		"@type":                   "dpv:Process",
		"dpv:hasPurpose":          purposeObj(p),
		"dpv:hasPersonalData":     data,
		"dpv:hasDataController":   in.Controller.ID,
		"dpv:hasRecipient":        recipients,
		"dpv:hasLegalBasis":       []any{lawfulBases[p.LawfulBasis].iri},
		"dpv:hasStorageCondition": storage,
		"dpv:hasJurisdiction":     stringsAny(in.Jurisdictions),
		"dpv:hasConsentControl":   consentControlObj(in),
		"dpv:hasRight":            rightsObj(in),
		"fairlead:channel":        stringsAny(in.Channels),
	}
}

func durationCondition(s Storage) obj {
	o := obj{
		"@type":           "dpv:StorageDuration",
		"dpv:hasDuration": obj{"@type": "dpv:TemporalDuration", "rdf:value": s.Retention},
	}
	if s.RetentionNote != "" {
		o["dct:description"] = s.RetentionNote
	}
	return o
}

func purposeObj(p Purpose) obj {
	category := p.DPVPurpose
	if category == "" {
		category = purposeKinds[p.Kind]
	}
	return obj{
		"@type":          "dpv:Purpose",
		"dct:identifier": p.Key,
		"skos:broader":   category,
		"dct:description": []any{
			obj{"@language": "de", "@value": p.DescriptionDE},
			obj{"@language": "en", "@value": p.DescriptionEN},
		},
	}
}

func consentControlObj(in Input) obj {
	return obj{
		"@type":             []any{"dpv:WithdrawConsent"},
		"dpv:isExercisedAt": in.WithdrawURL,
	}
}

func rightsObj(in Input) []any {
	rights := make([]any, 0, len(in.Rights))
	for _, r := range in.Rights {
		rights = append(rights, obj{
			"@type":             []any{"dpv:DataSubjectRight", r},
			"dpv:isExercisedAt": in.RightsURL,
		})
	}
	return rights
}

func subjectObj(s Subject) obj {
	return obj{
		"@id":            "urn:uuid:" + s.ContactID,
		"@type":          "dpv:DataSubject",
		"dct:identifier": s.ContactID,
	}
}

func entityObj(p Party, types []string, imprint string) obj {
	contact := obj{"@type": "schema:ContactPoint"}
	if p.Email != "" {
		contact["schema:email"] = p.Email
	}
	if p.Phone != "" {
		contact["schema:telephone"] = p.Phone
	}
	if p.URL != "" {
		contact["schema:url"] = p.URL
	}
	address := obj{
		"@type":                  "schema:PostalAddress",
		"schema:streetAddress":   p.Address.Street,
		"schema:postalCode":      p.Address.PostalCode,
		"schema:addressLocality": p.Address.City,
		"schema:addressCountry":  p.Address.Country,
	}
	o := obj{
		"@id":                 p.ID,
		"@type":               stringsAny(types),
		"dpv:hasName":         p.Name,
		"dpv:hasIdentifier":   p.ID,
		"schema:contactPoint": []any{contact, address},
	}
	if imprint != "" {
		o["schema:url"] = imprint
	}
	return o
}

func lawsObj(laws []Law) []any {
	out := make([]any, 0, len(laws))
	for _, l := range laws {
		o := obj{"@id": l.IRI, "@type": "dpv:Law"}
		if l.Title != "" {
			o["dct:title"] = l.Title
		}
		out = append(out, o)
	}
	return out
}

func noticeObj(n Notice) obj {
	return obj{
		"@type":          "dpv:ConsentNotice",
		"dct:identifier": n.VersionID,
		"schema:url":     n.URL,
		"schema:sha256":  n.SHA256,
		"dct:language":   n.Language,
	}
}

// eventObj renders one ledger event as a DPV consent status; prev is the
// state before the event.
func eventObj(in Input, e Event, prev Status) obj {
	o := obj{
		"@type":                   statusTypes(in, e, prev),
		"dpv:isIndicatedAtTime":   timestamp(e.At),
		"dpv:isIndicatedBy":       indicatedBy(in, e),
		"dpv:hasIndicationMethod": string(e.Method),
		"dpv:hasDuration":         durationObj(e),
		"dct:creator":             e.RecordedBy,
	}
	if !e.Notice.empty() {
		o["dpv:hasNotice"] = noticeObj(e.Notice)
	}
	if e.TextShown != "" {
		o["fairlead:textShown"] = e.TextShown
	}
	if e.Source != (Source{}) {
		o["dct:source"] = obj{"dct:type": e.Source.Kind, "dct:identifier": e.Source.ID}
	}
	return o
}

func statusTypes(in Input, e Event, prev Status) []any {
	switch e.Kind {
	case EventRequested:
		return []any{"dpv:ConsentRequested"}
	case EventConfirmed:
		status := "dpv:ConsentGiven"
		if prev == StatusGiven {
			status = "dpv:RenewedConsentGiven"
		}
		return []any{status, consentTypes[in.Purpose.ConsentType]}
	default:
		return []any{"dpv:ConsentWithdrawn"}
	}
}

func indicatedBy(in Input, e Event) string {
	if e.Kind == EventRequested {
		return in.Controller.ID
	}
	return "dpv:DataSubject"
}

func durationObj(e Event) obj {
	switch {
	case e.ValidFor != "":
		return obj{"@type": "dpv:TemporalDuration", "rdf:value": e.ValidFor}
	case e.Kind == EventRequested:
		return obj{"@type": "dpv:UntilEventDuration", "rdf:value": "until the request is confirmed or refused"}
	case e.Kind == EventConfirmed:
		return obj{"@type": "dpv:UntilEventDuration", "rdf:value": "until consent is withdrawn"}
	default:
		return obj{"@type": "dpv:EndlessDuration"}
	}
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func stringsAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func encode(doc obj) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("consentrecord: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// uuidV5 is the name-based UUID (RFC 9562, version 5) of name in the
// namespace of the UUID ns; ns has been validated.
func uuidV5(ns, name string) string {
	raw, _ := hex.DecodeString(ns[0:8] + ns[9:13] + ns[14:18] + ns[19:23] + ns[24:])
	h := sha1.New()
	h.Write(raw)
	h.Write([]byte(name))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	s := hex.EncodeToString(u)
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
