package admin

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/capture"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/web"
)

func (u *UI) settingsPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	d, err := u.settingsData(r, s)
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "settings", "settings_title")
	if r.URL.Query().Get("saved") != "" {
		p.Flash = p.T("saved_")
	}
	p.Data = d
	return u.render(w, http.StatusOK, "settings", "", p)
}

func (u *UI) purposesPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	ps, err := u.Purposes.List(r.Context(), s.WorkspaceID)
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "settings", "purposes_title")
	p.Data = ps
	return u.render(w, http.StatusOK, "purposes", "", p)
}

// diffLine is one line of a line diff between two notice versions.
type diffLine struct {
	Op   string // "=", "+", "-"
	Text string
}

// lineDiff is a longest-common-subsequence diff of two texts by line;
// notices are short, so the quadratic table is small.
func lineDiff(a, b string) []diffLine {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(x)*len(y) > 4_000_000 {
		return []diffLine{{"-", a}, {"+", b}}
	}
	l := make([][]int, len(x)+1)
	for i := range l {
		l[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		switch {
		case x[i] == y[j]:
			out = append(out, diffLine{"=", x[i]})
			i, j = i+1, j+1
		case l[i+1][j] >= l[i][j+1]:
			out = append(out, diffLine{"-", x[i]})
			i++
		default:
			out = append(out, diffLine{"+", y[j]})
			j++
		}
	}
	for ; i < len(x); i++ {
		out = append(out, diffLine{"-", x[i]})
	}
	for ; j < len(y); j++ {
		out = append(out, diffLine{"+", y[j]})
	}
	return out
}

func (u *UI) noticesPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	ns, err := u.Notices.List(ctx, s.WorkspaceID, "")
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "settings", "notices_title")
	data := map[string]any{"Notices": ns, "Form": map[string]string{}, "Kinds": consent.NoticeKinds}
	a, b := r.URL.Query().Get("a"), r.URL.Query().Get("b")
	if a != "" && b != "" {
		na, errA := u.Notices.Get(ctx, s.WorkspaceID, a)
		nb, errB := u.Notices.Get(ctx, s.WorkspaceID, b)
		if errA != nil || errB != nil {
			p.Errors["a"] = p.T("err_notice_pick")
		} else {
			data["Diff"] = lineDiff(na.Title+"\n\n"+na.Body, nb.Title+"\n\n"+nb.Body)
			data["A"], data["B"] = na, nb
		}
	}
	p.Data = data
	return u.render(w, http.StatusOK, "notices", "", p)
}

func (u *UI) usersPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	us, err := u.Auth.Users(ctx, s.WorkspaceID)
	if err != nil {
		return err
	}
	ts, err := u.Auth.Tokens(ctx, s.WorkspaceID)
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "settings", "users_title")
	p.Data = map[string]any{"Users": us, "Tokens": ts, "Form": map[string]string{}, "Roles": auth.RoleNames()}
	return u.render(w, http.StatusOK, "users", "", p)
}

// extensionPage stands in for a part of fairlead that is not installed in
// this build yet (see MenuEntry).
func (u *UI) extensionPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	key := strings.TrimPrefix(r.URL.Path, "/admin/")
	p := u.newPage(r, s, key, "ext_title")
	for _, e := range u.menu() {
		if e.Key == key {
			p.Title = e.Label[0]
			if p.Lang == "de" {
				p.Title = e.Label[1]
			}
		}
	}
	return u.render(w, http.StatusOK, "extension", "", p)
}

// settingsForm is what the settings page shows and sends back.
func (u *UI) settingsData(r *http.Request, s *Session) (map[string]any, error) {
	set, err := u.Settings.Effective(r.Context(), s.WorkspaceID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"S": set.Settings, "SMTP": set.SMTPURL != "", "SMS": set.SMSURL != "", "PublicURL": set.PublicURL, "MailFrom": set.MailFrom, "Form": map[string]string{}}, nil
}

func (u *UI) settingsAgain(w http.ResponseWriter, r *http.Request, s *Session, status int, field, msg, flash string) error {
	d, err := u.settingsData(r, s)
	if err != nil {
		return err
	}
	f := map[string]string{}
	for k := range r.PostForm {
		if k != "smtp_url" && k != "sms_url" {
			f[k] = r.PostForm.Get(k)
		}
	}
	d["Form"] = f
	p := u.newPage(r, s, "settings", "settings_title")
	if field != "" {
		p.Errors[field] = msg
	}
	p.Flash = flash
	p.Data = d
	return u.render(w, status, "settings", "", p)
}

// saveSettings changes imprint, sender and gateways in one transaction: a
// refused value leaves everything as it was. Gateway URLs carry
// credentials and are never shown; an empty field keeps the stored one.
func (u *UI) saveSettings(w http.ResponseWriter, r *http.Request, s *Session) error {
	_ = r.ParseForm()
	f := r.PostForm
	up := capture.SettingsUpdate{Imprint: map[string]string{}}
	for _, l := range []string{"de", "en"} {
		up.Imprint[l] = strings.TrimSpace(f.Get("imprint_" + l))
	}
	pub, from, name := strings.TrimSpace(f.Get("public_url")), strings.TrimSpace(f.Get("mail_from")), strings.TrimSpace(f.Get("mail_from_name"))
	up.PublicURL, up.MailFrom, up.MailFromName = &pub, &from, &name
	for _, g := range []struct {
		field string
		dst   **string
	}{{"smtp_url", &up.SMTPURL}, {"sms_url", &up.SMSURL}} {
		v := strings.TrimSpace(f.Get(g.field))
		switch {
		case f.Get(g.field+"_remove") == "1":
			empty := ""
			*g.dst = &empty
		case v != "":
			*g.dst = &v
		}
	}
	_, err := u.Settings.Update(r.Context(), s.WorkspaceID, up, u.CheckGatewayURL)
	var ve *validate.Error
	if errors.As(err, &ve) {
		field := ve.Field
		if strings.HasPrefix(field, "imprint.") {
			field = "imprint_" + strings.TrimPrefix(field, "imprint.")
		}
		return u.settingsAgain(w, r, s, http.StatusUnprocessableEntity, field, ve.Message, "")
	}
	if err != nil {
		return err
	}
	u.Log.InfoContext(r.Context(), "workspace settings changed", "request_id", web.RequestID(r.Context()), "user_id", s.UserID)
	http.Redirect(w, r, "/admin/settings?saved=1", http.StatusSeeOther)
	return nil
}

// testMessage sends a test e-mail to the user's own address, or a test SMS
// to the number given, through the configured gateway. Without a gateway
// there is nothing to test: messages go to the dev outbox.
func (u *UI) testMessage(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	set, err := u.Settings.Effective(ctx, s.WorkspaceID)
	if err != nil {
		return err
	}
	_ = r.ParseForm()
	p := u.newPage(r, s, "settings", "settings_title")
	switch r.PostFormValue("channel") {
	case "sms":
		to := strings.TrimSpace(r.PostFormValue("test_phone"))
		if set.SMSURL == "" {
			return u.settingsAgain(w, r, s, http.StatusUnprocessableEntity, "test_phone", p.T("err_no_sms_gateway"), "")
		}
		if len(to) < 6 || strings.Trim(to, "+0123456789 ") != "" {
			return u.settingsAgain(w, r, s, http.StatusUnprocessableEntity, "test_phone", p.T("err_phone"), "")
		}
		if err := u.Capture.Delivery.SMS(ctx, set, s.WorkspaceID, "", to, p.T("test_sms_text")); err != nil {
			u.Log.WarnContext(ctx, "test SMS failed", "request_id", web.RequestID(ctx), "err", err)
			return u.settingsAgain(w, r, s, http.StatusBadGateway, "test_phone", p.T("err_test_failed"), "")
		}
	default:
		if set.SMTPURL == "" {
			return u.settingsAgain(w, r, s, http.StatusUnprocessableEntity, "test_mail", p.T("err_no_smtp"), "")
		}
		from := set.MailFrom
		if from == "" {
			return u.settingsAgain(w, r, s, http.StatusUnprocessableEntity, "mail_from", p.T("err_no_sender"), "")
		}
		raw := "From: " + from + "\r\nTo: " + s.Email + "\r\nSubject: fairlead test\r\nDate: " + u.Now().Format(time.RFC1123Z) +
			"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + p.T("test_mail_text") + "\r\n"
		if err := u.Capture.Delivery.Email(ctx, set, s.WorkspaceID, "", from, s.Email, "fairlead test", []byte(raw)); err != nil {
			u.Log.WarnContext(ctx, "test mail failed", "request_id", web.RequestID(ctx), "err", err)
			return u.settingsAgain(w, r, s, http.StatusBadGateway, "test_mail", p.T("err_test_failed"), "")
		}
	}
	return u.settingsAgain(w, r, s, http.StatusOK, "", "", p.T("test_sent"))
}

func (u *UI) createPurpose(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	_ = r.ParseForm()
	split := func(v string) []string {
		var out []string
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
		return out
	}
	_, err := u.Purposes.Create(ctx, s.WorkspaceID, consent.NewPurpose{Key: strings.TrimSpace(r.PostFormValue("key")), Kind: r.PostFormValue("kind"),
		DescriptionDE: strings.TrimSpace(r.PostFormValue("description_de")), DescriptionEN: strings.TrimSpace(r.PostFormValue("description_en")),
		DataCategories: split(r.PostFormValue("data_categories")), Channels: r.PostForm["channels"]})
	var ve *validate.Error
	if errors.As(err, &ve) || errors.Is(err, store.ErrConflict) {
		ps, lerr := u.Purposes.List(ctx, s.WorkspaceID)
		if lerr != nil {
			return lerr
		}
		p := u.newPage(r, s, "settings", "purposes_title")
		if ve != nil {
			p.Errors[ve.Field] = ve.Message
		} else {
			p.Errors["key"] = p.T("err_purpose_taken")
		}
		p.Data = ps
		return u.render(w, http.StatusUnprocessableEntity, "purposes", "", p)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/settings/purposes", http.StatusSeeOther)
	return nil
}

func (u *UI) usersAgain(w http.ResponseWriter, r *http.Request, s *Session, status int, field, msg, secret string) error {
	ctx := r.Context()
	us, err := u.Auth.Users(ctx, s.WorkspaceID)
	if err != nil {
		return err
	}
	ts, err := u.Auth.Tokens(ctx, s.WorkspaceID)
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "settings", "users_title")
	if field != "" {
		p.Errors[field] = msg
	}
	form := map[string]string{}
	for k := range r.PostForm {
		if k != "password" {
			form[k] = r.PostForm.Get(k)
		}
	}
	p.Data = map[string]any{"Users": us, "Tokens": ts, "Secret": secret, "Form": form, "Roles": auth.RoleNames()}
	return u.render(w, status, "users", "", p)
}

func (u *UI) createUser(w http.ResponseWriter, r *http.Request, s *Session) error {
	_ = r.ParseForm()
	_, err := u.Auth.CreateUser(r.Context(), s.WorkspaceID, auth.NewUser{Email: r.PostFormValue("email"), Name: r.PostFormValue("name"), Role: r.PostFormValue("role"), Password: r.PostFormValue("password")})
	var ve *validate.Error
	if errors.As(err, &ve) {
		return u.usersAgain(w, r, s, http.StatusUnprocessableEntity, "user."+ve.Field, ve.Message, "")
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/settings/users", http.StatusSeeOther)
	return nil
}

func (u *UI) updateUser(w http.ResponseWriter, r *http.Request, s *Session) error {
	_ = r.ParseForm()
	var up auth.UserUpdate
	if v := r.PostFormValue("role"); v != "" {
		up.Role = &v
	}
	if v := r.PostFormValue("disabled"); v != "" {
		d := v == "1"
		up.Disabled = &d
	}
	if r.PathValue("id") == s.UserID && ((up.Disabled != nil && *up.Disabled) || (up.Role != nil && *up.Role != string(auth.RoleAdmin))) {
		// The last admin could lock everybody out; nobody demotes themself here.
		return u.usersAgain(w, r, s, http.StatusUnprocessableEntity, "users", tr(langOf(r, s), "err_self_demote"), "")
	}
	_, err := u.Auth.UpdateUser(r.Context(), s.WorkspaceID, r.PathValue("id"), up)
	var ve *validate.Error
	if errors.As(err, &ve) {
		return u.usersAgain(w, r, s, http.StatusUnprocessableEntity, "users", ve.Message, "")
	}
	if err != nil {
		return err
	}
	if up.Disabled != nil && *up.Disabled {
		if err := u.Sessions.DeleteUser(r.Context(), s.WorkspaceID, r.PathValue("id")); err != nil {
			return err
		}
	}
	http.Redirect(w, r, "/admin/settings/users", http.StatusSeeOther)
	return nil
}

func (u *UI) createToken(w http.ResponseWriter, r *http.Request, s *Session) error {
	_ = r.ParseForm()
	_, secret, err := u.Auth.CreateToken(r.Context(), s.WorkspaceID, r.PostFormValue("token_name"), r.PostFormValue("token_role"))
	var ve *validate.Error
	if errors.As(err, &ve) {
		return u.usersAgain(w, r, s, http.StatusUnprocessableEntity, "token_"+ve.Field, ve.Message, "")
	}
	if err != nil {
		return err
	}
	return u.usersAgain(w, r, s, http.StatusOK, "", "", secret)
}

func (u *UI) revokeToken(w http.ResponseWriter, r *http.Request, s *Session) error {
	if err := u.Auth.RevokeToken(r.Context(), s.WorkspaceID, r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/settings/users", http.StatusSeeOther)
	return nil
}

// createNotice stores a new notice version (a notice is never changed: a
// new text is a new version with its own hash).
func (u *UI) createNotice(w http.ResponseWriter, r *http.Request, s *Session) error {
	ctx := r.Context()
	_ = r.ParseForm()
	_, _, err := u.Notices.Create(ctx, s.WorkspaceID, consent.Actor{UserID: s.UserID}.String(), consent.NewNotice{Kind: r.PostFormValue("kind"),
		Language: r.PostFormValue("language"), Title: strings.TrimSpace(r.PostFormValue("title")), Body: strings.TrimSpace(r.PostFormValue("body"))})
	var ve *validate.Error
	var ce *consent.ConflictError
	if errors.As(err, &ve) || errors.As(err, &ce) {
		ns, lerr := u.Notices.List(ctx, s.WorkspaceID, "")
		if lerr != nil {
			return lerr
		}
		p := u.newPage(r, s, "settings", "notices_title")
		if ve != nil {
			p.Errors["n_"+ve.Field] = ve.Message
		} else {
			p.Errors["n_"+ce.Field] = ce.Message
		}
		form := map[string]string{}
		for k := range r.PostForm {
			form[k] = r.PostForm.Get(k)
		}
		p.Data = map[string]any{"Notices": ns, "Form": form, "Kinds": consent.NoticeKinds}
		return u.render(w, http.StatusUnprocessableEntity, "notices", "", p)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/settings/notices", http.StatusSeeOther)
	return nil
}
