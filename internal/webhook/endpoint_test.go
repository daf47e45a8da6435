package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/webhook"
)

func fieldOf(t *testing.T, err error) *validate.Error {
	t.Helper()
	var ve *validate.Error
	if !errors.As(err, &ve) {
		t.Fatalf("want a validation error, got %v", err)
	}
	return ve
}

// Endpoints: the secret is shown once and stored only sealed, bad input
// names its field and changes nothing, rotation replaces the secret.
func TestEndpointLifecycle(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws := newWorkspace(t, db)
		svc := webhook.New(db, newKeys(t, db), webhook.Options{Logger: quiet})
		ep, secret, err := svc.Create(ctx, ws, webhook.NewEndpoint{Name: " Shop ", URL: "https://Shop.Example.com/hooks?k=1",
			EventTypes: []string{"contact.erased", "contact.erased", "consent.withdrawn"}, DataCategories: []string{"orders", "orders", "contact data"}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, "whsec_") || len(secret) < 40 {
			t.Fatalf("secret %q", secret)
		}
		if ep.Name != "Shop" || ep.URL != "https://shop.example.com/hooks?k=1" || strings.Join(ep.EventTypes, ",") != "consent.withdrawn,contact.erased" ||
			strings.Join(ep.DataCategories, ",") != "orders,contact data" || ep.Disabled {
			t.Fatalf("endpoint %+v", ep)
		}
		var sealed []byte
		if err := db.R.QueryRow(`SELECT secret FROM webhook_endpoints WHERE id = $1`, ep.ID).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte(secret)) || bytes.Contains(sealed, []byte(secret[6:])) {
			t.Fatal("the secret is stored in clear")
		}

		for _, c := range []struct {
			in    webhook.NewEndpoint
			field string
		}{
			{webhook.NewEndpoint{URL: "https://a.example", EventTypes: []string{"contact.erased"}}, "name"},
			{webhook.NewEndpoint{Name: "x", URL: "https://a.example", EventTypes: []string{"contact.deleted"}}, "event_types"},
			{webhook.NewEndpoint{Name: "x", URL: "https://a.example"}, "event_types"},
			{webhook.NewEndpoint{Name: "x", URL: "https://a.example", EventTypes: []string{"contact.erased"}, DataCategories: []string{" "}}, "data_categories"},
			{webhook.NewEndpoint{Name: "x", URL: "ftp://a.example", EventTypes: []string{"contact.erased"}}, "url"},
		} {
			_, _, err := svc.Create(ctx, ws, c.in)
			if ve := fieldOf(t, err); ve.Field != c.field {
				t.Errorf("%+v: field %q, want %q", c.in, ve.Field, c.field)
			}
		}
		if ve := fieldOf(t, func() error {
			_, _, err := svc.Create(ctx, ws, webhook.NewEndpoint{Name: "x", URL: "https://a.example", EventTypes: []string{"nope"}})
			return err
		}()); !strings.Contains(strings.Join(ve.Allowed, ","), "contact.objected") {
			t.Errorf("allowed values not named: %+v", ve)
		}

		bad := "http://erp.example.com/hook"
		name := "Shop 2"
		if _, err := svc.Update(ctx, ws, ep.ID, webhook.EndpointUpdate{Name: &name, URL: &bad}); fieldOf(t, err).Code != "https_required" {
			t.Fatalf("http URL: %v", err)
		}
		if got, _ := svc.Endpoint(ctx, ws, ep.ID); got.Name != "Shop" || got.URL != ep.URL {
			t.Fatalf("a refused update changed the endpoint: %+v", got)
		}
		disabled := true
		types := []string{"contact.objected"}
		got, err := svc.Update(ctx, ws, ep.ID, webhook.EndpointUpdate{Name: &name, Disabled: &disabled, EventTypes: &types})
		if err != nil || got.Name != name || !got.Disabled || got.DisabledAt == nil || strings.Join(got.EventTypes, ",") != "contact.objected" {
			t.Fatalf("update: %+v %v", got, err)
		}
		_, secret2, err := svc.RotateSecret(ctx, ws, ep.ID)
		if err != nil || secret2 == secret || !strings.HasPrefix(secret2, "whsec_") {
			t.Fatalf("rotate: %q %v", secret2, err)
		}
		if _, err := svc.Endpoint(ctx, ws, id.New()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown endpoint: %v", err)
		}
		if list, err := svc.Endpoints(ctx, ws); err != nil || len(list) != 1 {
			t.Fatalf("list: %v %v", list, err)
		}
	})
}

// Without FAIRLEAD_WEBHOOK_ALLOW_PRIVATE, URLs naming private, loopback,
// link-local and CGNAT addresses are refused when saved, and plain http is
// refused everywhere; with it, http to loopback is fine.
func TestURLRulesWithoutPrivateTargets(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws := newWorkspace(t, db)
		strict := webhook.New(db, newKeys(t, db), webhook.Options{Logger: quiet})
		for _, u := range []string{"https://127.0.0.1/hook", "https://10.1.2.3/hook", "https://169.254.169.254/latest/meta-data",
			"https://[::1]:8443/", "https://100.64.0.7/", "https://localhost/hook", "https://192.168.0.10/", "https://[::ffff:10.0.0.1]/",
			"http://erp.example.com/hook", "http://127.0.0.1:9000/hook", "https://user:pw@erp.example.com/", "erp.example.com/hook", "https://erp.example.com/#x"} {
			_, _, err := strict.Create(ctx, ws, webhook.NewEndpoint{Name: "x", URL: u, EventTypes: []string{"contact.erased"}})
			if ve := fieldOf(t, err); ve.Field != "url" {
				t.Errorf("%s: field %q", u, ve.Field)
			}
		}
		if list, _ := strict.Endpoints(ctx, ws); len(list) != 0 {
			t.Fatalf("refused URLs created %d endpoints", len(list))
		}
		lenient := newService(t, db, webhook.Options{})
		if _, _, err := lenient.Create(ctx, ws, webhook.NewEndpoint{Name: "x", URL: "http://127.0.0.1:9000/hook", EventTypes: []string{"contact.erased"}}); err != nil {
			t.Fatalf("http to loopback with private targets allowed: %v", err)
		}
		if _, _, err := lenient.Create(ctx, ws, webhook.NewEndpoint{Name: "x", URL: "http://10.0.0.1/hook", EventTypes: []string{"contact.erased"}}); fieldOf(t, err).Code != "https_required" {
			t.Fatalf("http to a private non-loopback address: %v", err)
		}
	})
}

// The guard checks the address actually dialled. An endpoint saved while
// private targets were allowed, whose name now resolves to loopback (what
// DNS rebinding does), is refused at the dial: the receiver never sees a
// connection, and the attempt log says why.
func TestDialGuardRefusesResolvedPrivateAddresses(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ws := newWorkspace(t, db)
		var conns atomic.Int32
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
			ConnState: func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		port := l.Addr().(*net.TCPAddr).Port

		lenient := newService(t, db, webhook.Options{})
		ep, _ := createEndpoint(t, lenient, ws, "https://localhost:"+strconv.Itoa(port)+"/hook", webhook.TypeContactErased)
		strict := webhook.New(db, newKeys(t, db), webhook.Options{MaxAttempts: 2, Logger: quiet,
			Backoff: func(int) time.Duration { return 10 * time.Millisecond }, Timeout: 2 * time.Second})
		notify(t, db, strict, ws, webhook.TypeContactErased, id.New(), nil)
		startQueue(t, db, strict, "guarded")
		waitFor(t, "the refused delivery to die", func() bool { return len(deliveries(t, strict, ws, ep.ID, webhook.StateDead)) == 1 })
		d := deliveries(t, strict, ws, ep.ID, webhook.StateDead)[0]
		if len(d.Log) != 2 || !strings.Contains(d.Log[0].Error, "address refused") || d.Log[0].StatusCode != 0 {
			t.Fatalf("log: %+v", d.Log)
		}
		if n := conns.Load(); n != 0 {
			t.Fatalf("the receiver on loopback saw %d connections", n)
		}
	})
}
