package admin

import (
	"net/http"
	"strings"
)

func (u *UI) settingsPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	set, err := u.Settings.Effective(r.Context(), s.WorkspaceID)
	if err != nil {
		return err
	}
	p := u.newPage(r, s, "settings", "settings_title")
	p.Data = map[string]any{"S": set.Settings, "SMTP": set.SMTPURL != "", "SMS": set.SMSURL != "", "PublicURL": set.PublicURL, "MailFrom": set.MailFrom}
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
	data := map[string]any{"Notices": ns}
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
	p.Data = map[string]any{"Users": us, "Tokens": ts}
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
