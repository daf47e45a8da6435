package admin

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/validate"
)

type membersData struct {
	Segment lead.Segment
	Rows    []contactRow
	After   string
	Next    string
}

// segmentMembers lists a saved segment's members now, a page at a time in
// contact ID order (keyset, as the contact list).
func (u *UI) segmentMembers(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	sg, err := u.Leads.Segment(ctx, s.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "leads", "segment_members")
	p.Title = sg.Name
	d := membersData{Segment: sg, After: r.URL.Query().Get("after")}
	status := http.StatusOK
	if d.After != "" && !id.Valid(d.After) {
		p.Errors["after"] = p.T("err_after")
		d.After, status = "", http.StatusUnprocessableEntity
	}
	ids, err := u.Leads.MemberPage(ctx, s.WorkspaceID, sg.ID, d.After, pageSize)
	if err != nil {
		return err
	}
	if d.Rows, d.Next, err = u.contactRowsOf(ctx, s.WorkspaceID, ids); err != nil {
		return err
	}
	p.Data = d
	return u.render(w, status, "segmentmembers", "", p)
}

type feedbackData struct {
	Segment lead.Segment
	Ready   bool      // false: the background pass has not counted this segment yet
	At      time.Time // when it counted
	F       lead.FeedbackSummary
	Ratings []ratingRow
}

type ratingRow struct {
	Rating, N int
	Percent   int
}

// segmentFeedback shows the answers to "how does our personalization
// feel?" given by the segment's current members.
func (u *UI) segmentFeedback(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	sg, err := u.Leads.Segment(ctx, s.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	// The counts come from the background pass (they read every answer
	// and ask which authors are members: too slow for a page at scale);
	// only the comments shown are read and opened now.
	p := u.newPage(r, s, "leads", "segment_feedback")
	p.Title = sg.Name
	d := feedbackData{Segment: sg}
	fig, _, err := u.Dashboards.Snapshot(ctx, s.WorkspaceID)
	if err != nil {
		return err
	}
	fc, ok := fig.Feedback[sg.ID]
	if !ok {
		p.Data = d
		return u.render(w, http.StatusOK, "segmentfeedback", "", p)
	}
	cs, err := u.Leads.FeedbackComments(ctx, s.WorkspaceID, fc.CommentIDs)
	if err != nil {
		return err
	}
	f := lead.FeedbackSummary{SegmentID: fc.SegmentID, Answers: fc.Answers, Average: fc.Average, ByRating: fc.ByRating, Comments: cs}
	d.Ready, d.At, d.F = true, fig.At, f
	for i := 5; i >= 1; i-- {
		n := f.ByRating[strconv.Itoa(i)]
		pc := 0
		if f.Answers > 0 {
			pc = n * 100 / f.Answers
		}
		d.Ratings = append(d.Ratings, ratingRow{i, n, pc})
	}
	p.Data = d
	return u.render(w, http.StatusOK, "segmentfeedback", "", p)
}

// moveStage sets a contact's stage by hand from the score page; the
// stages offered and accepted are those lead management allows the role.
func (u *UI) moveStage(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	cid := r.PathValue("id")
	if _, err := u.Leads.LeadState(ctx, s.WorkspaceID, cid); err != nil {
		return err
	}
	_ = r.ParseForm()
	stage, reason := r.PostFormValue("stage"), r.PostFormValue("reason")
	var err error
	if stage == "" {
		err = validate.OneOf("stage", "", lead.MoveTargets[s.Role])
	} else {
		_, err = u.Leads.Move(ctx, s.WorkspaceID, cid, s.Role, leadActor(s), stage, reason)
	}
	if err == nil {
		http.Redirect(w, r, "/admin/contacts/"+strings.ToLower(cid)+"/score?done=stage#trans-h", http.StatusSeeOther)
		return nil
	}
	ve, ok := fieldError(err)
	if !ok {
		return err
	}
	p := u.newPage(r, s, "contacts", "score_title")
	d, err := u.scoreData(r, s, p.Lang)
	if err != nil {
		return err
	}
	d.Move = map[string]string{"stage": stage, "reason": reason}
	field := ve.Field
	if field != "reason" {
		field = "stage"
	}
	p.Errors["mv-"+field] = ve.Message
	p.Data = d
	return u.render(w, http.StatusUnprocessableEntity, "score", "", p)
}

// recomputeScores queues the recompute of every score with the active
// rules, as saving new rules does; a second click while one is queued is
// the same job.
func (u *UI) recomputeScores(w http.ResponseWriter, r *http.Request, s *Session) error {
	rs, err := u.Leads.ActiveRules(r.Context(), s.WorkspaceID)
	if err != nil {
		return err
	}
	if _, err := u.Leads.EnqueueRecompute(r.Context(), s.WorkspaceID, rs.Version); err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/leads/scoring?done=recompute", http.StatusSeeOther)
	return nil
}
