package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	fairleadapi "github.com/fairlead/fairlead/api"
	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/web"
	"github.com/fairlead/fairlead/internal/workspace"
)

// testMasterKey is the master key of every test instance. fairlead
// processes started by tests inherit it through the environment, since on
// PostgreSQL the key must be configured.
const testMasterKey = "dGVzdCBtYXN0ZXIga2V5IC0gMzIgYnl0ZXMgbG9uZyE="

func TestMain(m *testing.M) {
	os.Setenv("FAIRLEAD_MASTER_KEY", testMasterKey)
	testdb.Main(m)
}

var (
	specOnce   sync.Once
	spec       *openapi3.T
	specRouter routers.Router
	specErr    error
)

func loadSpec(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	specOnce.Do(func() {
		l := openapi3.NewLoader()
		spec, specErr = l.LoadFromData(fairleadapi.OpenAPI)
		if specErr != nil {
			return
		}
		if specErr = spec.Validate(context.Background()); specErr != nil {
			return
		}
		spec.Servers = nil // match any host (httptest picks a port)
		// NDJSON streams are checked line by line by the tests themselves.
		openapi3filter.RegisterBodyDecoder("application/x-ndjson", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(r)
			return string(b), err
		})
		// Pages (the access export as HTML) are checked by the tests themselves.
		openapi3filter.RegisterBodyDecoder("text/html", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(r)
			return string(b), err
		})
		specRouter, specErr = gorillamux.NewRouter(spec)
	})
	if specErr != nil {
		t.Fatalf("OpenAPI document: %v", specErr)
	}
	return spec, specRouter
}

// harness is one fairlead instance on a real database, served over real
// HTTP on loopback, with a token per role in workspace "demo" and another
// workspace "other" for isolation tests.
type harness struct {
	t          *testing.T
	db         *store.DB
	srv        *web.Server
	queue      *jobs.Queue
	url        string
	ws         workspace.Workspace
	other      workspace.Workspace
	tokens     map[auth.Role]string
	otherAdmin string
	cfg        config.Config
	log        *slog.Logger
}

// seedDemo gives the demo workspace its demo form, notices and imprint.
func (h *harness) seedDemo() {
	h.t.Helper()
	if err := seedDemoWith(context.Background(), h.db, h.cfg, h.log); err != nil {
		h.t.Fatal(err)
	}
}

func newHarness(t *testing.T, d store.Dialect) *harness {
	t.Helper()
	return newHarnessWith(t, d, nil, jobs.Options{})
}

// newHarnessWith lets a test change the configuration and the job queue's
// options before wiring.
func newHarnessWith(t *testing.T, d store.Dialect, configure func(*config.Config), qo jobs.Options) *harness {
	t.Helper()
	ctx := context.Background()
	db := testdb.Open(t, d)
	cfg, err := config.Load(func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AdminPassword = "test admin password"
	cfg.Workers = 0
	cfg.MasterKey = testMasterKey
	if err := bootstrap(ctx, db, cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The server listens first so the links in messages can name its address.
	ts := httptest.NewUnstartedServer(nil)
	ts.Start()
	t.Cleanup(ts.Close)
	cfg.PublicURL = ts.URL
	cfg.FormRateLimit = 0
	if configure != nil {
		configure(&cfg)
	}
	qo.Node = "test"
	srv, queue := newInstanceOpts(db, cfg, log, qo)
	ts.Config.Handler = srv.Handler()
	h := &harness{t: t, db: db, srv: srv, queue: queue, url: ts.URL, cfg: cfg, log: log, tokens: map[auth.Role]string{}}
	h.ws, err = workspace.BySlug(ctx, db.R, "demo")
	if err != nil {
		t.Fatal(err)
	}
	as := auth.NewStore(db, nil)
	for _, r := range auth.Roles {
		_, secret, err := as.CreateToken(ctx, h.ws.ID, "test-"+string(r), string(r))
		if err != nil {
			t.Fatal(err)
		}
		h.tokens[r] = secret
	}
	h.other, err = workspace.Create(ctx, db.W, "other", "Other", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, h.otherAdmin, err = as.CreateToken(ctx, h.other.ID, "other-admin", "admin")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// do sends a request and checks the response against the OpenAPI document
// (every documented route; undocumented paths must answer 404/405 in the
// house error shape).
func (h *harness) do(method, path, token string, body any, header ...string) response {
	h.t.Helper()
	var rd io.Reader
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		raw, _ = json.Marshal(b)
	}
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	r := response{Status: res.StatusCode, Header: res.Header, Body: out}
	h.checkSpec(req, raw, r)
	return r
}

func (h *harness) checkSpec(req *http.Request, reqBody []byte, r response) {
	h.t.Helper()
	_, router := loadSpec(h.t)
	route, params, err := router.FindRoute(req)
	if err != nil {
		// Not a documented operation: it must be an error in the house shape.
		if r.Status != 404 && r.Status != 405 {
			h.t.Errorf("%s %s is not in the OpenAPI document but answered %d", req.Method, req.URL.Path, r.Status)
		}
		checkErrorShape(h.t, r)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}}
	if reqBody != nil {
		in.Request = req.Clone(context.Background())
		in.Request.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	rv := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: r.Status, Header: r.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	rv.SetBodyBytes(r.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), rv); err != nil {
		h.t.Errorf("%s %s -> %d does not match the OpenAPI document: %v\nbody: %s", req.Method, req.URL.Path, r.Status, err, r.Body)
	}
	if r.Status >= 400 {
		checkErrorShape(h.t, r)
	}
}

func checkErrorShape(t *testing.T, r response) {
	t.Helper()
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("status %d without the house error shape: %s", r.Status, r.Body)
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("error with content type %q", r.Header.Get("Content-Type"))
	}
}
