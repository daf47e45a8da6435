// Package consent is the consent ledger: an append-only, per-workspace
// hash-chained log of permission events (consents, withdrawals, objections,
// restrictions, contracts, …) with their evidence; the business purposes and
// the versioned notices the events refer to; and the derivation of the
// contactability engine's facts from a contact and its ledger.
//
// Rows of the ledger are never updated or deleted. Personal evidence (IP
// address, user agent, …) is sealed with the contact's data key, and the
// chain hashes the sealed bytes, so a later crypto-shred leaves the chain
// intact.
package consent

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Event kinds.
const (
	KindConsentRequested = "consent_requested"
	KindConsentConfirmed = "consent_confirmed"
	KindConsentWithdrawn = "consent_withdrawn"
	// KindConsentUsed records that a consent was relied on (a message sent
	// on it): rules §9 log_consent_usage, and UWG §7a(2), which keeps the
	// proof of a phone consent five years from each use.
	KindConsentUsed = "consent_used"
	// KindRecordChanged is written by fairlead itself when a contact's
	// audience, relationship, data source, e-mail address or phone number
	// changes, so every later decision can be traced to the record it
	// read (Art. 5(2) GDPR). It cannot be appended through the API.
	KindRecordChanged           = "record_changed"
	KindObjection               = "objection"
	KindRestrictionStarted      = "restriction_started"
	KindRestrictionLifted       = "restriction_lifted"
	KindRelationshipStarted     = "relationship_started"
	KindRelationshipEnded       = "relationship_ended"
	KindNoticeGiven             = "notice_given"
	KindLegitimateInterest      = "legitimate_interest_assessment"
	KindInboundRequestReceived  = "inbound_request_received"
	KindInboundRequestClosed    = "inbound_request_closed"
	KindContractStarted         = "contract_started"
	KindContractEnded           = "contract_ended"
	KindRightsRequestOpened     = "rights_request_opened"
	KindRightsRequestClosed     = "rights_request_closed"
	KindRetentionDutyStarted    = "retention_duty_started"
	KindErasureRequested        = "erasure_requested"
	KindErasureExecuted         = "erasure_executed"
	KindPresumedConsentRecorded = "presumed_consent_recorded"
	KindExistingCustomerFacts   = "existing_customer_facts"
	// KindLetterSent records one advertising letter put into a print batch:
	// which purpose, on which channel (post), from which template version,
	// so every letter can be traced to the decision that allowed it.
	KindLetterSent = "letter_sent"
)

// EventKinds lists every kind. There is no "objection_lifted": an objection
// is lifted only by a later valid consent (rules §5
// later_consent_lifts_objection).
var EventKinds = []string{
	KindConsentRequested, KindConsentConfirmed, KindConsentWithdrawn, KindObjection,
	KindRestrictionStarted, KindRestrictionLifted, KindRelationshipStarted, KindRelationshipEnded,
	KindNoticeGiven, KindLegitimateInterest, KindInboundRequestReceived, KindInboundRequestClosed,
	KindContractStarted, KindContractEnded, KindRightsRequestOpened, KindRightsRequestClosed,
	KindRetentionDutyStarted, KindErasureRequested, KindErasureExecuted, KindPresumedConsentRecorded,
	KindExistingCustomerFacts, KindConsentUsed, KindRecordChanged, KindLetterSent,
}

// Enumerations of event attributes.
var (
	LawfulBases         = []string{"art6_1_a", "art6_1_b", "art6_1_c", "art6_1_f"}
	Verifications       = []string{"email_doi", "sms_doi", "written", "voice_recording", "consent_banner", "none"}
	Collectors          = []string{"self", "third_party"}
	ObjectionTypes      = []string{"direct_marketing", "analytics"}
	RestrictionGrounds  = []string{"accuracy_contested", "unlawful_opposed_erasure", "legal_claims", "objection_pending"}
	RelationshipTypes   = []string{"customer", "supplier"}
	RightsRequestTypes  = []string{"access", "rectification", "erasure", "restriction", "portability", "objection"}
	ConfirmationMethods = []string{"email_link", "sms_code", "signature", "voice_recording", "checkbox", "banner_click"}
	replyChannels       = []string{"email", "sms", "phone", "post"}
	consentKinds        = []string{"direct_marketing", "analytics", "personalization"}
)

// defaultBasis is the lawful basis recorded when the caller names none.
var defaultBasis = map[string]string{
	KindConsentRequested: "art6_1_a", KindConsentConfirmed: "art6_1_a", KindConsentWithdrawn: "art6_1_a",
	KindRestrictionStarted: "art6_1_c", KindRestrictionLifted: "art6_1_c",
	KindRelationshipStarted: "art6_1_b", KindRelationshipEnded: "art6_1_b",
	KindNoticeGiven: "art6_1_c", KindLegitimateInterest: "art6_1_f",
	KindInboundRequestReceived: "art6_1_b", KindInboundRequestClosed: "art6_1_b",
	KindContractStarted: "art6_1_b", KindContractEnded: "art6_1_b",
	KindRightsRequestOpened: "art6_1_c", KindRightsRequestClosed: "art6_1_c",
	KindRetentionDutyStarted: "art6_1_c", KindErasureRequested: "art6_1_c", KindErasureExecuted: "art6_1_c",
	KindPresumedConsentRecorded: "art6_1_f", KindExistingCustomerFacts: "art6_1_f",
	KindConsentUsed: "art6_1_a", KindRecordChanged: "art6_1_c", KindLetterSent: "art6_1_f",
}

// Details are the kind-specific attributes of an event. Only the fields of
// the event's kind may be set (see Append).
type Details struct {
	// Consent attributes (consent_requested, consent_confirmed).
	Verification            string `json:"verification,omitempty"`
	CollectedBy             string `json:"collected_by,omitempty"`
	PreTicked               bool   `json:"pre_ticked,omitempty"`
	Coupled                 bool   `json:"coupled,omitempty"`
	ExplicitSpecialCategory bool   `json:"explicit_special_category,omitempty"`
	// ObjectionType of an objection: direct_marketing or analytics.
	ObjectionType string `json:"objection_type,omitempty"`
	// Ground of a restriction (Art. 18(1)).
	Ground string `json:"ground,omitempty"`
	// Relationship of relationship_started/ended: customer or supplier.
	Relationship string `json:"relationship,omitempty"`
	// Notice is the version hash given (notice_given); NoticeKind is filled
	// in by the ledger from the notice.
	Notice     string `json:"notice,omitempty"`
	NoticeKind string `json:"notice_kind,omitempty"`
	// Assessment is the text of a legitimate-interest balancing test.
	Assessment string `json:"assessment,omitempty"`
	// Basis of a retention duty or of a presumed consent.
	Basis string `json:"basis,omitempty"`
	// Until is the last day of a retention duty (YYYY-MM-DD), "" = open end.
	Until string `json:"until,omitempty"`
	// RequestType of a rights request.
	RequestType string `json:"request_type,omitempty"`
	// existing_customer_facts (UWG §7(3) Nr. 1 and 4).
	AddressFromSale    bool   `json:"address_from_sale,omitempty"`
	NoticeAtCollection bool   `json:"notice_at_collection,omitempty"`
	LastPurchaseAt     string `json:"last_purchase_at,omitempty"`
	// Changes of a record_changed event.
	Changes []contact.FieldChange `json:"changes,omitempty"`
	// Template is the version hash of the letter template (letter_sent).
	Template string `json:"template,omitempty"`
}

// EvidenceInput is the evidence sent with an event. Source, NoticeHash,
// TextShown and the confirmation are stored in clear (they are about the
// form, not the person); IPAddress, UserAgent, Phone and Address are sealed
// with the contact's data key.
type EvidenceInput struct {
	Source             string     `json:"source,omitempty"`
	NoticeHash         string     `json:"notice_hash,omitempty"`
	TextShown          string     `json:"text_shown,omitempty"`
	ConfirmationMethod string     `json:"confirmation_method,omitempty"`
	ConfirmedAt        *time.Time `json:"confirmed_at,omitempty"`
	IPAddress          string     `json:"ip_address,omitempty"`
	UserAgent          string     `json:"user_agent,omitempty"`
	Phone              string     `json:"phone,omitempty"`
	Address            string     `json:"address,omitempty"`
}

// NewEvent is the input of Append.
type NewEvent struct {
	Kind        string     `json:"kind"`
	Purpose     string     `json:"purpose,omitempty"`
	Channels    []string   `json:"channels,omitempty"`
	LawfulBasis string     `json:"lawful_basis,omitempty"`
	OccurredAt  *time.Time `json:"occurred_at,omitempty"`
	Details
	Evidence EvidenceInput `json:"evidence"`
}

// Actor is who records an event: an API token or a user.
type Actor struct {
	TokenID string
	UserID  string
}

func (a Actor) String() string {
	switch {
	case a.UserID != "":
		return "user:" + a.UserID
	case a.TokenID != "":
		return "token:" + a.TokenID
	}
	return "system"
}

// storedEvidence is the non-personal evidence as stored (JSON).
type storedEvidence struct {
	Source             string `json:"source,omitempty"`
	NoticeHash         string `json:"notice_hash,omitempty"`
	TextSHA256         string `json:"text_sha256,omitempty"`
	ConfirmationMethod string `json:"confirmation_method,omitempty"`
	ConfirmedAt        string `json:"confirmed_at,omitempty"`
	Actor              string `json:"actor,omitempty"`
}

// PersonalEvidence is the sealed part of the evidence.
type PersonalEvidence struct {
	IPAddress string `json:"ip_address,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Address   string `json:"address,omitempty"`
}

// Evidence is the evidence of an event as shown.
type Evidence struct {
	Source             string     `json:"source,omitempty"`
	NoticeHash         string     `json:"notice_hash,omitempty"`
	TextShown          string     `json:"text_shown,omitempty"`
	TextSHA256         string     `json:"text_sha256,omitempty"`
	ConfirmationMethod string     `json:"confirmation_method,omitempty"`
	ConfirmedAt        *time.Time `json:"confirmed_at,omitempty"`
	Actor              string     `json:"actor,omitempty"`
	// Personal is set when the caller may see personal evidence and it can
	// still be opened.
	Personal *PersonalEvidence `json:"personal,omitempty"`
	// Personal is "present", "redacted" (exists, not shown to this caller),
	// "erased" (the data key was shredded) or "none".
	PersonalState string `json:"personal_state"`
}

// Event is one ledger entry.
type Event struct {
	ID          string   `json:"id"`
	WorkspaceID string   `json:"workspace_id"`
	ContactID   string   `json:"contact_id"`
	Seq         int64    `json:"seq"`
	Kind        string   `json:"kind"`
	Purpose     string   `json:"purpose"`
	Channels    []string `json:"channels"`
	LawfulBasis string   `json:"lawful_basis"`
	// ContactPoint is the blind index of the e-mail address or phone number
	// the event concerns ("" when none), so a consent covers only the
	// address that was confirmed.
	ContactPoint string    `json:"contact_point"`
	Details      Details   `json:"details"`
	Evidence     Evidence  `json:"evidence"`
	OccurredAt   time.Time `json:"occurred_at"`
	RecordedAt   time.Time `json:"recorded_at"`
	Hash         string    `json:"hash"`

	stored storedEvidence
	sealed []byte
}

// row is an event as stored: exactly the bytes the hash covers.
type row struct {
	ID, WorkspaceID, ContactID                                      string
	Seq                                                             int64
	Kind, Purpose, Channels, LawfulBasis, ContactPoint, Details, Ev string
	Sealed                                                          []byte
	OccurredAt, RecordedAt                                          time.Time
	Hash                                                            []byte
	// evArg is Ev as stored (Ledger.evidenceArg), made when the row is
	// checked so that the writer, which every submission waits for, does
	// not pack it; nil = pack it when written.
	evArg any
	// dec is Channels, Details and Ev decoded, for rows the ledger builds
	// itself (check): a sign-up's event is read by its transition check,
	// its state derivation (twice) and its Event, and decoding the same
	// JSON for each was a tenth of a submission's CPU. Rows read from the
	// database have none: each of those is parsed once. nil = decode.
	dec *decoded
}

// decoded is a row's JSON columns decoded, with what decoding each said.
type decoded struct {
	channels                 []string
	details                  Details
	evidence                 storedEvidence
	chErr, detailsErr, evErr error
}

// decode decodes r's JSON columns into r.dec. The strings must not change
// after it: nothing changes a row's columns once it is checked.
func (r *row) decode() {
	d := &decoded{}
	d.chErr = json.Unmarshal([]byte(r.Channels), &d.channels)
	d.detailsErr = json.Unmarshal([]byte(r.Details), &d.details)
	d.evErr = json.Unmarshal([]byte(r.Ev), &d.evidence)
	r.dec = d
}

// decodedOf is what decoding the JSON of chs, d and se gives, without
// decoding it: the values themselves, when they come back from JSON
// unchanged — every string valid UTF-8 (JSON would replace the rest) and
// no record changes, whose values would come back with JSON's types. nil
// otherwise: then decode.
func decodedOf(chs []string, d Details, se storedEvidence) *decoded {
	if d.Changes != nil {
		return nil
	}
	for _, v := range chs {
		if !utf8.ValidString(v) {
			return nil
		}
	}
	if !structStringsValid(reflect.ValueOf(d)) || !structStringsValid(reflect.ValueOf(se)) {
		return nil
	}
	return &decoded{channels: slices.Clone(chs), details: d, evidence: se}
}

// structStringsValid reports whether the struct v comes back from JSON as
// it is: only exported strings (valid UTF-8), booleans, integers and nil
// slices. Any other field makes it false, so a field added later of
// another kind is decoded.
func structStringsValid(v reflect.Value) bool {
	for i := range v.NumField() {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() {
			return false
		}
		switch f.Kind() {
		case reflect.String:
			if !utf8.ValidString(f.String()) {
				return false
			}
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		case reflect.Slice:
			if !f.IsNil() {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// rowEvidence is the row's evidence as stored.
func (l *Ledger) rowEvidence(r *row) any {
	if r.evArg != nil {
		return r.evArg
	}
	return l.evidenceArg(r.Ev)
}

// genesis is the "previous hash" of the first event of a workspace.
var genesis = make([]byte, sha256.Size)

// chainHash is SHA-256 over a canonical, length-prefixed encoding of the
// previous hash and every stored column of the row. The sealed evidence is
// hashed as stored (ciphertext), so shredding a data key does not change
// any hash. Times enter as Unix microseconds, the precision both engines keep.
func chainHash(prev []byte, r *row) []byte {
	h := sha256.New()
	put := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	num := func(v int64) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(v))
		put(n[:])
	}
	put([]byte("fairlead ledger v1"))
	put(prev)
	num(r.Seq)
	for _, s := range []string{r.ID, r.WorkspaceID, r.ContactID, r.Kind, r.Purpose, r.Channels, r.LawfulBasis, r.ContactPoint, r.Details, r.Ev} {
		put([]byte(s))
	}
	put(r.Sealed)
	num(r.OccurredAt.UnixMicro())
	num(r.RecordedAt.UnixMicro())
	return h.Sum(nil)
}

// Ledger appends and reads ledger events.
type Ledger struct {
	db       *store.DB
	contacts *contact.Store
	keys     *keyring.Keyring
	purposes *Purposes
	notices  *Notices
	now      func() time.Time
	onAppend AppendHook
	// slotCache holds each workspace's committed permission slots (state.go).
	slotCache sync.Map
	// noticeCache and textCache hold committed notice versions and the
	// hashes of committed evidence texts (appendnew.go).
	noticeCache, textCache sync.Map
	// baseCache holds the grants of contacts without events (state.go).
	baseCache sync.Map
}

// AppendHook is told, inside the appending transaction, of every event
// appended; an error rolls the append back. Connected systems hear of
// erasures, withdrawals and the like through it (GDPR Art. 19).
type AppendHook func(ctx context.Context, q store.Querier, ws, contactID string, ev Event) error

// OnAppend sets the hook. Set it while wiring, before appends start.
func (l *Ledger) OnAppend(h AppendHook) { l.onAppend = h }

// NewLedger wires the ledger to its collaborators.
func NewLedger(db *store.DB, contacts *contact.Store, purposes *Purposes, notices *Notices, now func() time.Time) *Ledger {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	l := &Ledger{db: db, contacts: contacts, keys: contacts.Keys(), purposes: purposes, notices: notices, now: now}
	// Every contact write re-derives the contact's permission state in its
	// own transaction (state.go), and a change the engine reads is logged.
	contacts.OnChange(l.contactChanged)
	return l
}

// clockSkew is how far in the future occurred_at may lie (client clocks).
const clockSkew = 5 * time.Minute

// Append validates one event and appends it to the workspace's chain. With
// a transaction (tx), the event is part of it; with nil, Append runs its own.
//
// Appends are serialised per workspace by the chain-head row: on PostgreSQL
// SELECT … FOR UPDATE locks it until the transaction ends, on SQLite the
// single writer connection (BEGIN IMMEDIATE) does the same.
func (l *Ledger) Append(ctx context.Context, tx store.Querier, ws, contactID string, in NewEvent, actor Actor) (Event, error) {
	if in.Kind == KindRecordChanged {
		return Event{}, errRecordChanged()
	}
	if _, isDB := tx.(*sql.DB); tx == nil || isDB {
		l.Warm(ctx, ws, []NewEvent{in})
		var ev Event
		err := l.db.Tx(ctx, func(t store.Tx) error {
			var err error
			ev, err = l.append(ctx, t, ws, contactID, in, actor)
			return err
		})
		return ev, err
	}
	return l.append(ctx, tx, ws, contactID, in, actor)
}

func (l *Ledger) append(ctx context.Context, q store.Querier, ws, contactID string, in NewEvent, actor Actor) (Event, error) {
	return l.appendIn(ctx, q, ws, contactID, in, actor, nil)
}

// appendIn appends one event. With a bulk, the chain head is taken from and
// left in the bulk, and the contact's permission state is derived when the
// bulk is flushed; without one, both happen here.
func (l *Ledger) appendIn(ctx context.Context, q store.Querier, ws, contactID string, in NewEvent, actor Actor, b *Bulk) (Event, error) {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return Event{}, store.ErrNotFound
	}
	ws, contactID = strings.ToLower(ws), strings.ToLower(contactID)
	pts, err := b.points(ctx, l, q, ws, contactID)
	if err != nil {
		return Event{}, err
	}
	now := l.now().UTC().Truncate(time.Microsecond)
	r, personal, textShown, err := l.check(ctx, q, ws, pts, in, actor, now, b)
	if err != nil {
		return Event{}, err
	}
	if personal != nil {
		b, _ := json.Marshal(personal)
		r.Sealed, err = l.keys.WithTx(q).Seal(ctx, ws, contactID, b)
		if errors.Is(err, keyring.ErrShredded) {
			return Event{}, &ConflictError{Field: "evidence", Code: "contact_erased", Message: "this contact was erased: personal evidence can no longer be recorded for it"}
		}
		if err != nil {
			return Event{}, err
		}
	}

	var headSeq int64
	var headHash []byte
	var purposes []Purpose
	if b != nil {
		headSeq, headHash, err = b.head(ctx, now)
	} else if purposes, err = l.purposes.catalog(ctx, q, ws); err == nil {
		// The catalogue is read before the head is taken, which every
		// other writer of the workspace waits for.
		headSeq, headHash, err = l.lockHead(ctx, q, ws, now)
	}
	if err != nil {
		return Event{}, err
	}
	history, err := l.rows(ctx, q, ws, contactID)
	if err != nil {
		return Event{}, err
	}
	if err := checkTransition(history, pts, r); err != nil {
		return Event{}, err
	}

	r.ID, r.WorkspaceID, r.ContactID = id.New(), ws, contactID
	r.Seq = headSeq + 1
	r.RecordedAt = now
	r.Hash = chainHash(headHash, r)
	if textShown != "" {
		if _, err := q.ExecContext(ctx, `INSERT INTO evidence_texts (workspace_id, hash, body) VALUES ($1, $2, $3) ON CONFLICT (workspace_id, hash) DO NOTHING`,
			ws, textHash(textShown), textShown); err != nil {
			return Event{}, fmt.Errorf("store evidence text: %w", err)
		}
	}
	var sealed any
	if r.Sealed != nil {
		sealed = r.Sealed
	}
	point, err := pointBytes(r.ContactPoint)
	if err != nil {
		return Event{}, err
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO ledger_events (id, workspace_id, contact_id, seq, kind, purpose, channels, lawful_basis, contact_point, details, evidence, sealed_evidence, occurred_at, recorded_at, hash)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)`,
		r.ID, r.WorkspaceID, r.ContactID, r.Seq, r.Kind, r.Purpose, r.Channels, r.LawfulBasis, point, r.Details, l.rowEvidence(r), sealed, r.OccurredAt, r.RecordedAt, r.Hash); err != nil {
		return Event{}, fmt.Errorf("append event: %w", store.MapError(err))
	}
	if b != nil {
		b.advance(r.Seq, r.Hash, contactID)
	} else {
		if err := l.advanceHead(ctx, q, ws, r.Seq, r.Hash, now); err != nil {
			return Event{}, err
		}
		if err := l.refreshFrom(ctx, q, ws, contactID, pts, append(history, r), false, purposes, nil, nil); err != nil {
			return Event{}, err
		}
	}
	if r.Kind == KindErasureExecuted {
		// Recording the erasure is the erasure: the contact's data key is
		// destroyed in the same transaction, so its personal fields and
		// sealed evidence become unreadable for good (crypto-shredding),
		// while the chain, which hashes the ciphertext, stays intact. The
		// blind indexes remain as the suppression list (rules §11).
		if err := l.keys.WithTx(q).Shred(ctx, q, ws, contactID); err != nil {
			return Event{}, fmt.Errorf("erase contact: %w", err)
		}
	}
	ev, err := r.event()
	if err != nil {
		return Event{}, err
	}
	ev.Evidence.TextShown = textShown
	if personal != nil {
		ev.Evidence.Personal, ev.Evidence.PersonalState = personal, "present"
	}
	if l.onAppend != nil {
		if err := l.onAppend(ctx, q, ws, contactID, ev); err != nil {
			return Event{}, err
		}
	}
	return ev, nil
}

// lockHead returns the workspace's chain head, locked for this transaction.
func (l *Ledger) lockHead(ctx context.Context, q store.Querier, ws string, now time.Time) (int64, []byte, error) {
	return l.lockHeadCounting(ctx, q, ws, now, nil)
}

// lockHeadCounting is lockHead that, with purposes set, also counts the
// workspace's purposes in the same statement.
func (l *Ledger) lockHeadCounting(ctx context.Context, q store.Querier, ws string, now time.Time, purposes *int) (int64, []byte, error) {
	sel := `SELECT seq, hash FROM ledger_heads WHERE workspace_id = $1`
	if purposes != nil {
		sel = `SELECT seq, hash, (SELECT count(*) FROM purposes WHERE workspace_id = $1) FROM ledger_heads WHERE workspace_id = $1`
	}
	if l.db.Dialect == store.Postgres {
		sel += ` FOR UPDATE`
	}
	var seq int64
	var h []byte
	dest := []any{&seq, &h}
	if purposes != nil {
		dest = append(dest, purposes)
	}
	err := q.QueryRowContext(ctx, sel, ws).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := q.ExecContext(ctx, `INSERT INTO ledger_heads (workspace_id, seq, hash, updated_at) VALUES ($1, 0, $2, $3) ON CONFLICT (workspace_id) DO NOTHING`, ws, genesis, now); err != nil {
			return 0, nil, fmt.Errorf("create ledger head: %w", err)
		}
		err = q.QueryRowContext(ctx, sel, ws).Scan(dest...)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("lock ledger head: %w", err)
	}
	return seq, h, nil
}

// lockHeadAndSlots is lockHeadCounting for a PostgreSQL flush, in one
// statement: it locks the chain head, counts the purposes (into purposes,
// unless nil), takes the advisory locks of slots in ascending order once
// the head is held (the order every writer takes them in), and carries
// the writes q holds back (store.Carry). It returns the querier for the
// rest of the flush, which holds nothing back.
func (l *Ledger) lockHeadAndSlots(ctx context.Context, q store.Querier, ws string, now time.Time, purposes *int, slots []int64) (store.Querier, int64, []byte, error) {
	args := []any{ws}
	locks := "0"
	if len(slots) > 0 {
		chs := make([]slotChange, len(slots))
		for i, s := range slots {
			chs[i].slot = s
		}
		stmt, largs := slotLocks(chs, len(args))
		// Correlated with the locked head's row, so run after the lock.
		locks = `(SELECT count(*) FROM (` + stmt + `) AS l WHERE h.seq >= 0)`
		args = append(args, largs...)
	}
	sel := `SELECT h.seq, h.hash, h.n, ` + locks + ` FROM (SELECT seq, hash, (SELECT count(*) FROM purposes WHERE workspace_id = $1) AS n FROM ledger_heads WHERE workspace_id = $1 FOR UPDATE) AS h`
	var seq, n, locked int64
	var h []byte
	rq, carried, cargs := store.Carry(q, sel, args)
	err := rq.QueryRowContext(ctx, carried, cargs...).Scan(&seq, &h, &n, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		// The carried writes are done; the head is made and locked now.
		if _, err := rq.ExecContext(ctx, `INSERT INTO ledger_heads (workspace_id, seq, hash, updated_at) VALUES ($1, 0, $2, $3) ON CONFLICT (workspace_id) DO NOTHING`, ws, genesis, now); err != nil {
			return nil, 0, nil, fmt.Errorf("create ledger head: %w", err)
		}
		err = rq.QueryRowContext(ctx, sel, args...).Scan(&seq, &h, &n, &locked)
	}
	if err != nil {
		return nil, 0, nil, fmt.Errorf("lock ledger head: %w", err)
	}
	if purposes != nil {
		*purposes = int(n)
	}
	return rq, seq, h, nil
}

func errRecordChanged() error {
	return validate.Invalid("kind", "record_changed events are written by fairlead when a contact changes; change the contact instead")
}

func (l *Ledger) advanceHead(ctx context.Context, q store.Querier, ws string, seq int64, hash []byte, now time.Time) error {
	if _, err := q.ExecContext(ctx, `UPDATE ledger_heads SET seq = $2, hash = $3, updated_at = $4, mac = $5 WHERE workspace_id = $1`, ws, seq, hash, now, l.headMAC(ws, seq, hash)); err != nil {
		return fmt.Errorf("advance ledger head: %w", err)
	}
	return nil
}

// HookBeforeAppend is the contact store's change hook for a transaction
// that appends events for the changed contact afterwards: a change of a
// decision-relevant field is still a record_changed event, but a change
// that would only re-derive the state does nothing, because each append
// re-derives it from the record as it is then.
func (l *Ledger) HookBeforeAppend() contact.ChangeHook {
	return func(ctx context.Context, q store.Querier, ws, contactID string, changes []contact.FieldChange) error {
		if len(changes) == 0 {
			return nil
		}
		return l.contactChanged(ctx, q, ws, contactID, changes)
	}
}

// contactChanged runs in the transaction of a contact write.
func (l *Ledger) contactChanged(ctx context.Context, q store.Querier, ws, contactID string, changes []contact.FieldChange) error {
	if len(changes) == 0 {
		return l.Refresh(ctx, q, ws, contactID)
	}
	_, err := l.append(ctx, q, ws, contactID, NewEvent{Kind: KindRecordChanged, Details: Details{Changes: changes}}, Actor{})
	return err
}

// headMAC seals the chain head with a key derived from the master key: the
// hash chain alone cannot tell a cut-off tail from a shorter history,
// because whoever deletes the last events can also rewind the head.
func (l *Ledger) headMAC(ws string, seq int64, hash []byte) string {
	return l.keys.Index("ledger-head-v1", fmt.Sprintf("%s:%d:%x", ws, seq, hash))
}

func textHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func dateField(field, s string) error {
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return validate.Invalid(field, field+" must be a date YYYY-MM-DD")
	}
	return nil
}

func one(field, v string, allowed []string) error {
	if !slices.Contains(allowed, v) {
		return validate.OneOf(field, v, allowed)
	}
	return nil
}

func text(field, v string, max int) error {
	if len(v) > max || !utf8.ValidString(v) {
		return validate.Invalid(field, fmt.Sprintf("%s must be valid UTF-8 of at most %d bytes", field, max))
	}
	return nil
}

// detailFields names the Details fields each kind may carry.
var detailFields = map[string][]string{
	KindConsentRequested:        {"verification", "collected_by", "pre_ticked", "coupled", "explicit_special_category"},
	KindConsentConfirmed:        {"verification", "collected_by", "pre_ticked", "coupled", "explicit_special_category"},
	KindObjection:               {"objection_type"},
	KindRestrictionStarted:      {"ground"},
	KindRestrictionLifted:       {"ground"},
	KindRelationshipStarted:     {"relationship"},
	KindRelationshipEnded:       {"relationship"},
	KindNoticeGiven:             {"notice"},
	KindLegitimateInterest:      {"assessment"},
	KindRetentionDutyStarted:    {"basis", "until"},
	KindPresumedConsentRecorded: {"basis"},
	KindRightsRequestOpened:     {"request_type"},
	KindRightsRequestClosed:     {"request_type"},
	KindExistingCustomerFacts:   {"address_from_sale", "notice_at_collection", "last_purchase_at"},
	KindRecordChanged:           {"changes"},
	KindLetterSent:              {"template"},
}

func (d Details) set() []string {
	var out []string
	for _, f := range []struct {
		name string
		on   bool
	}{
		{"verification", d.Verification != ""}, {"collected_by", d.CollectedBy != ""}, {"pre_ticked", d.PreTicked}, {"coupled", d.Coupled},
		{"explicit_special_category", d.ExplicitSpecialCategory}, {"objection_type", d.ObjectionType != ""}, {"ground", d.Ground != ""},
		{"relationship", d.Relationship != ""}, {"notice", d.Notice != ""}, {"notice_kind", d.NoticeKind != ""}, {"assessment", d.Assessment != ""},
		{"basis", d.Basis != ""}, {"until", d.Until != ""}, {"request_type", d.RequestType != ""}, {"address_from_sale", d.AddressFromSale},
		{"notice_at_collection", d.NoticeAtCollection}, {"last_purchase_at", d.LastPurchaseAt != ""}, {"changes", len(d.Changes) > 0},
		{"template", d.Template != ""},
	} {
		if f.on {
			out = append(out, f.name)
		}
	}
	return out
}

// channelGroup tells which contact point a channel concerns.
func channelGroup(ch string) string {
	switch ch {
	case "email":
		return "email"
	case "sms", "phone":
		return "phone"
	}
	return ""
}

// check validates the input and builds the row to store (without ID, seq,
// hash and recorded_at).
func (l *Ledger) check(ctx context.Context, q store.Querier, ws string, pts contact.Points, in NewEvent, actor Actor, now time.Time, b *Bulk) (*row, *PersonalEvidence, string, error) {
	if in.Kind == "" {
		return nil, nil, "", validate.Required("kind")
	}
	if err := one("kind", in.Kind, EventKinds); err != nil {
		return nil, nil, "", err
	}
	d := in.Details
	allowed := detailFields[in.Kind]
	for _, f := range d.set() {
		if !slices.Contains(allowed, f) {
			return nil, nil, "", validate.Invalid(f, fmt.Sprintf("%s does not apply to %s events", f, in.Kind))
		}
	}
	occurred := now
	if in.OccurredAt != nil {
		occurred = in.OccurredAt.UTC().Truncate(time.Microsecond)
		if occurred.After(now.Add(clockSkew)) {
			return nil, nil, "", validate.Invalid("occurred_at", "occurred_at lies in the future")
		}
		if occurred.Year() < 1970 {
			return nil, nil, "", validate.Invalid("occurred_at", "occurred_at must be after 1970")
		}
	}
	// A confirmation cannot have been clicked after the event that records
	// it; a later date would let it outrank a withdrawal (rules §7.1).
	if c := in.Evidence.ConfirmedAt; c != nil && c.UTC().After(occurred) {
		return nil, nil, "", validate.Invalid("evidence.confirmed_at", "evidence.confirmed_at must not be later than occurred_at")
	}
	basis := in.LawfulBasis
	if basis == "" {
		basis = defaultBasis[in.Kind]
	} else if err := one("lawful_basis", basis, LawfulBases); err != nil {
		return nil, nil, "", err
	}
	isConsent := in.Kind == KindConsentRequested || in.Kind == KindConsentConfirmed || in.Kind == KindConsentWithdrawn || in.Kind == KindConsentUsed

	// Purpose and channels.
	var pur Purpose
	switch {
	case in.Purpose != "":
		if in.Kind == KindObjection {
			return nil, nil, "", validate.Invalid("purpose", "an objection concerns the person, not one purpose: leave purpose empty and set objection_type and channels")
		}
		var err error
		if pur, err = b.purpose(ctx, l, q, ws, in.Purpose); err != nil {
			return nil, nil, "", err
		}
	case isConsent || in.Kind == KindLegitimateInterest || in.Kind == KindLetterSent:
		return nil, nil, "", validate.Required("purpose")
	}
	var chs []string
	var err error
	switch {
	case isConsent:
		if !slices.Contains(consentKinds, pur.Kind) {
			return nil, nil, "", validate.Invalid("purpose", fmt.Sprintf("purpose %s is a %s purpose; consents are recorded for direct_marketing, analytics and personalization purposes", pur.Key, pur.Kind))
		}
		if len(in.Channels) == 0 {
			return nil, nil, "", &validate.Error{Field: "channels", Code: "required", Allowed: pur.Channels, Message: "channels is required: name the channels the consent text names (" + strings.Join(pur.Channels, ", ") + ")"}
		}
		if chs, err = channelSet("channels", in.Channels, pur.Channels); err != nil {
			return nil, nil, "", err
		}
	case in.Kind == KindObjection:
		if d.ObjectionType == "" {
			return nil, nil, "", validate.Required("objection_type")
		}
		if err := one("objection_type", d.ObjectionType, ObjectionTypes); err != nil {
			return nil, nil, "", err
		}
		chs = in.Channels
		if len(chs) == 0 || slices.Contains(chs, "any") {
			if len(chs) > 1 {
				return nil, nil, "", validate.Invalid("channels", `channels is either ["any"] or a list of channels`)
			}
			chs = []string{"any"}
		} else if chs, err = channelSet("channels", chs, Channels); err != nil {
			return nil, nil, "", err
		}
	case in.Kind == KindInboundRequestReceived:
		if len(in.Channels) == 0 {
			return nil, nil, "", &validate.Error{Field: "channels", Code: "required", Allowed: replyChannels, Message: "channels is required: the channel the person used plus the channels they designated for the answer"}
		}
		if chs, err = channelSet("channels", in.Channels, replyChannels); err != nil {
			return nil, nil, "", err
		}
	default:
		allowedChs := Channels
		if pur.Key != "" {
			allowedChs = pur.Channels
		}
		if chs, err = channelSet("channels", in.Channels, allowedChs); err != nil {
			return nil, nil, "", err
		}
		if in.Kind == KindNoticeGiven && len(chs) > 1 {
			return nil, nil, "", validate.Invalid("channels", "a notice is given on one channel")
		}
	}
	if chs == nil {
		chs = []string{}
	}

	// The contact point: a consent confirms one address or number (rules §11).
	point := ""
	if isConsent {
		g := channelGroup(chs[0])
		for _, c := range chs[1:] {
			if channelGroup(c) != g {
				return nil, nil, "", validate.Invalid("channels", "record consents for e-mail, for phone/SMS and for other channels as separate events: each confirms one contact point")
			}
		}
		switch g {
		case "email":
			if pts.EmailIndex == "" {
				return nil, nil, "", validate.Invalid("channels", "the contact has no e-mail address to consent for")
			}
			point = pts.EmailIndex
		case "phone":
			if pts.PhoneIndex == "" {
				return nil, nil, "", validate.Invalid("channels", "the contact has no phone number to consent for")
			}
			point = pts.PhoneIndex
		}
	}
	if in.Kind == KindExistingCustomerFacts {
		point = pts.EmailIndex
	}

	// Kind-specific attributes.
	switch in.Kind {
	case KindConsentRequested, KindConsentConfirmed:
		if d.Verification != "" {
			if err := one("verification", d.Verification, Verifications); err != nil {
				return nil, nil, "", err
			}
		}
		if d.CollectedBy != "" {
			if err := one("collected_by", d.CollectedBy, Collectors); err != nil {
				return nil, nil, "", err
			}
		}
	case KindRestrictionStarted, KindRestrictionLifted:
		if d.Ground == "" && in.Kind == KindRestrictionStarted {
			return nil, nil, "", &validate.Error{Field: "ground", Code: "required", Allowed: RestrictionGrounds, Message: "ground is required: one of " + strings.Join(RestrictionGrounds, ", ")}
		}
		if d.Ground != "" {
			if err := one("ground", d.Ground, RestrictionGrounds); err != nil {
				return nil, nil, "", err
			}
		}
	case KindRelationshipStarted, KindRelationshipEnded:
		if err := one("relationship", d.Relationship, RelationshipTypes); err != nil {
			return nil, nil, "", err
		}
	case KindNoticeGiven:
		if d.Notice == "" {
			return nil, nil, "", validate.Required("notice")
		}
		n, err := b.notice(ctx, l, q, ws, d.Notice)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, "", validate.Invalid("notice", "notice must be the id (version hash) of a notice of this workspace")
		}
		if err != nil {
			return nil, nil, "", err
		}
		d.NoticeKind = n.Kind
	case KindLegitimateInterest:
		if strings.TrimSpace(d.Assessment) == "" {
			return nil, nil, "", validate.Required("assessment")
		}
		if err := text("assessment", d.Assessment, 20000); err != nil {
			return nil, nil, "", err
		}
	case KindRetentionDutyStarted, KindPresumedConsentRecorded:
		if strings.TrimSpace(d.Basis) == "" {
			return nil, nil, "", validate.Required("basis")
		}
		if err := text("basis", d.Basis, 2000); err != nil {
			return nil, nil, "", err
		}
		if d.Until != "" {
			if err := dateField("until", d.Until); err != nil {
				return nil, nil, "", err
			}
		}
		if in.Kind == KindPresumedConsentRecorded && pts.Audience != "b2b" {
			return nil, nil, "", &ConflictError{Field: "kind", Code: "invalid_transition", Message: "presumed consent applies only to b2b contacts (UWG §7(2) Nr. 1 Alt. 2); this contact is b2c"}
		}
	case KindRightsRequestOpened, KindRightsRequestClosed:
		if d.RequestType != "" {
			if err := one("request_type", d.RequestType, RightsRequestTypes); err != nil {
				return nil, nil, "", err
			}
		}
	case KindLetterSent:
		if !ValidHash(d.Template) {
			return nil, nil, "", validate.Invalid("template", "template must be the version hash of a letter template (64 hex digits)")
		}
		if len(chs) != 1 {
			return nil, nil, "", validate.Invalid("channels", "a letter is sent on one channel")
		}
	case KindExistingCustomerFacts:
		if d.LastPurchaseAt != "" {
			if err := dateField("last_purchase_at", d.LastPurchaseAt); err != nil {
				return nil, nil, "", err
			}
		}
	}

	// Evidence.
	e := in.Evidence
	se := storedEvidence{Source: strings.TrimSpace(e.Source), NoticeHash: e.NoticeHash, ConfirmationMethod: e.ConfirmationMethod, Actor: actor.String()}
	if se.Source == "" {
		se.Source = actor.String()
	}
	if err := text("evidence.source", se.Source, 200); err != nil {
		return nil, nil, "", err
	}
	if e.NoticeHash != "" {
		if _, err := b.notice(ctx, l, q, ws, e.NoticeHash); errors.Is(err, store.ErrNotFound) {
			return nil, nil, "", validate.Invalid("evidence.notice_hash", "evidence.notice_hash must be the id (version hash) of a notice of this workspace")
		} else if err != nil {
			return nil, nil, "", err
		}
	}
	if err := text("evidence.text_shown", e.TextShown, 20000); err != nil {
		return nil, nil, "", err
	}
	if e.TextShown != "" {
		se.TextSHA256 = textHash(e.TextShown)
	}
	if e.ConfirmationMethod != "" {
		if err := one("evidence.confirmation_method", e.ConfirmationMethod, ConfirmationMethods); err != nil {
			return nil, nil, "", err
		}
	}
	if e.ConfirmedAt != nil {
		t := e.ConfirmedAt.UTC().Truncate(time.Microsecond)
		if t.After(now.Add(clockSkew)) {
			return nil, nil, "", validate.Invalid("evidence.confirmed_at", "evidence.confirmed_at lies in the future")
		}
		se.ConfirmedAt = t.Format(time.RFC3339Nano)
	}
	var personal *PersonalEvidence
	if e.IPAddress != "" || e.UserAgent != "" || e.Phone != "" || e.Address != "" {
		for _, f := range []struct{ name, v string }{{"evidence.ip_address", e.IPAddress}, {"evidence.user_agent", e.UserAgent}, {"evidence.phone", e.Phone}, {"evidence.address", e.Address}} {
			if err := text(f.name, f.v, 1000); err != nil {
				return nil, nil, "", err
			}
		}
		personal = &PersonalEvidence{IPAddress: e.IPAddress, UserAgent: e.UserAgent, Phone: e.Phone, Address: e.Address}
	}

	chj, _ := json.Marshal(chs)
	dj, _ := json.Marshal(d)
	ej, _ := json.Marshal(se)
	r := &row{Kind: in.Kind, Purpose: pur.Key, Channels: string(chj), LawfulBasis: basis, ContactPoint: point,
		Details: string(dj), Ev: string(ej), evArg: l.evidenceArg(string(ej)), OccurredAt: occurred}
	r.dec = decodedOf(chs, d, se)
	if r.dec == nil {
		r.decode()
	}
	return r, personal, e.TextShown, nil
}

// checkTransition refuses events that contradict the recorded history.
func checkTransition(history []*row, pts contact.Points, r *row) error {
	chs, d := r.channelsOf(), r.detailsOf()
	switch r.Kind {
	case KindConsentConfirmed, KindConsentWithdrawn, KindConsentUsed:
		for _, ch := range chs {
			found := false
			for _, h := range history {
				if (h.Kind == KindConsentRequested || h.Kind == KindConsentConfirmed) && h.Purpose == r.Purpose && h.ContactPoint == r.ContactPoint {
					if slices.Contains(h.channelsOf(), ch) {
						found = true
						break
					}
				}
			}
			if !found {
				return &ConflictError{Field: "kind", Code: "invalid_transition", Message: fmt.Sprintf(
					"%s for purpose %s on %s needs an earlier consent_requested or consent_confirmed for the same purpose, channel and contact point (the contact's current %s)",
					r.Kind, r.Purpose, ch, pointName(ch))}
			}
		}
		return nil
	}
	st := fold(history, r.OccurredAt)
	bad := func(msg string) error { return &ConflictError{Field: "kind", Code: "invalid_transition", Message: msg} }
	switch r.Kind {
	case KindConsentRequested:
		if st.erasure.Status == policy.ErasureExecuted {
			return bad("this contact was erased; record a new contact for a new sign-up")
		}
	case KindRestrictionLifted:
		if !st.restriction.Active {
			return bad("restriction_lifted needs an active restriction (restriction_started) as of occurred_at")
		}
	case KindInboundRequestClosed:
		if !st.inbound.Open {
			return bad("inbound_request_closed needs an open inbound request as of occurred_at")
		}
	case KindRightsRequestClosed:
		if st.rightsOpen <= 0 {
			return bad("rights_request_closed needs an open rights request as of occurred_at")
		}
	case KindContractEnded:
		if !st.contract {
			return bad("contract_ended needs a running contract (contract_started) as of occurred_at")
		}
	case KindRelationshipEnded:
		if (d.Relationship == "customer" && !st.customer) || (d.Relationship == "supplier" && !st.supplier) {
			return bad("relationship_ended needs a " + d.Relationship + " relationship started before occurred_at")
		}
	case KindErasureExecuted:
		if st.erasure.Status == policy.ErasureExecuted {
			return bad("erasure was already executed for this contact")
		}
		// Art. 17(3)(b), BDSG §35(3): while a retention duty runs, the data
		// are restricted, not erased; erasure runs once the duty has ended.
		if st.retention.Applies && (st.retention.Until.IsZero() || !date(r.OccurredAt).After(st.retention.Until)) {
			until := "an open end"
			if !st.retention.Until.IsZero() {
				until = st.retention.Until.String()
			}
			return bad("a retention duty (" + st.retention.Basis + ") runs until " + until + ": record restriction_started instead (Art. 17(3)(b) GDPR, BDSG §35(3)) and erase when it has ended")
		}
	}
	return nil
}

func pointName(ch string) string {
	if channelGroup(ch) == "email" {
		return "e-mail address"
	}
	if channelGroup(ch) == "phone" {
		return "phone number"
	}
	return "contact point"
}

const rowCols = `id, workspace_id, contact_id, seq, kind, purpose, channels, lawful_basis, contact_point, details, evidence, sealed_evidence, occurred_at, recorded_at, hash`

// The contact point, a blind index of 64 lower-case hex digits or "", is
// stored as its bytes (migration 0031); the hash covers the hex text, which
// is what a row carries in memory. pointBytes is the stored form of a row's
// contact point; anything that would not read back as the same text is
// refused rather than stored.
func pointBytes(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || hex.EncodeToString(b) != s {
		return nil, fmt.Errorf("append event: contact point is not a blind index")
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// pointText scans a stored contact point back into its hex text. A value
// stored as text is taken as it is: on SQLite, 0031 left any contact point
// that was not lower-case hex as the text it was, so its hash still holds.
type pointText struct{ s *string }

func (p pointText) Scan(v any) error {
	switch x := v.(type) {
	case []byte:
		*p.s = hex.EncodeToString(x)
	case string:
		*p.s = x
	case nil:
		*p.s = ""
	default:
		return fmt.Errorf("contact point stored as %T", v)
	}
	return nil
}

func scanRow(sc interface{ Scan(...any) error }) (*row, error) {
	var r row
	if err := sc.Scan(&r.ID, &r.WorkspaceID, &r.ContactID, &r.Seq, &r.Kind, &r.Purpose, &r.Channels, &r.LawfulBasis, pointText{&r.ContactPoint},
		&r.Details, evidenceText{&r.Ev}, &r.Sealed, &r.OccurredAt, &r.RecordedAt, &r.Hash); err != nil {
		return nil, store.MapError(err)
	}
	r.OccurredAt, r.RecordedAt = r.OccurredAt.UTC(), r.RecordedAt.UTC()
	return &r, nil
}

// rows reads the events of one contact in seq order.
func (l *Ledger) rows(ctx context.Context, q store.Querier, ws, contactID string) ([]*row, error) {
	rs, err := q.QueryContext(ctx, `SELECT `+rowCols+` FROM ledger_events WHERE workspace_id = $1 AND contact_id = $2 ORDER BY seq`, ws, contactID)
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	defer rs.Close()
	var out []*row
	for rs.Next() {
		r, err := scanRow(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

func (r *row) event() (Event, error) {
	ev := Event{ID: r.ID, WorkspaceID: r.WorkspaceID, ContactID: r.ContactID, Seq: r.Seq, Kind: r.Kind, Purpose: r.Purpose, LawfulBasis: r.LawfulBasis,
		ContactPoint: r.ContactPoint, OccurredAt: r.OccurredAt, RecordedAt: r.RecordedAt, Hash: hex.EncodeToString(r.Hash), sealed: r.Sealed}
	d := r.dec
	if d == nil {
		d = &decoded{}
		d.chErr = json.Unmarshal([]byte(r.Channels), &d.channels)
		d.detailsErr = json.Unmarshal([]byte(r.Details), &d.details)
		d.evErr = json.Unmarshal([]byte(r.Ev), &d.evidence)
	}
	if d.chErr != nil {
		return Event{}, fmt.Errorf("event %s: channels: %w", r.ID, d.chErr)
	}
	if d.detailsErr != nil {
		return Event{}, fmt.Errorf("event %s: details: %w", r.ID, d.detailsErr)
	}
	if d.evErr != nil {
		return Event{}, fmt.Errorf("event %s: evidence: %w", r.ID, d.evErr)
	}
	// The event goes to callers and hooks: it gets its own channels.
	ev.Channels, ev.Details, ev.stored = slices.Clone(d.channels), d.details, d.evidence
	s := ev.stored
	ev.Evidence = Evidence{Source: s.Source, NoticeHash: s.NoticeHash, TextSHA256: s.TextSHA256, ConfirmationMethod: s.ConfirmationMethod, Actor: s.Actor, PersonalState: "none"}
	if s.ConfirmedAt != "" {
		if t, err := time.Parse(time.RFC3339Nano, s.ConfirmedAt); err == nil {
			ev.Evidence.ConfirmedAt = &t
		}
	}
	if r.Sealed != nil {
		ev.Evidence.PersonalState = "redacted"
	}
	return ev, nil
}

// Events returns the full history of a contact with its evidence, in seq
// order. Personal evidence is opened only when openPersonal is true (the
// API passes true for admin and dpo); otherwise it is marked "redacted".
func (l *Ledger) Events(ctx context.Context, ws, contactID string, openPersonal bool) ([]Event, error) {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return nil, store.ErrNotFound
	}
	ws, contactID = strings.ToLower(ws), strings.ToLower(contactID)
	if _, err := l.contacts.Points(ctx, ws, contactID); err != nil {
		return nil, err
	}
	rs, err := l.rows(ctx, l.db.R, ws, contactID)
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(rs))
	texts := map[string]string{}
	var opener *keyring.Opener
	erased := false
	for _, r := range rs {
		ev, err := r.event()
		if err != nil {
			return nil, err
		}
		if h := ev.Evidence.TextSHA256; h != "" {
			if _, ok := texts[h]; !ok {
				var body string
				if err := l.db.R.QueryRowContext(ctx, `SELECT body FROM evidence_texts WHERE workspace_id = $1 AND hash = $2`, ws, h).Scan(&body); err != nil && !errors.Is(err, sql.ErrNoRows) {
					return nil, err
				}
				texts[h] = body
			}
			ev.Evidence.TextShown = texts[h]
		}
		if r.Sealed != nil && openPersonal && !erased {
			if opener == nil {
				opener, err = l.keys.Opener(ctx, ws, contactID)
				if errors.Is(err, keyring.ErrShredded) {
					erased = true
				} else if err != nil {
					return nil, err
				}
			}
			if opener != nil {
				pt, err := opener.Open(r.Sealed)
				if err != nil {
					return nil, err
				}
				var p PersonalEvidence
				if err := json.Unmarshal(pt, &p); err != nil {
					return nil, err
				}
				ev.Evidence.Personal, ev.Evidence.PersonalState = &p, "present"
			}
		}
		if r.Sealed != nil && erased {
			ev.Evidence.PersonalState = "erased"
		}
		out = append(out, ev)
	}
	return out, nil
}
