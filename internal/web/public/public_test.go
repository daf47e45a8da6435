package public

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/web"
)

type fakeNotices map[string]consent.Notice

func (f fakeNotices) Published(_ context.Context, hash string) (consent.Notice, error) {
	n, ok := f[hash]
	if !ok {
		return consent.Notice{}, store.ErrNotFound
	}
	return n, nil
}

func TestNoticePage(t *testing.T) {
	t.Parallel()
	de := consent.Notice{Hash: strings.Repeat("a", 64), Kind: "privacy_notice", Language: "de", Title: "Datenschutz <script>", Body: "Erster Absatz\nzweite Zeile\n\n<img src=x onerror=alert(1)>", CreatedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	en := consent.Notice{Hash: strings.Repeat("b", 64), Kind: "consent_text", Language: "en", Title: "Newsletter", Body: "Yes, please.", CreatedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	srv := web.NewServer(web.Options{})
	(&Pages{Notices: fakeNotices{de.Hash: de, en.Hash: en}}).Mount(srv)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	get := func(path string) (int, string) {
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := get("/p/notices/" + de.Hash)
	if code != 200 || strings.Contains(body, "<script>") || strings.Contains(body, "<img") || !strings.Contains(body, "&lt;img") ||
		!strings.Contains(body, "Erster Absatz<br>zweite Zeile") || !strings.Contains(body, "Stand") || !strings.Contains(body, "01.03.2026") || !strings.Contains(body, de.Hash) {
		t.Fatalf("German page %d:\n%s", code, body)
	}
	code, body = get("/p/notices/" + en.Hash)
	if code != 200 || !strings.Contains(body, `lang="en"`) || !strings.Contains(body, "Version") || !strings.Contains(body, "1 March 2026") {
		t.Fatalf("English page %d:\n%s", code, body)
	}
	for _, p := range []string{"/p/notices/" + strings.Repeat("c", 64), "/p/notices/not-a-hash"} {
		if code, body := get(p); code != 404 || !strings.Contains(body, "Seite nicht gefunden") {
			t.Fatalf("%s: %d %s", p, code, body)
		}
	}
}
