package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/web/public"
)

// trackTables are every table the tracking branches write.
var trackTables = []string{"track_events", "track_pseudonymous", "track_counts", "track_period_keys", "track_settings"}

// dumpTrack renders every row of the tracking tables of all workspaces as
// text, so a test can grep them for an identifier that must not be there.
func (h *harness) dumpTrack() string {
	h.t.Helper()
	qs := make([]string, len(trackTables))
	for i, t := range trackTables {
		qs[i] = `SELECT * FROM ` + t
	}
	return strings.Join(testdb.Rows(h.t, h.db, nil, qs...), "\n")
}

// eachBackend runs fn on SQLite and on PostgreSQL, each with its own
// harness database.
func eachBackend(t *testing.T, fn func(t *testing.T, d store.Dialect)) {
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, d)
		})
	}
}

func (h *harness) must(r response, status int) response {
	h.t.Helper()
	if r.Status != status {
		h.t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	return r
}

// trackingContact makes a contact; with consent, it consents to web_tracking.
func (h *harness) trackingContact(email string, consented bool) string {
	h.t.Helper()
	mkt := h.tokens[auth.RoleMarketing]
	cid := h.must(h.do("POST", "/api/v1/contacts", mkt, map[string]any{"email": email, "audience": "b2c", "relationship": "prospect"}), 201).json(h.t)["id"].(string)
	if consented {
		text := "Ja, meine Nutzung der Website darf mit meinem Kontakt verknüpft werden."
		nr := h.do("POST", "/api/v1/notices", mkt, map[string]any{"kind": "consent_text", "language": "de", "title": "Website-Analyse", "body": text})
		if nr.Status != 201 && nr.Status != 200 { // 200: the same text again
			h.t.Fatalf("notice: %d %s", nr.Status, nr.Body)
		}
		notice := nr.json(h.t)
		h.must(h.do("POST", "/api/v1/contacts/"+cid+"/ledger", mkt, map[string]any{"kind": "consent_requested", "purpose": "web_tracking", "channels": []string{"web"},
			"evidence": map[string]any{"source": "cmp:banner", "notice_hash": notice["id"], "text_shown": text}}), 201)
		h.must(h.do("POST", "/api/v1/contacts/"+cid+"/ledger", mkt, map[string]any{"kind": "consent_confirmed", "purpose": "web_tracking", "channels": []string{"web"},
			"evidence": map[string]any{"source": "cmp:banner", "confirmation_method": "banner_click"}}), 201)
	}
	return cid
}

// postT sends a batch to /p/t like the script does.
func (h *harness) postT(body any, header ...string) (int, map[string]any) {
	h.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", h.url+"/p/t", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("User-Agent", "TrackTest/1.0 (unique-agent-string)")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &m)
	return res.StatusCode, m
}

func TestTrackingBranchesFromStoredRows(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		mkt, dpo := h.tokens[auth.RoleMarketing], h.tokens[auth.RoleDPO]
		yes := h.trackingContact("yes@example.com", true)
		no := h.trackingContact("no@example.com", false)

		// a. Consented: a visitor token, and the script's events land
		// identified.
		if r := h.do("POST", "/api/v1/tracking/visitor-tokens", mkt, map[string]any{"contact_id": no}); r.Status != 400 || !strings.Contains(string(r.Body), "no_tracking_consent") {
			t.Fatalf("token without consent: %d %s", r.Status, r.Body)
		}
		tok := h.must(h.do("POST", "/api/v1/tracking/visitor-tokens", mkt, map[string]any{"contact_id": yes}), 201).json(t)["token"].(string)
		st, m := h.postT(map[string]any{"v": tok, "e": []map[string]any{{"type": "page_view", "name": "/pricing"}, {"type": "download", "name": "whitepaper-2026"}}})
		if st != 200 || m["identified"] != true {
			t.Fatalf("/p/t with token: %d %v", st, m)
		}
		var n int
		if err := h.db.R.QueryRow(`SELECT count(*) FROM track_events WHERE workspace_id = $1 AND contact_id = $2`, h.ws.ID, yes).Scan(&n); err != nil || n != 2 {
			t.Fatalf("identified rows of the consented contact: %d %v", n, err)
		}
		// The script's events are collected through the device: a person
		// without consent is not identified, and since device access needs
		// consent, nothing at all is kept (TDDDG §25).
		st, m = h.postT(map[string]any{"w": "demo", "e": []map[string]any{{"type": "page_view", "name": "/"}}})
		if st != 200 || m["identified"] != false {
			t.Fatalf("/p/t without token: %d %v", st, m)
		}
		if c := h.count("track_counts") + h.count("track_pseudonymous"); c != 0 {
			t.Fatalf("device-collected events without consent were kept: %d rows", c)
		}

		// b. Not consented, server-side (no device access): only a count.
		ip, ua := "198.51.100.77", "Mozilla/5.0 (unique-test-agent)"
		out := h.must(h.do("POST", "/api/v1/events", mkt, map[string]any{"events": []map[string]any{
			{"contact_id": no, "type": "page_view", "name": "/features", "visitor": map[string]any{"ip": ip, "user_agent": ua}},
			{"contact_id": no, "type": "page_view", "name": "/features", "visitor": map[string]any{"ip": ip, "user_agent": ua}},
		}}), 200).json(t)
		if out["anonymous"] != 2.0 || out["identified"] != 0.0 || out["pseudonymous"] != 0.0 {
			t.Fatalf("unconsented events: %v", out)
		}
		var cnt int
		if err := h.db.R.QueryRow(`SELECT count FROM track_counts WHERE workspace_id = $1 AND type = 'page_view' AND name = '/features'`, h.ws.ID).Scan(&cnt); err != nil || cnt != 2 {
			t.Fatalf("aggregate: %d %v", cnt, err)
		}
		dump := h.dumpTrack()
		for _, s := range []string{no, ip, ua, "unique-test-agent", "no@example.com"} {
			if strings.Contains(dump, s) {
				t.Fatalf("the tracking tables hold %q:\n%s", s, dump)
			}
		}

		// c. Pseudonymous, once the workspace enables it.
		if r := h.do("PATCH", "/api/v1/tracking/settings", mkt, map[string]any{"pseudonymous_analytics": true}); r.Status != 403 {
			t.Fatalf("marketing changed the setting: %d", r.Status)
		}
		if r := h.do("PATCH", "/api/v1/tracking/settings", dpo, map[string]any{"rotation_days": 0}); r.Status != 400 || !strings.Contains(string(r.Body), `"field":"rotation_days"`) {
			t.Fatalf("bad rotation: %d %s", r.Status, r.Body)
		}
		set := h.must(h.do("PATCH", "/api/v1/tracking/settings", dpo, map[string]any{"pseudonymous_analytics": true, "rotation_days": 14}), 200).json(t)
		if set["pseudonymous_analytics"] != true || set["rotation_days"] != 14.0 {
			t.Fatalf("settings: %v", set)
		}
		if got := h.must(h.do("GET", "/api/v1/tracking/settings", mkt, nil), 200).json(t); got["rotation_days"] != 14.0 {
			t.Fatalf("read settings: %v", got)
		}
		visitor := map[string]any{"ip": ip, "user_agent": ua}
		other := map[string]any{"ip": "198.51.100.78", "user_agent": ua}
		out = h.must(h.do("POST", "/api/v1/events", mkt, map[string]any{"events": []map[string]any{
			{"type": "page_view", "name": "/a", "visitor": visitor},
			{"type": "page_view", "name": "/b", "visitor": visitor},
			{"contact_id": no, "type": "download", "name": "x", "visitor": other},
		}}), 200).json(t)
		if out["pseudonymous"] != 3.0 {
			t.Fatalf("pseudonymous: %v", out)
		}
		var pseudonyms int
		if err := h.db.R.QueryRow(`SELECT count(DISTINCT pseudonym) FROM track_pseudonymous WHERE workspace_id = $1`, h.ws.ID).Scan(&pseudonyms); err != nil || pseudonyms != 2 {
			t.Fatalf("distinct pseudonyms: %d %v", pseudonyms, err)
		}
		dump = h.dumpTrack()
		for _, s := range []string{no, ip, "198.51.100.78", ua, "unique-test-agent"} {
			if strings.Contains(dump, s) {
				t.Fatalf("the tracking tables hold %q:\n%s", s, dump)
			}
		}

		// d. GPC: the history of that visitor goes, and nothing new comes.
		out = h.must(h.do("POST", "/api/v1/events", mkt, map[string]any{"type": "page_view", "name": "/c", "visitor": visitor, "gpc": true}), 200).json(t)
		if out["forgotten"] != 2.0 || out["pseudonymous"] != 0.0 {
			t.Fatalf("gpc: %v", out)
		}
		if c := h.count("track_pseudonymous"); c != 1 {
			t.Fatalf("after GPC %d pseudonymous rows, want only the other visitor's", c)
		}
		// An objection in the ledger: the contact's pseudonymous events
		// stop, the history its request leads to goes, and its identified
		// events are deleted in the same transaction.
		h.must(h.do("POST", "/api/v1/contacts/"+no+"/ledger", dpo, map[string]any{"kind": "objection", "objection_type": "analytics"}), 201)
		out = h.must(h.do("POST", "/api/v1/events", mkt, map[string]any{"contact_id": no, "type": "page_view", "name": "/d", "visitor": other}), 200).json(t)
		if out["pseudonymous"] != 0.0 || out["forgotten"] != 1.0 {
			t.Fatalf("after objection: %v", out)
		}
		if c := h.count("track_pseudonymous"); c != 0 {
			t.Fatalf("after the objection %d pseudonymous rows", c)
		}
		h.must(h.do("POST", "/api/v1/contacts/"+yes+"/ledger", dpo, map[string]any{"kind": "objection", "objection_type": "analytics"}), 201)
		if c := h.count("track_events"); c != 0 {
			t.Fatalf("identified events after the objection: %d", c)
		}
		// The script's objection beacon with Sec-GPC deletes too.
		h.must(h.do("POST", "/api/v1/events", mkt, map[string]any{"type": "page_view", "name": "/e", "visitor": map[string]any{"ip": "127.0.0.1", "user_agent": "TrackTest/1.0 (unique-agent-string)"}}), 200)
		if c := h.count("track_pseudonymous"); c != 1 {
			t.Fatalf("loopback visitor: %d rows", c)
		}
		if st, _ := h.postT(map[string]any{"w": "demo"}, "Sec-GPC", "1"); st != 200 {
			t.Fatalf("gpc beacon: %d", st)
		}
		if c := h.count("track_pseudonymous"); c != 0 {
			t.Fatalf("after the GPC beacon: %d rows", c)
		}

		// Turning the branch off deletes its key and history.
		h.must(h.do("PATCH", "/api/v1/tracking/settings", dpo, map[string]any{"pseudonymous_analytics": false}), 200)
		if c := h.count("track_period_keys"); c != 0 {
			t.Fatalf("period key kept after turning off: %d", c)
		}

		// Bad input names the field and stores nothing.
		before := h.dumpTrack()
		r := h.do("POST", "/api/v1/events", mkt, map[string]any{"events": []map[string]any{{"type": "page_view", "name": "/ok"}, {"type": "click"}}})
		if r.Status != 400 || !strings.Contains(string(r.Body), `"field":"events[1].type"`) || !strings.Contains(string(r.Body), "page_view") {
			t.Fatalf("bad type: %d %s", r.Status, r.Body)
		}
		if r := h.do("POST", "/api/v1/events", mkt, map[string]any{"contact_id": "6b0c8d8e-0000-4000-8000-000000000000", "type": "page_view"}); r.Status != 400 || !strings.Contains(string(r.Body), "events[0].contact_id") {
			t.Fatalf("unknown contact: %d %s", r.Status, r.Body)
		}
		if after := h.dumpTrack(); after != before {
			t.Fatalf("a refused batch changed the tables:\n%s\n---\n%s", before, after)
		}
		// The other workspace sees none of it.
		if r := h.must(h.do("GET", "/api/v1/analytics", h.otherAdmin, nil), 200).json(t); len(r["events"].([]any)) != 0 {
			t.Fatalf("other workspace's analytics: %v", r)
		}
	})
}

func TestTrackingErasureDeletesIdentifiedEvents(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		mkt := h.tokens[auth.RoleMarketing]
		cid := h.trackingContact("erase-me@example.com", true)
		keep := h.trackingContact("keep-me@example.com", true)
		for _, c := range []string{cid, keep} {
			out := h.must(h.do("POST", "/api/v1/events", mkt, map[string]any{"events": []map[string]any{
				{"contact_id": c, "type": "page_view", "name": "/"}, {"contact_id": c, "type": "form_submit", "name": "contact"}}}), 200).json(t)
			if out["identified"] != 2.0 {
				t.Fatalf("identified: %v", out)
			}
		}
		res := h.must(h.do("POST", "/api/v1/contacts/"+cid+"/erase", h.tokens[auth.RoleDPO], map[string]any{}), 200).json(t)
		if del := res["deleted"].(map[string]any); del["track_events"] != 2.0 {
			t.Fatalf("erasure result: %v", res)
		}
		var n int
		if err := h.db.R.QueryRow(`SELECT count(*) FROM track_events WHERE contact_id = $1`, cid).Scan(&n); err != nil || n != 0 {
			t.Fatalf("erased contact's events: %d %v", n, err)
		}
		if c := h.count("track_events"); c != 2 {
			t.Fatalf("the other contact's events: %d", c)
		}
	})
}

// TestTrackScriptStoresNothingBeforeConsent is a static check of the served
// script (no browser runs it): no cookie at all, the one storage write sits
// in the answer to a request the server identified, and the code that runs
// on load touches storage only through consent().
func TestTrackScriptStoresNothingBeforeConsent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	res, err := http.Get(h.url + "/p/t.js")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	js := string(b)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") || js != string(public.TrackScript()) {
		t.Fatalf("script: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if len(b) >= 3<<10 {
		t.Fatalf("script is %d bytes, want < 3 KB", len(b))
	}
	for _, banned := range []string{"cookie", "sessionStorage", "indexedDB", "caches.", "import ", "require("} {
		if strings.Contains(js, banned) {
			t.Errorf("script contains %q", banned)
		}
	}
	if strings.Count(js, "localStorage") != 1 || !strings.Contains(js, "function ls(f) { try { return f(w.localStorage)") {
		t.Error("localStorage is used outside the one guarded helper")
	}
	if strings.Count(js, "setItem(") != 1 || !strings.Contains(js, "if (j && j.identified) { ls(function (l) { l.setItem(K, tok); }); }") {
		t.Error("the only storage write must follow the server's identified answer")
	}
	if !strings.Contains(js, "if (gpc || !ok || !tok || !q.length) return;") {
		t.Error("flush must send nothing before consent, without a token, or under GPC")
	}
	// What runs on load (after the API object) reads storage only through
	// consent(), which the page calls when its consent tool has consent.
	onLoad := js[strings.Index(js, "w.fairlead = {"):]
	onLoad = onLoad[strings.Index(onLoad, "};")+2:]
	if strings.Contains(onLoad, "ls(") {
		t.Errorf("code run on load touches storage directly:\n%s", onLoad)
	}
	if !strings.Contains(onLoad, "if (s.getAttribute('data-consent') === 'tracking' || m) consent();") {
		t.Error("consent() must be reached on load only with the page's consent attribute or a link token")
	}

	// The noscript pixel answers with the image whatever the input.
	res, err = http.Get(h.url + "/p/t?w=demo&n=%2F")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/gif" || !bytes.HasPrefix(b, []byte("GIF89a")) {
		t.Fatalf("pixel: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res.Header.Get("Set-Cookie") != "" {
		t.Fatal("the pixel sets a cookie")
	}
}

func TestAnalyticsReport(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		h.seedDemo()
		mkt := h.tokens[auth.RoleMarketing]
		cid := h.trackingContact("a@example.com", true)
		h.must(h.do("POST", "/api/v1/events", mkt, map[string]any{"events": []map[string]any{
			{"contact_id": cid, "type": "page_view", "name": "/"},
			{"type": "page_view", "name": "/"},
			{"type": "download", "name": "w"},
		}}), 200)
		h.must(h.do("POST", "/api/v1/contacts/"+cid+"/ledger", h.tokens[auth.RoleDPO], map[string]any{"kind": "consent_withdrawn", "purpose": "web_tracking", "channels": []string{"web"}}), 201)
		if c := h.count("track_events"); c != 0 {
			t.Fatalf("identified events after the withdrawal: %d", c)
		}
		// A sign-up through the demo form: a double opt-in request.
		if p := h.page("POST", "/p/forms/demo-newsletter", map[string][]string{"email": {"b@example.com"}, "newsletter_email": {"1"}}); p.Status != 303 {
			t.Fatalf("demo sign-up answered %d", p.Status)
		}
		r := h.must(h.do("GET", "/api/v1/analytics?bucket=week", h.tokens[auth.RoleViewer], nil), 200).json(t)
		// The funnel comes from the lead lifecycle: one point per week.
		if f, ok := r["funnel"].([]any); !ok || len(f) == 0 || f[0].(map[string]any)["in_stage"] == nil {
			t.Fatalf("funnel: %v", r["funnel"])
		}
		w := r["withdrawals"].(map[string]any)
		// One withdrawal of two consents requested (tracking, newsletter).
		if w["count"] != 1.0 || w["of"] != 2.0 || w["rate"] != 0.5 {
			t.Fatalf("withdrawals: %v", w)
		}
		if doi := r["double_opt_in"].(map[string]any); doi["count"] != 0.0 || doi["of"] != 1.0 || doi["rate"] != 0.0 {
			t.Fatalf("double opt-in: %v", doi)
		}
		if by := r["sources"].(map[string]any)["by_source"].(map[string]any); by["form:demo-newsletter"] != 1.0 {
			t.Fatalf("by source: %v", r["sources"])
		}
		src := r["sources"].(map[string]any)["by_data_source"].(map[string]any)
		if src["self_provided"] == nil {
			t.Fatalf("sources: %v", r["sources"])
		}
		events := map[string]float64{}
		for _, e := range r["events"].([]any) {
			e := e.(map[string]any)
			events[e["type"].(string)+"/anonymous"] += e["anonymous"].(float64)
		}
		if events["page_view/anonymous"] != 1 || events["download/anonymous"] != 1 {
			t.Fatalf("events: %v", r["events"])
		}
		for _, bad := range []string{"bucket=year", "from=yesterday", "from=2026-02-01&to=2026-01-01"} {
			if r := h.do("GET", "/api/v1/analytics?"+bad, mkt, nil); r.Status != 400 {
				t.Fatalf("%s: %d", bad, r.Status)
			}
		}
	})
}

// TestTrackingConcurrentRequestsKeepTheirOwnAnswer: /p/t joins concurrent
// requests into shared batches; each still gets the answer for its own
// events, and a withdrawn consent stops identification in a shared batch.
func TestTrackingConcurrentRequestsKeepTheirOwnAnswer(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		mkt := h.tokens[auth.RoleMarketing]
		keep := h.trackingContact("keep@example.com", true)
		gone := h.trackingContact("gone@example.com", true)
		tokens := map[string]string{}
		for _, c := range []string{keep, gone} {
			tokens[c] = h.must(h.do("POST", "/api/v1/tracking/visitor-tokens", mkt, map[string]any{"contact_id": c}), 201).json(t)["token"].(string)
		}
		h.must(h.do("POST", "/api/v1/contacts/"+gone+"/ledger", mkt, map[string]any{"kind": "consent_withdrawn", "purpose": "web_tracking", "channels": []string{"web"}}), 201)
		const n = 40
		answers := make([]any, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := keep
				if i%2 == 1 {
					c = gone
				}
				raw, _ := json.Marshal(map[string]any{"v": tokens[c], "e": []map[string]any{{"type": "page_view", "name": "/x"}}})
				res, err := http.Post(h.url+"/p/t", "text/plain", bytes.NewReader(raw))
				if err != nil {
					t.Error(err)
					return
				}
				defer res.Body.Close()
				var m map[string]any
				_ = json.NewDecoder(res.Body).Decode(&m)
				answers[i] = m["identified"]
			}()
		}
		wg.Wait()
		for i, a := range answers {
			if want := i%2 == 0; a != want {
				t.Fatalf("request %d answered identified=%v, want %v", i, a, want)
			}
		}
		var k, g int
		h.db.R.QueryRow(`SELECT count(*) FROM track_events WHERE contact_id = $1`, keep).Scan(&k)
		h.db.R.QueryRow(`SELECT count(*) FROM track_events WHERE contact_id = $1`, gone).Scan(&g)
		if k != n/2 || g != 0 {
			t.Fatalf("identified rows: %d of the consented contact (want %d), %d of the withdrawn one", k, n/2, g)
		}
	})
}

// TestBenchEventsChecksWhatItStored runs the events benchmark small, on
// SQLite, with both branches of the contactless half: it fails unless the
// stored rows match what it sent.
func TestBenchEventsChecksWhatItStored(t *testing.T) {
	t.Parallel()
	for _, extra := range [][]string{nil, {"--pseudonymous"}} {
		var out bytes.Buffer
		args := append([]string{"bench", "events", "--events", "450", "--batch", "100", "--single", "30", "--contacts", "5", "--concurrency", "3", "--dir", t.TempDir()}, extra...)
		err := RunEnv(context.Background(), args, Env{Stdout: &out, Stderr: io.Discard, Getenv: func(string) string { return "" }})
		if err != nil || !strings.Contains(out.String(), "check OK") {
			t.Fatalf("bench events %v: %v\n%s", extra, err, out.String())
		}
	}
}

// eachDemo runs fn on SQLite and on PostgreSQL, each with its own harness
// holding the demo workspace.
func eachDemo(t *testing.T, fn func(t *testing.T, h *harness)) {
	eachBackend(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		h.seedDemo()
		fn(t, h)
	})
}
