package admin

import (
	"bytes"
	"errors"
	"net/http"
	"strings"

	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/capture/form"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

type formsData struct {
	Forms []capture.Form
}

func (u *UI) forms(w http.ResponseWriter, r *http.Request, s *Session) error {
	fs, err := u.Capture.Forms(r.Context(), s.WorkspaceID)
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "forms", "forms_title")
	p.Data = formsData{Forms: fs}
	return u.render(w, http.StatusOK, "forms", "", p)
}

// builderData is the form builder: the definition as JSON for editing and
// the same definition shown as a structured list of fields and checkboxes,
// with the lint's findings.
type builderData struct {
	Key      string // saved key, "" for a new form
	Version  int
	JSON     string
	Def      *form.Definition
	Findings []findingView
	Invalid  string // a structural error of the JSON
	Snippet  string
	Checked  bool
	CanEdit  bool
}

type findingView struct {
	Code, Field, Message, Ref string
}

func encodeDef(d form.Definition) string {
	var b bytes.Buffer
	_ = d.Encode(&b)
	return b.String()
}

// starter is the definition a new form starts from: the demo newsletter
// with this workspace's notice versions, under a new key.
func (u *UI) starter(r *http.Request, s *Session) (form.Definition, error) {
	ctx := r.Context()
	pick := func(kind, lang string) string {
		ns, err := u.Notices.List(ctx, s.WorkspaceID, kind)
		if err != nil {
			return ""
		}
		for _, n := range ns {
			if n.Language == lang {
				return n.Hash
			}
		}
		return ""
	}
	d := form.Demo(pick("consent_text", "de"), pick("consent_text", "en"), pick("privacy_notice", "de"), pick("privacy_notice", "en"))
	d.Key = "new-form"
	d.Offer = nil
	return d, nil
}

func (u *UI) formEdit(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	p := u.newPage(r, s, "forms", "builder_title")
	bd := builderData{CanEdit: p.Can("admin", "marketing")}
	key := r.PathValue("key")
	if key == "" {
		d, err := u.starter(r, s)
		if err != nil {
			return err
		}
		bd.JSON, bd.Def = encodeDef(d), &d
	} else {
		f, err := u.Capture.Form(ctx, s.WorkspaceID, key)
		if err != nil {
			return err
		}
		bd.Key, bd.Version, bd.JSON, bd.Def = f.Key, f.Version, encodeDef(f.Definition), &f.Definition
		if snip, err := u.Capture.Snippet(ctx, f, p.Lang); err == nil {
			bd.Snippet = snip
		}
	}
	if r.URL.Query().Get("saved") != "" {
		p.Flash = p.T("form_saved")
	}
	p.Data = &bd
	return u.render(w, http.StatusOK, "builder", "", p)
}

// check decodes and lints the submitted definition.
func (u *UI) check(r *http.Request, s *Session, lang string, bd *builderData) error {
	raw := r.PostFormValue("definition")
	bd.JSON, bd.Checked = raw, true
	d, err := form.Decode(strings.NewReader(raw))
	var ve *validate.Error
	if errors.As(err, &ve) {
		bd.Invalid = fieldMsg(ve)
		return nil
	}
	if err != nil {
		return err
	}
	bd.Def = &d
	fs, err := u.Capture.CheckForm(r.Context(), s.WorkspaceID, d)
	if errors.As(err, &ve) {
		bd.Invalid = fieldMsg(ve)
		return nil
	}
	if err != nil {
		return err
	}
	for _, f := range fs {
		bd.Findings = append(bd.Findings, findingView{f.Code, f.Field, f.MessageIn(lang), f.Ref})
	}
	return nil
}

func fieldMsg(ve *validate.Error) string {
	if ve.Field != "" && !strings.Contains(ve.Message, ve.Field) {
		return ve.Field + ": " + ve.Message
	}
	return ve.Message
}

// formCheck answers the builder's live check (htmx) with the findings
// fragment, or without JavaScript the whole builder.
func (u *UI) formCheck(w http.ResponseWriter, r *http.Request, s *Session) error {
	p := u.newPage(r, s, "forms", "builder_title")
	bd := builderData{CanEdit: true, Key: r.PostFormValue("saved_key")}
	if err := u.check(r, s, p.Lang, &bd); err != nil {
		return err
	}
	p.Data = &bd
	block := ""
	if p.Partial {
		block = "findings"
	}
	return u.render(w, http.StatusOK, "builder", block, p)
}

func (u *UI) formSave(w http.ResponseWriter, r *http.Request, s *Session) error {
	p := u.newPage(r, s, "forms", "builder_title")
	bd := builderData{CanEdit: true, Key: r.PostFormValue("saved_key")}
	if err := u.check(r, s, p.Lang, &bd); err != nil {
		return err
	}
	if bd.Invalid != "" || len(bd.Findings) > 0 {
		p.Data = &bd
		p.Errors["definition"] = p.T("form_not_saved")
		return u.render(w, http.StatusUnprocessableEntity, "builder", "", p)
	}
	f, _, err := u.Capture.SaveForm(r.Context(), s.WorkspaceID, consent.Actor{UserID: s.UserID}.String(), *bd.Def)
	var ve *validate.Error
	var le *capture.LintError
	switch {
	case errors.As(err, &le):
		for _, f := range le.Findings {
			bd.Findings = append(bd.Findings, findingView{f.Code, f.Field, f.MessageIn(p.Lang), f.Ref})
		}
	case errors.As(err, &ve):
		bd.Invalid = fieldMsg(ve)
	case errors.Is(err, store.ErrConflict):
		bd.Invalid = p.T("form_key_taken")
	case err != nil:
		return err
	}
	if err != nil {
		p.Data = &bd
		p.Errors["definition"] = p.T("form_not_saved")
		return u.render(w, http.StatusUnprocessableEntity, "builder", "", p)
	}
	http.Redirect(w, r, "/admin/forms/"+f.Key+"?saved=1", http.StatusSeeOther)
	return nil
}
