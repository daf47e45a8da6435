package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/web/api"
)

func apiRoutes(h *harness) []api.Route {
	return (&api.API{DB: h.db, Auth: auth.NewStore(h.db, nil), Jobs: h.queue}).Routes()
}

// TestRouteRoleMatrix walks every declared /api/v1 route with no token, a
// revoked token and every role, and checks 401/403/admitted against the
// route's declaration and the x-roles of the OpenAPI document. A route
// mounted outside the table, or without roles, fails here.
func TestRouteRoleMatrix(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			routes := apiRoutes(h)
			doc, _ := loadSpec(t)

			declared := map[string]bool{}
			for _, rt := range routes {
				declared[rt.Pattern()] = true
			}
			for _, p := range h.srv.Patterns() {
				if strings.Contains(p, "/api/v1/") && !declared[p] {
					t.Errorf("%s is mounted but not declared in the API route table", p)
				}
			}

			checkAdminMatrix(t, h)

			revoked := h.mustToken("admin")
			h.do("DELETE", "/api/v1/tokens/"+h.tokenID(revoked), h.tokens[auth.RoleAdmin], nil)

			for _, rt := range routes {
				if len(rt.Roles) == 0 {
					t.Errorf("%s declares no roles", rt.Pattern())
				}
				op := doc.Paths.Find(rt.Path)
				if op == nil || op.GetOperation(rt.Method) == nil {
					t.Errorf("%s is not in api/openapi.yaml", rt.Pattern())
				} else {
					var docRoles []string
					if xr, ok := op.GetOperation(rt.Method).Extensions["x-roles"].([]any); ok {
						for _, r := range xr {
							docRoles = append(docRoles, fmt.Sprint(r))
						}
					}
					var want []string
					for _, r := range rt.Roles {
						want = append(want, string(r))
					}
					sort.Strings(docRoles)
					sort.Strings(want)
					if !slices.Equal(docRoles, want) {
						t.Errorf("%s: x-roles %v in the OpenAPI document, %v declared", rt.Pattern(), docRoles, want)
					}
				}

				path := strings.ReplaceAll(rt.Path, "{id}", id.New())
				var body any
				if rt.Method == "POST" || rt.Method == "PATCH" || rt.Method == "PUT" {
					body = map[string]any{}
				}
				if r := h.do(rt.Method, path, "", body); r.Status != http.StatusUnauthorized {
					t.Errorf("%s without token: %d, want 401", rt.Pattern(), r.Status)
				}
				if r := h.do(rt.Method, path, "flt_not-a-real-token", body); r.Status != http.StatusUnauthorized {
					t.Errorf("%s with unknown token: %d, want 401", rt.Pattern(), r.Status)
				}
				if r := h.do(rt.Method, path, revoked, body); r.Status != http.StatusUnauthorized {
					t.Errorf("%s with revoked token: %d, want 401", rt.Pattern(), r.Status)
				}
				for _, role := range auth.Roles {
					r := h.do(rt.Method, path, h.tokens[role], body)
					admitted := rt.Admits(role)
					switch {
					case admitted && (r.Status == 401 || r.Status == 403 || r.Status >= 500):
						t.Errorf("%s as %s: %d, want the route to admit it: %s", rt.Pattern(), role, r.Status, r.Body)
					case !admitted && r.Status != http.StatusForbidden:
						t.Errorf("%s as %s: %d, want 403", rt.Pattern(), role, r.Status)
					}
				}
			}
		})
	}
}

func (h *harness) mustToken(role string) string {
	h.t.Helper()
	r := h.do("POST", "/api/v1/tokens", h.tokens[auth.RoleAdmin], map[string]any{"name": "tmp", "role": role})
	if r.Status != 201 {
		h.t.Fatalf("create token: %d %s", r.Status, r.Body)
	}
	return r.json(h.t)["secret"].(string)
}

func (h *harness) tokenID(secret string) string {
	h.t.Helper()
	p, err := auth.NewStore(h.db, nil).Authenticate(context.Background(), secret)
	if err != nil {
		h.t.Fatal(err)
	}
	return p.TokenID
}

type scenario struct {
	name       string
	method     string
	path       string
	role       auth.Role // "" = no token
	body       any
	header     []string
	wantStatus int
	want       []string // substrings of the body
	notWant    []string
}

// TestAPIScenarios runs the API end to end on both backends; every response
// is validated against the OpenAPI document by the harness.
func TestAPIScenarios(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			admin := auth.RoleAdmin
			u := h.do("POST", "/api/v1/users", h.tokens[admin], map[string]any{"email": "sales.rep@example.com", "name": "Sam", "role": "sales", "password": "twelve chars!"})
			if u.Status != 201 {
				t.Fatalf("create user: %d %s", u.Status, u.Body)
			}
			userID := u.json(t)["id"].(string)
			big := `{"name":"` + strings.Repeat("x", 2<<20) + `","role":"viewer"}`

			for _, sc := range []scenario{
				{name: "me", method: "GET", path: "/api/v1/me", role: auth.RoleViewer, wantStatus: 200, want: []string{`"slug":"demo"`, `"role":"viewer"`}},
				{name: "health", method: "GET", path: "/healthz", wantStatus: 200},
				{name: "ready", method: "GET", path: "/readyz", wantStatus: 200, want: []string{"ready"}},
				{name: "list users", method: "GET", path: "/api/v1/users", role: admin, wantStatus: 200, want: []string{"sales.rep@example.com", "admin@example.com"}, notWant: []string{"password", "argon2"}},
				{name: "get user", method: "GET", path: "/api/v1/users/" + userID, role: admin, wantStatus: 200, want: []string{`"role":"sales"`}},
				{name: "get user of unknown id", method: "GET", path: "/api/v1/users/" + id.New(), role: admin, wantStatus: 404, want: []string{"not_found"}},
				{name: "upper-case id is not found on either backend", method: "GET", path: "/api/v1/users/" + strings.ToUpper(userID), role: admin, wantStatus: 404},
				{name: "get user with malformed id", method: "GET", path: "/api/v1/users/1%20OR%201=1", role: admin, wantStatus: 404},
				{name: "promote user", method: "PATCH", path: "/api/v1/users/" + userID, role: admin, body: map[string]any{"role": "marketing"}, wantStatus: 200, want: []string{`"role":"marketing"`}},
				{name: "bad role names allowed values", method: "PATCH", path: "/api/v1/users/" + userID, role: admin, body: map[string]any{"role": "owner"}, wantStatus: 400, want: []string{`"field":"role"`, "admin, marketing, sales, dpo, viewer"}},
				{name: "duplicate user", method: "POST", path: "/api/v1/users", role: admin, body: map[string]any{"email": "SALES.REP@example.com", "role": "sales", "password": "twelve chars!"}, wantStatus: 400, want: []string{`"field":"email"`, "duplicate"}},
				{name: "short password", method: "POST", path: "/api/v1/users", role: admin, body: map[string]any{"email": "x@example.com", "role": "sales", "password": "short"}, wantStatus: 400, want: []string{`"field":"password"`}},
				{name: "bad email", method: "POST", path: "/api/v1/users", role: admin, body: map[string]any{"email": "Bob <bob@example.com>", "role": "sales", "password": "twelve chars!"}, wantStatus: 400, want: []string{`"field":"email"`}},
				{name: "malformed JSON", method: "POST", path: "/api/v1/tokens", role: admin, body: `{"name": "x",`, wantStatus: 400, want: []string{"invalid_json"}},
				{name: "unknown field", method: "POST", path: "/api/v1/tokens", role: admin, body: `{"name":"x","role":"viewer","scope":"all"}`, wantStatus: 400, want: []string{"unknown_field", `"field":"scope"`}},
				{name: "wrong type", method: "POST", path: "/api/v1/tokens", role: admin, body: `{"name":7,"role":"viewer"}`, wantStatus: 400, want: []string{"invalid_type", `"field":"name"`}},
				{name: "two JSON values", method: "POST", path: "/api/v1/tokens", role: admin, body: `{"name":"a","role":"viewer"}{}`, wantStatus: 400, want: []string{"invalid_json"}},
				{name: "empty body", method: "POST", path: "/api/v1/tokens", role: admin, body: ``, wantStatus: 400, want: []string{"invalid_json"}},
				{name: "oversize body", method: "POST", path: "/api/v1/tokens", role: admin, body: big, wantStatus: 413, want: []string{"body_too_large"}},
				{name: "wrong content type", method: "POST", path: "/api/v1/tokens", role: admin, body: `{"name":"a","role":"viewer"}`, header: []string{"Content-Type", "text/plain"}, wantStatus: 415, want: []string{"unsupported_media_type"}},
				{name: "missing token name", method: "POST", path: "/api/v1/tokens", role: admin, body: map[string]any{"role": "viewer"}, wantStatus: 400, want: []string{`"field":"name"`}},
				{name: "create token", method: "POST", path: "/api/v1/tokens", role: admin, body: map[string]any{"name": "crm sync", "role": "marketing"}, wantStatus: 201, want: []string{`"secret":"flt_`}},
				{name: "list tokens hides secrets", method: "GET", path: "/api/v1/tokens", role: admin, wantStatus: 200, want: []string{"crm sync"}, notWant: []string{"flt_", "token_hash"}},
				{name: "revoke unknown token", method: "DELETE", path: "/api/v1/tokens/" + id.New(), role: admin, wantStatus: 404},
				{name: "list dead jobs", method: "GET", path: "/api/v1/jobs?state=dead", role: auth.RoleDPO, wantStatus: 200, want: []string{`"jobs":[]`}},
				{name: "bad job state", method: "GET", path: "/api/v1/jobs?state=failed", role: admin, wantStatus: 400, want: []string{`"field":"state"`, "dead"}},
				{name: "bad limit", method: "GET", path: "/api/v1/jobs?limit=0", role: admin, wantStatus: 400, want: []string{`"field":"limit"`}},
				{name: "unknown job", method: "GET", path: "/api/v1/jobs/" + id.New(), role: admin, wantStatus: 404},
				{name: "decide one", method: "POST", path: "/api/v1/decide", role: auth.RoleViewer, body: `{"id":"q1","facts":{"as_of":"2026-11-24","audience":"b2c","relationship":"prospect"},"request":{"purpose":"direct_marketing","channel":"post"}}`, wantStatus: 200, want: []string{`"id":"q1"`, `"allowed":true`, `"postal_legitimate_interest"`, `"GDPR Art. 6(1)(f), Recital 47"`}},
				{name: "decide denies e-mail without consent", method: "POST", path: "/api/v1/decide", role: auth.RoleSales, body: `{"facts":{"as_of":"2026-11-24","audience":"b2c","relationship":"prospect"},"request":{"purpose":"direct_marketing","channel":"email"}}`, wantStatus: 200, want: []string{`"allowed":false`, `"reasons":["no_consent"]`}},
				{name: "decide unknown channel", method: "POST", path: "/api/v1/decide", role: auth.RoleViewer, body: `{"facts":{"as_of":"2026-11-24","audience":"b2c","relationship":"prospect"},"request":{"purpose":"direct_marketing","channel":"fax"}}`, wantStatus: 400, want: []string{"invalid_request", "email"}},
				{name: "decide missing as_of", method: "POST", path: "/api/v1/decide", role: auth.RoleViewer, body: `{"facts":{"audience":"b2c","relationship":"prospect"},"request":{"purpose":"direct_marketing","channel":"post"}}`, wantStatus: 400, want: []string{"invalid_facts", "as_of"}},
				{name: "decide array", method: "POST", path: "/api/v1/decide", role: auth.RoleMarketing, body: `[{"id":1,"facts":{"as_of":"2026-11-24","audience":"b2b","relationship":"supplier"},"request":{"purpose":"direct_marketing","channel":"post"}},{"id":2,"facts":{"as_of":"2026-11-24","audience":"martian","relationship":"prospect"},"request":{"purpose":"direct_marketing","channel":"post"}}]`, wantStatus: 200, want: []string{`"id":1`, `"supplier_notice_missing"`, `"id":2`, `"invalid_facts"`}},
				{name: "decide not JSON", method: "POST", path: "/api/v1/decide", role: auth.RoleViewer, body: `facts please`, wantStatus: 400, want: []string{"invalid_json"}},
				{name: "unknown API route", method: "GET", path: "/api/v1/nothing", role: admin, wantStatus: 404, want: []string{"not_found"}},
				{name: "wrong method", method: "DELETE", path: "/api/v1/me", role: admin, wantStatus: 405, want: []string{"method_not_allowed"}},
			} {
				t.Run(sc.name, func(t *testing.T) {
					tok := ""
					if sc.role != "" {
						tok = h.tokens[sc.role]
					}
					r := h.do(sc.method, sc.path, tok, sc.body, sc.header...)
					if r.Status != sc.wantStatus {
						t.Fatalf("status %d, want %d: %s", r.Status, sc.wantStatus, r.Body)
					}
					for _, w := range sc.want {
						if !strings.Contains(string(r.Body), w) {
							t.Errorf("body lacks %q: %s", w, r.Body)
						}
					}
					for _, w := range sc.notWant {
						if strings.Contains(string(r.Body), w) {
							t.Errorf("body contains %q: %s", w, r.Body)
						}
					}
					if r.Header.Get("X-Request-ID") == "" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
						t.Errorf("missing request ID or security headers: %v", r.Header)
					}
				})
			}

			// A bad request changes nothing: no token named "x" or "a" exists.
			var n int
			if err := h.db.R.QueryRow(`SELECT count(*) FROM api_tokens WHERE name IN ('x', 'a')`).Scan(&n); err != nil || n != 0 {
				t.Errorf("rejected requests wrote %d tokens (err %v)", n, err)
			}
			// The token created through the API works, and revoking it ends it.
			r := h.do("POST", "/api/v1/tokens", h.tokens[admin], map[string]any{"name": "short-lived", "role": "viewer"})
			secret := r.json(t)["secret"].(string)
			if r := h.do("GET", "/api/v1/me", secret, nil); r.Status != 200 {
				t.Fatalf("new token: %d", r.Status)
			}
			if r := h.do("DELETE", "/api/v1/tokens/"+r.json(t)["id"].(string), h.tokens[admin], nil); r.Status != 204 {
				t.Fatalf("revoke: %d %s", r.Status, r.Body)
			}
			if r := h.do("GET", "/api/v1/me", secret, nil); r.Status != 401 {
				t.Fatalf("revoked token: %d", r.Status)
			}
		})
	}
}

// TestOpenAPIDocumentIsServedAndCovered checks the served document, and
// that every documented operation answers as documented when called.
func TestOpenAPIDocumentIsServedAndCovered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	r := h.do("GET", "/api/openapi.yaml", "", nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), "openapi: 3.1") {
		t.Fatalf("served document: %d", r.Status)
	}
	seen := map[string]bool{}
	call := func(method, path, tmpl string, body any) {
		h.do(method, path, h.tokens[auth.RoleAdmin], body)
		seen[method+" "+tmpl] = true
	}
	call("GET", "/healthz", "/healthz", nil)
	call("GET", "/readyz", "/readyz", nil)
	seen["GET /api/openapi.yaml"] = true
	for _, rt := range apiRoutes(h) {
		var body any
		if rt.Method == "POST" || rt.Method == "PATCH" {
			body = map[string]any{}
		}
		call(rt.Method, strings.ReplaceAll(rt.Path, "{id}", id.New()), rt.Path, body)
	}
	doc, _ := loadSpec(t)
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !seen[method+" "+path] {
				t.Errorf("%s %s is documented but not served", method, path)
			}
		}
	}
}

// TestMetricsExposeRequestsJobsAndPool checks /metrics carries the figures
// operators alert on, and no personal data from requests.
func TestMetricsExposeRequestsJobsAndPool(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	h.do("GET", "/api/v1/contacts?email=secret.person%40example.com", h.tokens[auth.RoleAdmin], nil)
	for _, m := range []string{"ZZ0", "ZZ1"} {
		h.do(m, "/api/v1/me", "", nil)
	}
	res, err := http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	body := string(b)
	for _, want := range []string{
		`fairlead_http_requests_total{code="200",method="GET",route="GET /api/v1/contacts"}`,
		`fairlead_http_request_duration_seconds_bucket{route="GET /api/v1/contacts"`,
		`fairlead_jobs_processed_total{outcome="completed"}`,
		`fairlead_db_open_connections`,
		`fairlead_db_in_use_connections`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "ZZ0") || !strings.Contains(body, `method="OTHER"`) {
		t.Error("client-chosen methods must not become metric labels")
	}
	if strings.Contains(body, "secret.person") || strings.Contains(body, "example.com") {
		t.Error("/metrics carries request data")
	}
}
