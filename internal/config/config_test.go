package config

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DataDir != "fairlead-data" || c.DatabaseURL != "" || c.Workers != 4 || c.Backend() != "sqlite" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestFlagsBeatEnvironment(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse([]string{"--addr", "127.0.0.1:9999"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{"FAIRLEAD_ADDR": "127.0.0.1:7777", "FAIRLEAD_DATA_DIR": "/var/lib/x"}), fs)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9999" || c.DataDir != "/var/lib/x" {
		t.Fatalf("got %+v", c)
	}
}

func TestBadValuesNameTheSetting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ key, val, want string }{
		{"FAIRLEAD_ADDR", "8080", "FAIRLEAD_ADDR / --addr"},
		{"FAIRLEAD_DATABASE_URL", "mysql://u:hunter2@x/db", "FAIRLEAD_DATABASE_URL"},
		{"FAIRLEAD_WORKERS", "-1", "0 to 256"},
		{"FAIRLEAD_LOG_LEVEL", "loud", "debug, info, warn, error"},
		{"FAIRLEAD_ADMIN_PASSWORD", "short", "12 characters"},
		{"FAIRLEAD_SHUTDOWN_TIMEOUT", "soon", "duration"},
	} {
		_, err := Load(env(map[string]string{tc.key: tc.val}), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: error %v, want it to mention %q", tc.key, tc.val, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("secret leaked in error: %v", err)
		}
	}
}

func TestPrintRedactsSecrets(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"FAIRLEAD_DATABASE_URL":   "postgres://u:hunter2@db/x",
		"FAIRLEAD_ADMIN_PASSWORD": "correct horse battery",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	c.Print(&b)
	out := b.String() + c.String() + fmt.Sprint(c)
	if strings.Contains(out, "hunter2") || strings.Contains(out, "battery") {
		t.Fatalf("secret printed:\n%s", out)
	}
	if !strings.Contains(b.String(), "FAIRLEAD_DATABASE_URL") || !strings.Contains(b.String(), "redacted") {
		t.Fatalf("print lacks redacted line:\n%s", b.String())
	}
}

// The README documents every setting in one table; this keeps it true.
func TestREADMEListsEveryOption(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range Options {
		if !strings.Contains(string(readme), "`"+o.Env+"`") {
			t.Errorf("README.md lacks %s", o.Env)
		}
		if o.Flag != "" && !strings.Contains(string(readme), "`--"+o.Flag+"`") {
			t.Errorf("README.md lacks --%s", o.Flag)
		}
	}
}

func TestParseProxies(t *testing.T) {
	t.Parallel()
	ps, err := ParseProxies(" 10.0.0.0/8, 192.0.2.1 ,2001:db8::/32,")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.String())
	}
	if want := "10.0.0.0/8 192.0.2.1/32 2001:db8::/32"; strings.Join(got, " ") != want {
		t.Errorf("parsed %v, want %s", got, want)
	}
	if _, err := ParseProxies("10.0.0.0/8,proxy.internal"); err == nil || !strings.Contains(err.Error(), `"proxy.internal"`) {
		t.Errorf("a host name: %v, want an error naming it", err)
	}
}
