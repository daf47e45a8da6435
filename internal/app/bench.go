package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
)

func runBench(ctx context.Context, env Env, args []string) error {
	benches := map[string]func(context.Context, Env, []string) error{
		"audience": runBenchAudience,
		"admin":    runBenchAdmin,
		"scoring":  runBenchScoring,
		"segments": runBenchSegments,
		"capture":  runBenchCapture,
		"events":   runBenchEvents,
		"import":   runBenchImport,
		"campaign": runBenchCampaign,
	}
	if len(args) > 0 {
		if run, ok := benches[args[0]]; ok {
			return run(ctx, env, args[1:])
		}
	}
	if len(args) == 0 || args[0] != "startup" {
		return fmt.Errorf("usage: fairlead bench startup [--rows N] [--runs N] [--idle 5s] | audience [--contacts N] | capture [--submissions N] [--concurrency 16] | admin [--contacts N] | events [--events N] [--batch 100] | scoring|segments [--contacts N] [--events 3] | import [--rows N] | campaign [--recipients N] [--runs N] [--workers 16] [--dir D --reuse]")
	}
	fs := flags(env, "bench startup", "Measure cold start of `fairlead serve` to a 200 from /readyz on embedded SQLite,\nand the resident memory of the idle server. With --rows, the database first gets N\ncontact-sized rows in a scratch table, so start-up time shows it does not scan data.")
	rows := fs.Int("rows", 0, "contact-sized rows to put in the database first")
	runs := fs.Int("runs", 7, "how many starts to time (the median is reported)")
	idle := fs.Duration("idle", 5*time.Second, "how long the server idles before its RSS is read")
	dir := fs.String("dir", "", "scratch data directory (default: a new temporary one, removed afterwards)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *runs < 1 || *rows < 0 {
		return fmt.Errorf("--runs must be at least 1 and --rows not negative")
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	data := *dir
	if data == "" {
		data, err = os.MkdirTemp("", "fairlead-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(data)
	}
	if *rows > 0 {
		t0 := time.Now()
		if err := fillContactRows(ctx, data, *rows); err != nil {
			return err
		}
		fi, _ := os.Stat(filepath.Join(data, "fairlead.db"))
		fmt.Fprintf(env.Stdout, "filled %d rows in %s (database %.1f MiB)\n", *rows, time.Since(t0).Round(time.Millisecond), float64(fi.Size())/(1<<20))
	}
	var times []time.Duration
	var rss int64
	for i := 0; i < *runs+1; i++ {
		d, r, err := timeOneStart(ctx, bin, data, i == *runs, *idle)
		if err != nil {
			return err
		}
		if i == 0 {
			continue // the first start migrates and creates the demo workspace
		}
		if i == *runs {
			rss = r
		}
		times = append(times, d)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	fmt.Fprintf(env.Stdout, "cold start to /readyz over %d runs: median %s, min %s, max %s\n", len(times),
		times[len(times)/2].Round(100*time.Microsecond), times[0].Round(100*time.Microsecond), times[len(times)-1].Round(100*time.Microsecond))
	fmt.Fprintf(env.Stdout, "idle RSS after %s: %.1f MiB\n", *idle, float64(rss)/(1<<20))
	return nil
}

func timeOneStart(ctx context.Context, bin, data string, measureRSS bool, idle time.Duration) (time.Duration, int64, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", addr, "--data-dir", data, "--log-level", "warn")
	// The child inherits no FAIRLEAD_* setting: it must never reach a
	// configured production database or run its jobs.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FAIRLEAD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "FAIRLEAD_ADMIN_PASSWORD=bench password only", "FAIRLEAD_WORKERS=0")
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	for {
		res, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 30*time.Second {
			return 0, 0, fmt.Errorf("server not ready after 30 s")
		}
		time.Sleep(200 * time.Microsecond)
	}
	took := time.Since(start)
	var rss int64
	if measureRSS {
		time.Sleep(idle)
		rss = readRSS(cmd.Process.Pid)
	}
	return took, rss, nil
}

// readRSS reads VmRSS of a process from /proc (Linux).
func readRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			kb, _ := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// fillContactRows puts n rows shaped like a contact (IDs, e-mail, names,
// address, timestamps: about 250 bytes) into a scratch table.
func fillContactRows(ctx context.Context, dir string, n int) error {
	db, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	if _, err := db.W.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS bench_contacts (
		id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, email TEXT NOT NULL, first_name TEXT, last_name TEXT,
		street TEXT, postal_code TEXT, city TEXT, audience TEXT, relationship TEXT, created_at TIMESTAMP NOT NULL)`); err != nil {
		return err
	}
	ws := id.New()
	now := time.Now().UTC()
	const batch = 500
	for done := 0; done < n; {
		err := db.Tx(ctx, func(tx store.Tx) error {
			for k := 0; k < 40 && done < n; k++ {
				m := min(batch, n-done)
				var sb strings.Builder
				sb.WriteString(`INSERT INTO bench_contacts VALUES `)
				args := make([]any, 0, m*11)
				for i := 0; i < m; i++ {
					if i > 0 {
						sb.WriteByte(',')
					}
					b := len(args)
					fmt.Fprintf(&sb, "($%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d,$%d)", b+1, b+2, b+3, b+4, b+5, b+6, b+7, b+8, b+9, b+10, b+11)
					j := done + i
					args = append(args, id.New(), ws, fmt.Sprintf("person%d@example.com", j), "Erika", "Mustermann",
						fmt.Sprintf("Musterstraße %d", j%200), fmt.Sprintf("%05d", j%99999), "Köln", "b2c", "prospect", now)
				}
				if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
					return err
				}
				done += m
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("fill: %w", err)
		}
	}
	return db.Checkpoint(ctx)
}
