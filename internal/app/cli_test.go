package app

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/store"
)

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func run(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb safeBuffer
	err := RunEnv(context.Background(), args, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: envFrom(env)})
	return out.String(), errb.String(), err
}

// serveInProcess runs `serve` until the returned stop is called.
func serveInProcess(t *testing.T, env map[string]string) (url string, stdout *safeBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &safeBuffer{}, &safeBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- RunEnv(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, Env{Stdout: out, Stderr: errb, Getenv: envFrom(env)})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listenRE.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve ended: %v\n%s", err, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return url, out, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
			return nil
		}
	}
}

func TestServeFirstStartAndRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"FAIRLEAD_DATA_DIR": dir, "FAIRLEAD_WORKERS": "1"}
	url, out, stop := serveInProcess(t, env)
	res, err := http.Get(url + "/readyz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", err, res)
	}
	res.Body.Close()
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	first := out.String()
	if !strings.Contains(first, `Created workspace "demo"`) || !strings.Contains(first, "Admin password (shown only this once") {
		t.Fatalf("first start did not announce the demo workspace and password:\n%s", first)
	}
	if _, err := os.Stat(filepath.Join(dir, "fairlead.db")); err != nil {
		t.Fatalf("no SQLite file in the data dir: %v", err)
	}
	// The second start creates nothing and prints no password.
	_, out2, stop2 := serveInProcess(t, env)
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out2.String(), "password") {
		t.Fatalf("second start printed a password:\n%s", out2.String())
	}
	// The admin can log in with the printed password.
	pw := strings.TrimSpace(first[strings.Index(first, "store it now): ")+len("store it now): "):])
	pw, _, _ = strings.Cut(pw, "\n")
	db, err := store.Open(context.Background(), store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var hash string
	if err := db.R.QueryRow(`SELECT password_hash FROM users WHERE email = 'admin@example.com'`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(hash, pw) || !strings.HasPrefix(hash, "$argon2id$") {
		t.Fatal("password not stored as an argon2id hash")
	}
}

func TestStartupFaultsAreOneClearLine(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().String()

	dir := t.TempDir()
	db, err := store.Open(context.Background(), store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	db.W.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from_the_future', 'x')`)
	db.Close()

	notADir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notADir, []byte("x"), 0o600)

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"port in use", map[string]string{"FAIRLEAD_DATA_DIR": t.TempDir()}, []string{"serve", "--addr", busy}, []string{"already in use", "FAIRLEAD_ADDR"}},
		{"bad address", nil, []string{"serve", "--addr", "nonsense"}, []string{"FAIRLEAD_ADDR", "host:port"}},
		{"data dir is a file", map[string]string{"FAIRLEAD_DATA_DIR": notADir}, []string{"serve", "--addr", "127.0.0.1:0"}, []string{"FAIRLEAD_DATA_DIR"}},
		{"database unreachable", map[string]string{"FAIRLEAD_DATABASE_URL": "postgres://fairlead:secret-pw@127.0.0.1:1/x?connect_timeout=2"}, []string{"migrate"}, []string{"FAIRLEAD_DATABASE_URL"}},
		{"schema from a newer fairlead", map[string]string{"FAIRLEAD_DATA_DIR": dir}, []string{"serve", "--addr", "127.0.0.1:0"}, []string{"newer than this fairlead", "FAIRLEAD_DATA_DIR"}},
		{"unknown command", nil, []string{"frobnicate"}, []string{"unknown command"}},
		{"bad role for token", map[string]string{"FAIRLEAD_DATA_DIR": t.TempDir()}, []string{"token", "create", "--role", "boss", "--name", "x"}, []string{"--role", "admin, marketing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := run(t, tc.env, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans several lines: %q", msg)
			}
			if strings.Contains(msg, "secret-pw") {
				t.Errorf("error shows a password: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestOperatorCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"FAIRLEAD_DATA_DIR": dir, "FAIRLEAD_DATABASE_URL": "", "FAIRLEAD_ADMIN_PASSWORD": "operator test password"}

	out, _, err := run(t, env, "migrate")
	if err != nil || !strings.Contains(out, "schema version") {
		t.Fatalf("migrate: %v %s", err, out)
	}
	out, errOut, err := run(t, env, "token", "create", "--workspace", "demo", "--role", "marketing", "--name", "ci")
	if err != nil || !strings.HasPrefix(strings.TrimSpace(out), "flt_") || strings.Count(out, "\n") != 1 {
		t.Fatalf("token create: %v stdout=%q stderr=%q", err, out, errOut)
	}
	if _, _, err := run(t, env, "token", "create", "--workspace", "nope", "--role", "viewer", "--name", "x"); err == nil || !strings.Contains(err.Error(), "--workspace") {
		t.Fatalf("unknown workspace: %v", err)
	}
	out, _, err = run(t, map[string]string{"FAIRLEAD_DATABASE_URL": "postgres://u:hunter2@db.example/x"}, "config")
	if err != nil || strings.Contains(out, "hunter2") || !strings.Contains(out, "redacted") {
		t.Fatalf("config: %v\n%s", err, out)
	}
	out, _, err = run(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "fairlead ") {
		t.Fatalf("version: %v %q", err, out)
	}
	for _, c := range []string{"serve", "migrate", "config", "backup", "version", "jobs list"} {
		out, _, err := run(t, nil, append(strings.Fields(c), "--help")...)
		if code, ok := ExitCode(err); err != nil && !(ok && code == 0) || !strings.Contains(out, "Usage: fairlead") {
			t.Errorf("%s --help: %v %q", c, err, out)
		}
	}

	// Backup while a server is writing: the copy opens and holds the rows.
	url, _, stop := serveInProcess(t, env)
	_ = url
	backup := filepath.Join(t.TempDir(), "b.db")
	out, _, err = run(t, env, "backup", "--out", backup)
	if err != nil || !strings.Contains(out, "wrote") {
		t.Fatalf("backup: %v %s", err, out)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup mode %v (err %v), want 0600: it holds every row", fi.Mode().Perm(), err)
	}
	restored := t.TempDir()
	data, _ := os.ReadFile(backup)
	os.WriteFile(filepath.Join(restored, "fairlead.db"), data, 0o600)
	db, err := store.Open(context.Background(), store.Options{DataDir: restored})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.R.QueryRow(`SELECT count(*) FROM api_tokens WHERE name = 'ci'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("backup lacks the token: n=%d err=%v", n, err)
	}
	if _, _, err := run(t, env, "backup", "--out", backup); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("backup over an existing file: %v", err)
	}
	_, errOut, err = run(t, map[string]string{"FAIRLEAD_DATABASE_URL": "postgres://x@127.0.0.1:1/x"}, "backup")
	if code, _ := ExitCode(err); code != 2 || !strings.Contains(errOut, "pg_dump") {
		t.Fatalf("backup on PostgreSQL: %v %s", err, errOut)
	}
}

func TestDecideCommand(t *testing.T) {
	t.Parallel()
	in := strings.Join([]string{
		`{"id":"a","facts":{"as_of":"2026-11-24","audience":"b2c","relationship":"customer","existing_customer":{"address_from_sale":true,"own_similar_offer":true,"notice_at_collection":true,"notice_in_message":true}},"request":{"purpose":"direct_marketing","channel":"email"}}`,
		`{"id":2,"facts":{"as_of":"2026-11-24","audience":"b2c","relationship":"customer"},"request":{"purpose":"direct_marketing","channel":"telepathy"}}`,
		`not json at all`,
		``,
		`{"facts":{"as_of":"2026-11-24","audience":"b2c","relationship":"prospect","objections":[{"type":"direct_marketing"}]},"request":{"purpose":"direct_marketing","channel":"post"}}`,
	}, "\n")
	var out, errb safeBuffer
	err := RunEnv(context.Background(), []string{"decide"}, Env{Stdin: strings.NewReader(in), Stdout: &out, Stderr: &errb, Getenv: envFrom(nil)})
	if code, ok := ExitCode(err); !ok || code != 1 {
		t.Fatalf("exit %v, want status 1 because lines failed", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 4 output lines (blank input skipped), got %d:\n%s", len(lines), out.String())
	}
	for i, want := range [][]string{
		{`"id":"a"`, `"allowed":true`, `"existing_customer_exemption"`, `"UWG §7(3)"`, `"include_unsubscribe_notice"`},
		{`"id":2`, `"error"`, `"invalid_request"`},
		{`"error"`, `"invalid_json"`},
		{`"allowed":false`, `"marketing_objection"`},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d lacks %s: %s", i+1, w, lines[i])
			}
		}
	}
}

// TestCommandsNameAnUnknownWorkspace checks that every command taking
// --workspace answers an unknown slug with the slug and the flag, and
// changes nothing.
func TestCommandsNameAnUnknownWorkspace(t *testing.T) {
	t.Parallel()
	env := map[string]string{"FAIRLEAD_DATA_DIR": t.TempDir()}
	if _, _, err := run(t, env, "contact", "list"); err != nil {
		t.Fatalf("first command: %v", err)
	}
	for _, args := range [][]string{
		{"contact", "list", "--workspace", "nowhere"},
		{"scoring", "export", "--workspace", "nowhere"},
		{"verify", "--workspace", "nowhere"},
	} {
		_, _, err := run(t, env, args...)
		if err == nil || !strings.Contains(err.Error(), `no workspace "nowhere" (--workspace)`) {
			t.Errorf("%v: %v", args, err)
		}
	}
}
