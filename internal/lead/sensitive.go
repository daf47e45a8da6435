package lead

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/track"
	"github.com/fairlead/fairlead/internal/validate"
)

// Sensitive-data categories and the kinds of things that can be flagged.
var (
	SensitiveCategories = []string{"special_category", "sensitive_topic"}
	SensitiveKinds      = []string{"attribute", "event_type"}
)

// ExplicitPurpose is the business purpose whose explicit consent (a ledger
// consent with explicit_special_category, Art. 9(2)(a) GDPR) lets flagged
// data be used for scoring, segments and personalization. The engine
// decides it with special_category_data set, so only such a consent
// allows it.
const ExplicitPurpose = "personalization"

// Flag marks an attribute (audience, relationship, data_source,
// organization, country or values.<name>) or an event type ("download",
// or "download:<name>" for one named event) as sensitive.
type Flag struct {
	Kind     string    `json:"kind"`
	Name     string    `json:"name"`
	Category string    `json:"category"`
	At       time.Time `json:"created_at"`
}

type sensitiveSet struct {
	attrs  map[string]bool
	events map[string]bool
}

func (s sensitiveSet) event(typ, name string) bool {
	if len(s.events) == 0 {
		return false // most workspaces flag nothing: no key to build per event
	}
	return s.events[typ] || (name != "" && s.events[typ+":"+name])
}

// empty says that nothing is flagged, so nobody's explicit consent is
// ever asked for.
func (s sensitiveSet) empty() bool { return len(s.attrs) == 0 && len(s.events) == 0 }

func (s sensitiveSet) attribute(attr string) bool { return s.attrs[attr] }

func (s sensitiveSet) anyAttribute(cs []Condition) bool {
	for _, c := range cs {
		if s.attrs[c.Attribute] {
			return true
		}
	}
	return false
}

func (s *Service) sensitiveSet(ctx context.Context, q store.Querier, ws string) (sensitiveSet, error) {
	set := sensitiveSet{attrs: map[string]bool{}, events: map[string]bool{}}
	rows, err := q.QueryContext(ctx, `SELECT kind, name FROM lead_sensitive WHERE workspace_id = $1`, ws)
	if err != nil {
		return set, fmt.Errorf("lead: sensitive flags: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, n string
		if err := rows.Scan(&k, &n); err != nil {
			return set, err
		}
		if k == "attribute" {
			set.attrs[n] = true
		} else {
			set.events[n] = true
		}
	}
	return set, rows.Err()
}

// Flags lists the workspace's sensitive-data flags.
func (s *Service) Flags(ctx context.Context, ws string) ([]Flag, error) {
	if !id.Valid(ws) {
		return nil, store.ErrNotFound
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT kind, name, category, created_at FROM lead_sensitive WHERE workspace_id = $1 ORDER BY kind, name`, ws)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Flag{}
	for rows.Next() {
		var f Flag
		if err := rows.Scan(&f.Kind, &f.Name, &f.Category, &f.At); err != nil {
			return nil, err
		}
		f.At = f.At.UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}

func checkFlag(i int, f Flag) error {
	field := fmt.Sprintf("flags[%d]", i)
	if !slices.Contains(SensitiveKinds, f.Kind) {
		return validate.OneOf(field+".kind", f.Kind, SensitiveKinds)
	}
	if !slices.Contains(SensitiveCategories, f.Category) {
		return validate.OneOf(field+".category", f.Category, SensitiveCategories)
	}
	switch f.Kind {
	case "attribute":
		if err := checkCondition(field, Condition{Attribute: f.Name, Op: "present"}); err != nil {
			if ve, ok := err.(*validate.Error); ok {
				ve.Field = field + ".name"
			}
			return err
		}
	case "event_type":
		typ, name, _ := strings.Cut(f.Name, ":")
		if !slices.Contains(track.Types, typ) {
			return validate.OneOf(field+".name", typ, track.Types)
		}
		if len(name) > track.MaxName {
			return validate.Invalid(field+".name", field+".name: the event name is too long")
		}
	}
	return nil
}

// SetFlags replaces the workspace's flags.
func (s *Service) SetFlags(ctx context.Context, ws string, flags []Flag) ([]Flag, error) {
	if !id.Valid(ws) {
		return nil, store.ErrNotFound
	}
	if len(flags) > 500 {
		return nil, validate.Invalid("flags", "at most 500 flags")
	}
	for i, f := range flags {
		if err := checkFlag(i, f); err != nil {
			return nil, err
		}
	}
	now := s.now().Truncate(time.Microsecond)
	err := s.DB.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM lead_sensitive WHERE workspace_id = $1`, ws); err != nil {
			return err
		}
		for _, f := range flags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO lead_sensitive (workspace_id, kind, name, category, created_at) VALUES ($1,$2,$3,$4,$5)
				ON CONFLICT (workspace_id, kind, name) DO UPDATE SET category = excluded.category`, ws, f.Kind, f.Name, f.Category, now); err != nil {
				return store.MapError(err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Flags(ctx, ws)
}

// ExplicitConsent says whether the engine allows personalization with
// special-category data for the contact now, on any channel of the
// purpose: true only with a valid consent marked
// explicit_special_category.
func (s *Service) ExplicitConsent(ctx context.Context, ws, contactID string) (bool, error) {
	if s.Audience == nil {
		return false, nil
	}
	for _, ch := range []string{"web", "none"} {
		d, err := s.Audience.Decide(ctx, ws, contactID, ExplicitPurpose, ch, audience.Campaign{SpecialCategoryData: true})
		if err != nil {
			return false, err
		}
		if d.Allowed {
			return true, nil
		}
	}
	return false, nil
}

// Touch is one place a flag is used.
type Touch struct {
	Kind     string `json:"kind"` // fit_rule, engagement_rule, segment
	ID       string `json:"id"`
	Name     string `json:"name"`
	Flag     string `json:"flag"` // kind:name of the flag
	Category string `json:"category"`
}

// Report lists the scoring rules (of the active version) and saved
// segments that touch flagged attributes or event types: they use them
// only for people with explicit consent.
func (s *Service) Report(ctx context.Context, ws string) ([]Touch, error) {
	flags, err := s.Flags(ctx, ws)
	if err != nil {
		return nil, err
	}
	cat := map[string]string{}
	for _, f := range flags {
		cat[f.Kind+":"+f.Name] = f.Category
	}
	rs, err := s.ActiveRules(ctx, ws)
	if err != nil {
		return nil, err
	}
	out := []Touch{}
	for _, r := range rs.Rules.Fit {
		for _, c := range r.When {
			if k := "attribute:" + c.Attribute; cat[k] != "" {
				out = append(out, Touch{Kind: "fit_rule", ID: r.ID, Name: r.Label.in("en"), Flag: k, Category: cat[k]})
			}
		}
	}
	for _, r := range rs.Rules.Engagement {
		keys := []string{"event_type:" + r.Type}
		if r.Name != "" {
			keys = append(keys, "event_type:"+r.Type+":"+r.Name)
		}
		for _, k := range keys {
			if cat[k] != "" {
				out = append(out, Touch{Kind: "engagement_rule", ID: r.ID, Name: r.Label.in("en"), Flag: k, Category: cat[k]})
			}
		}
	}
	segs, err := s.Segments(ctx, ws)
	if err != nil {
		return nil, err
	}
	for _, sg := range segs {
		for _, k := range sg.Filter.touches() {
			if cat[k] != "" {
				out = append(out, Touch{Kind: "segment", ID: sg.ID, Name: sg.Name, Flag: k, Category: cat[k]})
			}
		}
	}
	return out, nil
}

// The feedback link: version, workspace, contact, ref, MAC. It does not
// expire: a reply weeks after a mailing is still welcome, and it can only
// add a rating.
const (
	feedbackVersion = 1
	feedbackDomain  = "link:lead-feedback"
	feedbackMAC     = 16
	maxRef          = 100
)

var errBadLink = validate.Invalid("token", "the link is not valid")

func (s *Service) signer() interface{ MAC(string, []byte) []byte } {
	return s.Contacts.Keys()
}

func (s *Service) feedbackToken(ws, contactID, ref string) (string, error) {
	w, ok1 := id.Bytes(ws)
	c, ok2 := id.Bytes(contactID)
	if !ok1 || !ok2 {
		return "", store.ErrNotFound
	}
	if len(ref) > maxRef || !utf8.ValidString(ref) {
		return "", validate.Invalid("ref", fmt.Sprintf("ref must be valid text of at most %d bytes", maxRef))
	}
	msg := append([]byte{feedbackVersion}, w[:]...)
	msg = append(msg, c[:]...)
	msg = append(msg, ref...)
	mac := s.signer().MAC(feedbackDomain, msg)[:feedbackMAC]
	return base64.RawURLEncoding.EncodeToString(append(msg, mac...)), nil
}

// parseFeedback checks a feedback token and returns what it names.
func (s *Service) parseFeedback(tok string) (ws, contactID, ref string, err error) {
	// Strict: a link has one spelling, so a changed last character never
	// decodes to the same bytes.
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) < 1+32+feedbackMAC || len(b) > 1+32+maxRef+feedbackMAC || b[0] != feedbackVersion {
		return "", "", "", errBadLink
	}
	msg, mac := b[:len(b)-feedbackMAC], b[len(b)-feedbackMAC:]
	if !hmac.Equal(mac, s.signer().MAC(feedbackDomain, msg)[:feedbackMAC]) {
		return "", "", "", errBadLink
	}
	ws = string(id.AppendText(nil, msg[1:17]))
	contactID = string(id.AppendText(nil, msg[17:33]))
	return ws, contactID, string(msg[33:]), nil
}

// FeedbackURL is the signed link to "how does our personalization feel?"
// for one contact; ref names the mailing (e.g. "campaign:<id>:<step>").
func (s *Service) FeedbackURL(ws, contactID, ref string) (string, error) {
	tok, err := s.feedbackToken(strings.ToLower(ws), strings.ToLower(contactID), ref)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(s.PublicURL, "/") + "/p/feedback/" + tok, nil
}

// CheckFeedback validates a link for the page (the contact must still
// exist).
func (s *Service) CheckFeedback(ctx context.Context, tok string) error {
	ws, cid, _, err := s.parseFeedback(tok)
	if err != nil {
		return err
	}
	return s.contactExists(ctx, s.DB.R, ws, cid)
}

// MaxComment bounds a feedback comment.
const MaxComment = 1000

// SubmitFeedback stores an answer given through a feedback link.
func (s *Service) SubmitFeedback(ctx context.Context, tok string, rating int, comment string) error {
	ws, cid, ref, err := s.parseFeedback(tok)
	if err != nil {
		return err
	}
	if rating < 1 || rating > 5 {
		return validate.OneOf("rating", fmt.Sprint(rating), []string{"1", "2", "3", "4", "5"})
	}
	comment = strings.TrimSpace(comment)
	if len(comment) > MaxComment || !utf8.ValidString(comment) {
		return validate.Invalid("comment", fmt.Sprintf("comment must have at most %d characters", MaxComment))
	}
	if err := s.contactExists(ctx, s.DB.R, ws, cid); err != nil {
		return err
	}
	now := s.now().Truncate(time.Microsecond)
	sealed, err := s.Contacts.Keys().SealText(ctx, ws, cid, comment)
	if err != nil {
		return fmt.Errorf("seal feedback comment: %w", err)
	}
	_, err = s.DB.W.ExecContext(ctx, `INSERT INTO lead_feedback (id, workspace_id, contact_id, ref, rating, comment, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		id.NewAt(now), ws, cid, ref, rating, sealed, now)
	return store.MapError(err)
}

// FeedbackSummary is the feedback of a segment's members.
type FeedbackSummary struct {
	SegmentID string         `json:"segment_id"`
	Answers   int            `json:"answers"`
	Average   float64        `json:"average"`
	ByRating  map[string]int `json:"by_rating"`
	Comments  []Comment      `json:"comments"`
}

// Comment is one free-text answer; the page asks people not to enter
// personal data, but they may: only roles that read contacts see them.
type Comment struct {
	Rating int       `json:"rating"`
	Text   string    `json:"text"`
	Ref    string    `json:"ref"`
	At     time.Time `json:"at"`
}

// SegmentFeedback summarizes the feedback given by the segment's current
// members: the counts and the newest 100 comments, opened.
func (s *Service) SegmentFeedback(ctx context.Context, ws, segmentID string) (FeedbackSummary, error) {
	fc, err := s.SegmentFeedbackCounts(ctx, ws, segmentID)
	if err != nil {
		return FeedbackSummary{}, err
	}
	cs, err := s.FeedbackComments(ctx, ws, fc.CommentIDs)
	if err != nil {
		return FeedbackSummary{}, err
	}
	return FeedbackSummary{SegmentID: fc.SegmentID, Answers: fc.Answers, Average: fc.Average, ByRating: fc.ByRating, Comments: cs}, nil
}

// FeedbackCounts is a segment's feedback without the comments' texts:
// counts, the average and the IDs of the newest 100 answers with a
// comment. It holds no personal data, so a background pass may keep it.
type FeedbackCounts struct {
	SegmentID  string         `json:"segment_id"`
	Answers    int            `json:"answers"`
	Average    float64        `json:"average"`
	ByRating   map[string]int `json:"by_rating"`
	CommentIDs []string       `json:"comment_ids"`
}

// SegmentFeedbackCounts counts the feedback of the segment's current
// members. Answers are few and members many: it reads the workspace's
// answers, then asks which of their authors are members now, so it costs
// what the answers cost, not a walk of the segment.
func (s *Service) SegmentFeedbackCounts(ctx context.Context, ws, segmentID string) (FeedbackCounts, error) {
	sg, err := s.Segment(ctx, ws, segmentID)
	if err != nil {
		return FeedbackCounts{}, err
	}
	out := FeedbackCounts{SegmentID: sg.ID, ByRating: map[string]int{"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}, CommentIDs: []string{}}
	type answer struct {
		id, cid    string
		rating     int
		hasComment bool
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT id, contact_id, rating, comment <> '' FROM lead_feedback WHERE workspace_id = $1 ORDER BY created_at DESC, id`, ws)
	if err != nil {
		return FeedbackCounts{}, fmt.Errorf("read feedback: %w", err)
	}
	var answers []answer
	for rows.Next() {
		var a answer
		if err := rows.Scan(&a.id, &a.cid, &a.rating, &a.hasComment); err != nil {
			rows.Close()
			return FeedbackCounts{}, err
		}
		a.cid = strings.ToLower(a.cid)
		answers = append(answers, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return FeedbackCounts{}, err
	}
	if len(answers) == 0 {
		return out, nil
	}
	c, err := s.compile(ctx, ws, sg.Filter)
	if err != nil {
		return FeedbackCounts{}, err
	}
	member := map[string]bool{}
	c.onlyIn = `SELECT DISTINCT contact_id FROM lead_feedback WHERE workspace_id = $1`
	if err := s.run(ctx, ws, c, "", 0, func(cid string) error { member[cid] = true; return nil }); err != nil {
		return FeedbackCounts{}, err
	}
	sum := 0
	for _, a := range answers {
		if !member[a.cid] {
			continue
		}
		out.Answers++
		sum += a.rating
		out.ByRating[fmt.Sprint(a.rating)]++
		if a.hasComment && len(out.CommentIDs) < 100 {
			out.CommentIDs = append(out.CommentIDs, strings.ToLower(a.id))
		}
	}
	if out.Answers > 0 {
		out.Average = round(float64(sum) / float64(out.Answers))
	}
	return out, nil
}

// FeedbackComments reads and opens the comments of the given answers,
// newest first; an erased author's comment opens to nothing and is left
// out.
func (s *Service) FeedbackComments(ctx context.Context, ws string, ids []string) ([]Comment, error) {
	out := []Comment{}
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{ws}
	ph := make([]string, 0, len(ids))
	for _, x := range ids {
		args = append(args, x)
		ph = append(ph, fmt.Sprintf("$%d", len(args)))
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT contact_id, rating, comment, ref, created_at FROM lead_feedback WHERE workspace_id = $1 AND id IN (`+strings.Join(ph, ",")+`) ORDER BY created_at DESC, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read feedback comments: %w", err)
	}
	type raw struct {
		cid string
		c   Comment
	}
	var rs []raw
	var cids []string
	for rows.Next() {
		var r raw
		if err := rows.Scan(&r.cid, &r.c.Rating, &r.c.Text, &r.c.Ref, &r.c.At); err != nil {
			rows.Close()
			return nil, err
		}
		r.cid = strings.ToLower(r.cid)
		rs = append(rs, r)
		cids = append(cids, r.cid)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	ops, err := s.Contacts.Keys().Openers(ctx, ws, cids)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.c.Text, err = ops[r.cid].OpenText(r.c.Text); err != nil {
			return nil, fmt.Errorf("open feedback comment: %w", err)
		}
		if r.c.Text != "" {
			r.c.At = r.c.At.UTC()
			out = append(out, r.c)
		}
	}
	return out, nil
}
