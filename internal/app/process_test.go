package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/workspace"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// fairleadBinary builds cmd/fairlead once for the tests that need real
// processes (several nodes, kill -9).
func fairleadBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fairlead-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "fairlead")
		cmd := exec.Command("go", "build", "-o", binPath, "../../cmd/fairlead")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type proc struct {
	cmd    *exec.Cmd
	url    string
	stdout *safeBuffer
	stderr *safeBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // its exit error, once done is closed
}

type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listenRE = regexp.MustCompile(`listening on (http://[0-9.:]+)`)

// startServe runs `fairlead serve` on a free loopback port and waits for
// /readyz.
func startServe(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(fairleadBinary(t), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, stderr: &safeBuffer{}, stdout: &safeBuffer{}, done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done); pw.Close() }()
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.stdout.Write([]byte(sc.Text() + "\n"))
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case p.url = <-urlc:
	case <-p.done:
		t.Fatalf("fairlead serve exited: %v\nstderr: %s", p.err, p.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("fairlead serve did not start\nstderr: %s", p.stderr.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(p.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v\nstderr: %s", err, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestJobsRunExactlyOnceAcrossProcesses starts two fairlead processes on one
// PostgreSQL, enqueues jobs from a third party in transactions, and checks
// that every job ran exactly once and both processes took part.
func TestJobsRunExactlyOnceAcrossProcesses(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts processes")
	}
	dbURL := testdb.NewPostgresURL(t)
	env := []string{"FAIRLEAD_DATABASE_URL=" + dbURL, "FAIRLEAD_ADMIN_PASSWORD=two process test", "FAIRLEAD_WORKERS=4"}
	a := startServe(t, env)
	b := startServe(t, env)

	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ws, err := workspace.BySlug(ctx, db.R, "demo")
	if err != nil {
		t.Fatalf("exactly one of the processes must have created the demo workspace: %v", err)
	}
	// 200 jobs of 50 ms keep one process busy for longer than a poll
	// interval (1 s), so both processes are sure to take part.
	const n = 200
	for i := 0; i < n; i += 20 {
		err := db.Tx(ctx, func(tx store.Tx) error {
			for k := i; k < i+20; k++ {
				if _, err := jobs.Enqueue(ctx, tx, jobs.EnqueueParams{WorkspaceID: ws.ID, Kind: "system.noop", Args: map[string]int{"sleep_ms": 50}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		var done int
		if err := db.R.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE kind = 'system.noop' AND state = 'completed'`).Scan(&done); err != nil {
			t.Fatal(err)
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d jobs completed\nA: %s\nB: %s", done, n, a.stderr.String(), b.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var runs, distinctJobs, nodes int
	err = db.R.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT a.job_id), count(DISTINCT a.node) FROM job_attempts a JOIN jobs j ON j.id = a.job_id WHERE j.kind = 'system.noop'`).Scan(&runs, &distinctJobs, &nodes)
	if err != nil {
		t.Fatal(err)
	}
	if runs != n || distinctJobs != n {
		t.Errorf("%d attempts for %d jobs; want exactly one attempt per job (%d)", runs, distinctJobs, n)
	}
	if nodes != 2 {
		t.Errorf("jobs ran on %d processes, want both", nodes)
	}

	// SIGTERM: both stop cleanly.
	for _, p := range []*proc{a, b} {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			if p.err != nil {
				t.Errorf("exit after SIGTERM: %v\n%s", p.err, p.stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("no exit 30 s after SIGTERM")
		}
	}
}

// TestKill9LosesNoAcknowledgedWrite writes through the API under load,
// kills the server with SIGKILL mid-write, restarts it, and checks that
// every write that was acknowledged (201) is there.
func TestKill9LosesNoAcknowledgedWrite(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			env := []string{"FAIRLEAD_ADMIN_PASSWORD=kill nine test pw"}
			if d == store.Postgres {
				env = append(env, "FAIRLEAD_DATABASE_URL="+testdb.NewPostgresURL(t))
			} else {
				env = append(env, "FAIRLEAD_DATA_DIR="+t.TempDir())
			}
			token := createTokenCLI(t, env)
			p := startServe(t, env)

			var acked sync.Map
			var count atomic.Int64
			var wg sync.WaitGroup
			stop := make(chan struct{})
			client := &http.Client{Timeout: 10 * time.Second}
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						name := fmt.Sprintf("k9-%d-%d", w, i)
						req, _ := http.NewRequest("POST", p.url+"/api/v1/tokens", strings.NewReader(`{"name":"`+name+`","role":"viewer"}`))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("Authorization", "Bearer "+token)
						res, err := client.Do(req)
						if err != nil {
							return // the server is gone
						}
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						if res.StatusCode == 201 {
							acked.Store(name, true)
							count.Add(1)
						}
					}
				}(w)
			}
			deadline := time.Now().Add(60 * time.Second)
			for count.Load() < 300 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-p.done
			close(stop)
			wg.Wait()
			if count.Load() < 300 {
				t.Fatalf("only %d writes acknowledged before the kill", count.Load())
			}

			// Restart on the same database: it must come up (WAL recovery) and
			// hold every acknowledged write.
			p2 := startServe(t, env)
			defer p2.cmd.Process.Kill()
			ctx := context.Background()
			o := store.Options{}
			for _, e := range env {
				if v, ok := strings.CutPrefix(e, "FAIRLEAD_DATABASE_URL="); ok {
					o.URL = v
				}
				if v, ok := strings.CutPrefix(e, "FAIRLEAD_DATA_DIR="); ok {
					o.DataDir = v
				}
			}
			db, err := store.Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			present := map[string]bool{}
			rows, err := db.R.QueryContext(ctx, `SELECT name FROM api_tokens WHERE name LIKE 'k9-%'`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var s string
				rows.Scan(&s)
				present[s] = true
			}
			rows.Close()
			missing := 0
			acked.Range(func(k, _ any) bool {
				if !present[k.(string)] {
					missing++
				}
				return true
			})
			if missing > 0 {
				t.Fatalf("%d of %d acknowledged writes lost after kill -9", missing, count.Load())
			}
			t.Logf("%d acknowledged writes, %d rows present after kill -9 and restart", count.Load(), len(present))
		})
	}
}

func createTokenCLI(t *testing.T, env []string) string {
	t.Helper()
	cmd := exec.Command(fairleadBinary(t), "token", "create", "--workspace", "demo", "--role", "admin", "--name", "load")
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("token create: %v: %s", err, stderr.String())
	}
	tok := strings.TrimSpace(string(out))
	if !strings.HasPrefix(tok, "flt_") {
		t.Fatalf("token create printed %q", tok)
	}
	return tok
}

// TestWebhookSurvivesKill9BeforeDelivery: a process without workers
// commits an objection (and so its webhook) and is killed with SIGKILL; a
// fresh process with workers delivers the event exactly once.
// This is the production wiring end to end: the serve command's queue, the
// ledger hook and the FAIRLEAD_WEBHOOK_* settings.
func TestWebhookSurvivesKill9BeforeDelivery(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts processes")
	}
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			rc := newHookReceiver(t)
			env := []string{"FAIRLEAD_ADMIN_PASSWORD=webhook kill test pw", "FAIRLEAD_WEBHOOK_ALLOW_PRIVATE=true"}
			if d == store.Postgres {
				env = append(env, "FAIRLEAD_DATABASE_URL="+testdb.NewPostgresURL(t))
			} else {
				env = append(env, "FAIRLEAD_DATA_DIR="+t.TempDir())
			}
			token := createTokenCLI(t, env)
			p := startServe(t, append(env, "FAIRLEAD_WORKERS=0"))
			call := func(method, path, body string) map[string]any {
				t.Helper()
				req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var m map[string]any
				if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode != 201 {
					t.Fatalf("%s %s: %d %v %v", method, path, res.StatusCode, m, err)
				}
				return m
			}
			call("POST", "/api/v1/webhooks", `{"name":"CRM","url":"`+rc.URL+`/hook","event_types":["contact.objected"]}`)
			cid := call("POST", "/api/v1/contacts", `{"email":"kai.kill@example.org","audience":"b2c","relationship":"prospect"}`)["id"].(string)
			ev := call("POST", "/api/v1/contacts/"+cid+"/ledger", `{"kind":"objection","objection_type":"direct_marketing"}`)
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-p.done
			if types, _ := rc.got(); len(types) != 0 {
				t.Fatalf("a process without workers sent %v", types)
			}

			startServe(t, append(env, "FAIRLEAD_WORKERS=4"))
			deadline := time.Now().Add(60 * time.Second)
			var bodies []string
			for time.Now().Before(deadline) {
				if _, bodies = rc.got(); len(bodies) > 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(500 * time.Millisecond) // room for a duplicate to show
			types, bodies := rc.got()
			if len(bodies) != 1 || types[0] != "contact.objected" {
				t.Fatalf("after restart the receiver got %v", types)
			}
			var got struct {
				ContactID string         `json:"contact_id"`
				Data      map[string]any `json:"data"`
			}
			if err := json.Unmarshal([]byte(bodies[0]), &got); err != nil || got.ContactID != cid || got.Data["ledger_event_id"] != ev["id"] {
				t.Fatalf("event %s (ledger event %v)", bodies[0], ev["id"])
			}
			if strings.Contains(bodies[0], "kai.kill") {
				t.Fatal("the payload carries the e-mail address")
			}
		})
	}
}
