package admin

import (
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/fairlead/fairlead/internal/audit"
	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/web"
	"github.com/fairlead/fairlead/internal/workspace"
)

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request, _ *Session) error {
	if s, err := u.session(r); err == nil && !s.SecondFactor {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
		return nil
	}
	p := u.newPage(r, nil, "", "login_title")
	ws := r.URL.Query().Get("workspace")
	if ws == "" {
		ws = workspace.DemoSlug
	}
	p.Data = map[string]any{"Next": safeNext(r.URL.Query().Get("next")), "Workspace": ws, "Email": ""}
	return u.render(w, http.StatusOK, "login", "", p)
}

func (u *UI) login(w http.ResponseWriter, r *http.Request, _ *Session) error {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		return validate.Invalid("form", "the form could not be read")
	}
	slug := strings.TrimSpace(r.PostFormValue("workspace"))
	email := strings.TrimSpace(r.PostFormValue("email"))
	pw := r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	p := u.newPage(r, nil, "", "login_title")
	p.Data = map[string]any{"Next": next, "Workspace": slug, "Email": email}
	again := func(status int, field, key string, args ...any) error {
		p.Errors[field] = p.Tf(key, args...)
		return u.render(w, status, "login", "", p)
	}
	if slug == "" || email == "" || pw == "" {
		return again(http.StatusUnprocessableEntity, "form", "err_login_fields")
	}
	ip := u.Throttle.IPSubject(clientIP(r))
	account := u.Throttle.AccountSubject(slug, email)
	var locked *ErrLocked
	if err := u.Throttle.Check(ctx, account, ip); errors.As(err, &locked) {
		u.Log.InfoContext(ctx, "admin login refused while locked", "request_id", web.RequestID(ctx))
		return again(http.StatusTooManyRequests, "form", "err_locked", p.Date(locked.Until))
	} else if err != nil {
		return err
	}
	ws, err := workspace.BySlug(ctx, u.DB.R, slug)
	var user auth.User
	if err == nil {
		user, err = u.Auth.CheckLogin(ctx, ws.ID, email, pw)
	} else if errors.Is(err, store.ErrNotFound) {
		// Spend the password check's time anyway, so the answer's speed
		// does not tell which workspaces exist.
		_, err = u.Auth.CheckLogin(ctx, "00000000-0000-0000-0000-000000000000", email, pw)
	}
	if err != nil {
		if !errors.Is(err, auth.ErrBadCredentials) {
			return err
		}
		if ferr := u.Throttle.Fail(ctx, account, ip); ferr != nil {
			return ferr
		}
		u.Log.InfoContext(ctx, "admin login failed", "request_id", web.RequestID(ctx), "workspace_id", ws.ID)
		return again(http.StatusUnauthorized, "form", "err_bad_login")
	}
	if err := u.Throttle.Succeed(ctx, account); err != nil {
		return err
	}
	twoFactor, err := u.TOTP.Active(ctx, ws.ID, user.ID)
	if err != nil {
		return err
	}
	// A login always starts a new session: a token planted before the
	// login (session fixation) is dropped with the old one.
	if old, err := u.session(r); err == nil {
		_ = u.Sessions.Delete(ctx, old.ID)
	}
	tok, err := u.Sessions.Create(ctx, ws.ID, user.ID, langOf(r, nil), twoFactor)
	if err != nil {
		return err
	}
	u.setCookie(w, tok, int(u.Sessions.MaxAge.Seconds()))
	u.Log.InfoContext(ctx, "admin login", "request_id", web.RequestID(ctx), "workspace_id", ws.ID, "user_id", user.ID, "second_factor", twoFactor)
	if u.Audit != nil {
		if err := u.Audit.Record(ctx, nil, audit.Entry{WorkspaceID: ws.ID, ActorType: "user", ActorID: user.ID, RequestID: web.RequestID(ctx),
			Action: audit.ActionLogin, Route: "POST /admin/login", Fields: []string{}, Status: http.StatusSeeOther, At: u.Now()}); err != nil {
			u.Log.ErrorContext(ctx, "audit trail write failed", "request_id", web.RequestID(ctx), "err", err)
		}
	}
	if twoFactor {
		http.Redirect(w, r, "/admin/login/totp", http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (u *UI) totpPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	if !s.SecondFactor {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
		return nil
	}
	p := u.newPage(r, nil, "", "totp_title")
	p.Lang = s.Lang
	return u.render(w, http.StatusOK, "totp", "", p)
}

func (u *UI) totpLogin(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	if !s.SecondFactor {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
		return nil
	}
	p := u.newPage(r, nil, "", "totp_title")
	p.Lang = s.Lang
	ws, err := workspace.ByID(ctx, u.DB.R, s.WorkspaceID)
	if err != nil {
		return err
	}
	// Codes count against the same lock as passwords: six digits are
	// guessable without it.
	account, ip := u.Throttle.AccountSubject(ws.Slug, s.Email), u.Throttle.IPSubject(clientIP(r))
	var locked *ErrLocked
	if err := u.Throttle.Check(ctx, account, ip); errors.As(err, &locked) {
		p.Errors["code"] = p.Tf("err_locked", p.Date(locked.Until))
		return u.render(w, http.StatusTooManyRequests, "totp", "", p)
	} else if err != nil {
		return err
	}
	if err := u.TOTP.Verify(ctx, s.WorkspaceID, s.UserID, strings.TrimSpace(r.PostFormValue("code")), false); err != nil {
		var ve *validate.Error
		if !errors.As(err, &ve) {
			return err
		}
		if err := u.Throttle.Fail(ctx, account, ip); err != nil {
			return err
		}
		u.Log.InfoContext(ctx, "admin second factor failed", "request_id", web.RequestID(ctx), "workspace_id", s.WorkspaceID, "user_id", s.UserID)
		p.Errors["code"] = p.T("err_totp_code")
		return u.render(w, http.StatusUnauthorized, "totp", "", p)
	}
	_ = u.Throttle.Succeed(ctx, account)
	tok, err := u.Sessions.Passed(ctx, s)
	if err != nil {
		return err
	}
	u.setCookie(w, tok, int(u.Sessions.MaxAge.Seconds()))
	http.Redirect(w, r, "/admin/", http.StatusSeeOther)
	return nil
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, s *Session) error {
	if err := u.Sessions.Delete(r.Context(), s.ID); err != nil {
		return err
	}
	u.setCookie(w, "", -1)
	u.Log.InfoContext(r.Context(), "admin logout", "request_id", web.RequestID(r.Context()), slog.String("user_id", s.UserID))
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
	return nil
}

func (u *UI) setLang(w http.ResponseWriter, r *http.Request, s *Session) error {
	if err := u.Sessions.SetLang(r.Context(), s, r.PostFormValue("lang")); err != nil {
		return err
	}
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
	return nil
}

type accountData struct {
	Active    bool
	Enrolment *Enrolment
}

func (u *UI) accountPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	active, err := u.TOTP.Active(r.Context(), s.WorkspaceID, s.UserID)
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "", "account_title")
	p.Data = accountData{Active: active}
	return u.render(w, http.StatusOK, "account", "", p)
}

func (u *UI) totpEnrol(w http.ResponseWriter, r *http.Request, s *Session) error {
	e, err := u.TOTP.Enrol(r.Context(), s.WorkspaceID, s.UserID, s.Email)
	p := u.newPage(r, s, "", "account_title")
	var ve *validate.Error
	if errors.As(err, &ve) {
		p.Data = accountData{Active: true}
		p.Flash = p.T("totp_active")
		return u.render(w, http.StatusConflict, "account", "", p)
	}
	if err != nil {
		return err
	}
	p.Data = accountData{Enrolment: &e}
	return u.render(w, http.StatusOK, "account", "", p)
}

func (u *UI) totpActivate(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	err := u.TOTP.Verify(ctx, s.WorkspaceID, s.UserID, strings.TrimSpace(r.PostFormValue("code")), true)
	p := u.newPage(r, s, "", "account_title")
	var ve *validate.Error
	if errors.As(err, &ve) {
		// Show the same secret again: the row still holds it.
		var secret string
		e := u.DB.R.QueryRowContext(ctx, `SELECT secret FROM admin_totp WHERE workspace_id = $1 AND user_id = $2 AND activated_at IS NULL`, s.WorkspaceID, s.UserID).Scan(&secret)
		if errors.Is(e, sql.ErrNoRows) {
			// Nothing to activate (already active, or never enrolled).
			http.Redirect(w, r, "/admin/account", http.StatusSeeOther)
			return nil
		}
		if e != nil {
			return e
		}
		p.Data = accountData{Enrolment: &Enrolment{Secret: secret}}
		p.Errors["code"] = p.T("err_totp_code")
		return u.render(w, http.StatusUnprocessableEntity, "account", "", p)
	}
	if err != nil {
		return err
	}
	u.Log.InfoContext(ctx, "second factor activated", "request_id", web.RequestID(ctx), "user_id", s.UserID)
	p.Data = accountData{Active: true}
	p.Flash = p.T("totp_activated")
	return u.render(w, http.StatusOK, "account", "", p)
}

func (u *UI) totpRemove(w http.ResponseWriter, r *http.Request, s *Session) error {
	if err := u.TOTP.Remove(r.Context(), s.WorkspaceID, s.UserID); err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/account", http.StatusSeeOther)
	return nil
}
