package admin

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/fairlead/fairlead/internal/audit"
	"github.com/fairlead/fairlead/internal/web"
)

// uiAction is what the audit trail records for a route: changes, exports
// and reads of a person's data, as the API records them. Steps of one's own
// session (language, logout, second factor) and checks that change nothing
// are not recorded.
func uiAction(rt Route) string {
	switch {
	case rt.Public(), rt.Path == "/admin/lang", rt.Path == "/admin/logout", rt.Path == "/admin/forms/check",
		strings.HasPrefix(rt.Path, "/admin/login"), strings.HasPrefix(rt.Path, "/admin/account"),
		// A segment's preview counts and changes nothing, like the form lint.
		rt.Path == "/admin/leads/segments/preview":
		return ""
	// A campaign's preview shows a contact's merge values: a read.
	case rt.Path == "/admin/campaigns/{id}/preview":
		return audit.ActionRead
	case rt.Method == http.MethodPost:
		switch {
		case strings.HasSuffix(rt.Path, "/erase"), strings.HasSuffix(rt.Path, "/remove"), strings.HasSuffix(rt.Path, "/revoke"):
			return audit.ActionDelete
		case rt.Path == "/admin/settings", strings.HasSuffix(rt.Path, "/redeliver"), strings.HasSuffix(rt.Path, "/complete"),
			rt.Path == "/admin/settings/users/{id}", rt.Path == "/admin/settings/test",
			rt.Path == "/admin/suppliers/{id}", strings.HasSuffix(rt.Path, "/sent"), strings.HasSuffix(rt.Path, "/schedule"),
			rt.Path == "/admin/leads/segments/{id}", rt.Path == "/admin/leads/scoring", rt.Path == "/admin/campaigns/{id}", strings.HasSuffix(rt.Path, "/pause"), strings.HasSuffix(rt.Path, "/resume"):
			return audit.ActionUpdate
		}
		return audit.ActionCreate
	case rt.Path == "/admin/contacts/{id}/export":
		return audit.ActionExport
	// The print files hold the names and addresses of every letter.
	case rt.Path == "/admin/letters/batches/{id}/pdf", rt.Path == "/admin/letters/batches/{id}/manifest":
		return audit.ActionExport
	case slices.Contains([]string{"/admin/contacts/{id}", "/admin/outbox", "/admin/outbox/{id}", "/admin/contacts/{id}/erase",
		"/admin/contacts/{id}/sales", "/admin/suppliers/{id}", "/admin/letters/batches/{id}",
		"/admin/contacts/{id}/score", "/admin/leads/sales"}, rt.Path):
		return audit.ActionRead
	}
	return ""
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// audited runs a handler and records its outcome in the audit trail: who,
// which route, which resource, the names of the fields sent (never their
// values), the status — refusals included.
func (u *UI) audited(rt Route, w http.ResponseWriter, r *http.Request, s *Session, run func(http.ResponseWriter)) {
	action := uiAction(rt)
	if action == "" || u.Audit == nil || s == nil {
		run(w)
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	run(rec)
	var fields []string
	if r.PostForm != nil {
		for k := range r.PostForm {
			fields = append(fields, k)
		}
		sort.Strings(fields)
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	res := r.PathValue("id")
	if res == "" {
		res = r.PathValue("key")
	}
	e := audit.Entry{WorkspaceID: s.WorkspaceID, ActorType: "user", ActorID: s.UserID, RequestID: web.RequestID(r.Context()),
		Action: action, Route: rt.Pattern(), ResourceID: res, Fields: fields, Status: status, At: u.Now()}
	if err := u.Audit.Record(r.Context(), nil, e); err != nil && !errors.Is(err, r.Context().Err()) {
		u.Log.ErrorContext(r.Context(), "audit trail write failed", slog.String("request_id", e.RequestID), slog.String("route", e.Route), slog.Any("err", err))
	}
}
