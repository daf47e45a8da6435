package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/audit"
	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/web"
	"github.com/fairlead/fairlead/internal/web/api/bodyfields"
)

// personalReads are the reads that disclose personal data or bulk lists of
// people: the trail shows who looked at whom (Weitergabekontrolle).
var personalReads = map[string]string{
	"GET /api/v1/contacts":                                       audit.ActionRead,
	"GET /api/v1/contacts/{id}":                                  audit.ActionRead,
	"GET /api/v1/contacts/{id}/ledger":                           audit.ActionRead,
	"GET /api/v1/contacts/{id}/values":                           audit.ActionRead,
	"GET /api/v1/contacts/{id}/consent-records":                  audit.ActionExport,
	"GET /api/v1/contacts/{id}/consent-records/{record}/receipt": audit.ActionExport,
	"GET /api/v1/outbox":                                         audit.ActionRead,
	"GET /api/v1/outbox/{id}":                                    audit.ActionRead,
	"GET /api/v1/audit/export":                                   audit.ActionExport,
	"GET /api/v1/exports/contacts":                               audit.ActionExport,
	"GET /api/v1/art14-tasks":                                    audit.ActionRead,
}

// auditAction is what the trail records for a route; "" = nothing (plain
// reads of the catalogue, what-if decisions without overrides).
func auditAction(rt Route) string {
	switch rt.Method {
	case http.MethodPut, http.MethodPatch:
		return audit.ActionUpdate
	case http.MethodDelete:
		return audit.ActionDelete
	case http.MethodPost:
		switch {
		case rt.Path == "/api/v1/decide", rt.Path == "/api/v1/forms/lint":
			return "" // decided per body (decide) or changes nothing (lint)
		case rt.Path == "/api/v1/audiences/resolve":
			return audit.ActionExport
		case strings.HasSuffix(rt.Path, "/retry"), strings.HasSuffix(rt.Path, "/cancel"), strings.HasSuffix(rt.Path, "/redeliver"):
			return audit.ActionUpdate
		}
		return audit.ActionCreate
	}
	return personalReads[rt.Pattern()]
}

// overrides reports whether a decide body changes policy for its facts
// (facts.policy): a decision override, which the trail records.
func overrides(b []byte) bool {
	type item struct {
		Facts struct {
			Policy json.RawMessage `json:"policy"`
		} `json:"facts"`
	}
	var one item
	if json.Unmarshal(b, &one) == nil {
		return len(one.Facts.Policy) > 0 && string(one.Facts.Policy) != "null"
	}
	var many []item
	if json.Unmarshal(b, &many) == nil {
		for _, it := range many {
			if len(it.Facts.Policy) > 0 && string(it.Facts.Policy) != "null" {
				return true
			}
		}
	}
	return false
}

// recorder keeps the status for the trail; Flush passes through for
// streamed answers.
type recorder struct {
	http.ResponseWriter
	status int
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// inTx lets a handler write the request's audit entry in its own
// transaction, as the answer it is about to give (200): the trail and the
// change then commit together, and the request costs no write of its own
// for the entry. Not for a handler that names what it created only in its
// Location header: the entry would miss the resource.
type inTx struct {
	a       *API
	entry   audit.Entry
	written bool
}

type inTxKey struct{}

// auditInTx is what a handler passes to run in its transaction; nil when
// the request is not audited. The entry counts as written only when the
// request then answers 200: any other answer means the transaction did not
// commit, and the middleware writes the entry itself.
func auditInTx(r *http.Request) func(ctx context.Context, q store.Querier) error {
	t, _ := r.Context().Value(inTxKey{}).(*inTx)
	if t == nil {
		return nil
	}
	return func(ctx context.Context, q store.Querier) error {
		e := t.entry
		e.Status, e.At = http.StatusOK, t.a.Now()
		if err := t.a.Audit.Record(ctx, q, e); err != nil {
			return err
		}
		t.written = true
		return nil
	}
}

// audited runs the handler and records it in the trail. The entry is
// written after the answer, outside the handler's transaction (a failing
// audit write is logged as an error, it does not undo the change), unless
// the handler wrote it in its transaction (auditInTx).
func (a *API) audited(rt Route, w http.ResponseWriter, r *http.Request, p auth.Principal, run func(http.ResponseWriter, *http.Request)) {
	action := auditAction(rt)
	var body []byte
	if r.Body != nil && (rt.Method == http.MethodPost || rt.Method == http.MethodPut || rt.Method == http.MethodPatch) && (action != "" || rt.Path == "/api/v1/decide") {
		b, err := io.ReadAll(r.Body)
		body = b
		if err != nil {
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), errReader{err}))
		} else {
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		if rt.Path == "/api/v1/decide" && overrides(b) {
			action = audit.ActionOverride
		}
	}
	if action == "" || a.Audit == nil {
		run(w, r)
		return
	}
	actorType, actorID := "token", p.TokenID
	if p.UserID != "" {
		actorType, actorID = "user", p.UserID
	}
	res := r.PathValue("id")
	if res == "" {
		res = r.PathValue("key")
	}
	e := audit.Entry{WorkspaceID: p.WorkspaceID, ActorType: actorType, ActorID: actorID, RequestID: web.RequestID(r.Context()),
		Action: action, Route: rt.Pattern(), ResourceID: res, Fields: bodyfields.Names(body)}
	rec := &recorder{ResponseWriter: w}
	tx := &inTx{a: a, entry: e}
	r = r.WithContext(context.WithValue(r.Context(), inTxKey{}, tx))
	run(rec, r)
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	if tx.written && status == http.StatusOK {
		return
	}
	if loc := w.Header().Get("Location"); e.ResourceID == "" && action == audit.ActionCreate && loc != "" {
		e.ResourceID = loc[strings.LastIndex(loc, "/")+1:]
	}
	e.Status, e.At = status, a.Now()
	if err := a.Audit.Record(r.Context(), nil, e); err != nil && !errors.Is(err, r.Context().Err()) {
		a.Log.ErrorContext(r.Context(), "audit trail write failed", slog.String("request_id", e.RequestID), slog.String("route", e.Route), slog.Any("err", err))
	}
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, err := auditFilter(r)
	if err != nil {
		return err
	}
	es, err := a.Audit.List(r.Context(), p.WorkspaceID, f)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"events": es})
	return nil
}

func (a *API) exportAudit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	f, err := auditFilter(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("limit") == "" {
		f.Limit = 1000
	}
	es, err := a.Audit.List(r.Context(), p.WorkspaceID, f)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="fairlead-audit.csv"`)
	return audit.WriteCSV(w, es)
}

func auditFilter(r *http.Request) (audit.Filter, error) {
	q := r.URL.Query()
	f := audit.Filter{ActorID: q.Get("actor_id"), Action: q.Get("action"), ResourceID: q.Get("resource_id"), Route: q.Get("route"), After: q.Get("after")}
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if s := q.Get(name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return f, web.Errorf(http.StatusBadRequest, "invalid_value", name+" must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z")
			}
			*dst = t
		}
	}
	if s := q.Get("limit"); s != "" {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' || n > 100000 {
				return f, web.Errorf(http.StatusBadRequest, "invalid_value", "limit must be 1 to 1000")
			}
			n = n*10 + int(c-'0')
		}
		f.Limit = n
	}
	return f, nil
}
