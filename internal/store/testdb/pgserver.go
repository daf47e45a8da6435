package testdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/fairlead/fairlead/internal/store"
)

// templateDB is per test process: test packages run in parallel and, on a
// shared external server, must not drop each other's template.
var templateDB = fmt.Sprintf("fairlead_template_%d", os.Getpid())

type pgServer struct {
	dir     string
	binDir  string
	port    int
	cred    *syscall.Credential
	admin   *sql.DB
	mu      sync.Mutex // CREATE DATABASE from one template, one at a time
	ownsDir bool
	baseURL *url.URL // set when an external server is used
}

// startServer uses FAIRLEAD_TEST_POSTGRES_URL (a superuser URL of a server
// that someone else runs) when set; otherwise it starts a private server.
func startServer(ctx context.Context) (*pgServer, error) {
	if ext := os.Getenv("FAIRLEAD_TEST_POSTGRES_URL"); ext != "" {
		u, err := url.Parse(ext)
		if err != nil {
			return nil, fmt.Errorf("FAIRLEAD_TEST_POSTGRES_URL: %w", err)
		}
		s := &pgServer{baseURL: u}
		return s, s.prepare(ctx)
	}
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "fairlead-pg-")
	if err != nil {
		return nil, err
	}
	s := &pgServer{dir: dir, binDir: bin, ownsDir: true}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.New("running as root needs the 'postgres' system user (Debian's postgresql package creates it)")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := s.run(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.port = port
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB", port, dir)
	if out, err := s.run(ctx, "pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		return nil, fmt.Errorf("pg_ctl start: %v: %s %s", err, out, log)
	}
	return s, s.prepare(ctx)
}

func (s *pgServer) url(dbname string) string {
	if s.baseURL != nil {
		u := *s.baseURL
		u.Path = "/" + dbname
		return u.String()
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, dbname)
}

// prepare migrates a template database once; every test database is a copy.
func (s *pgServer) prepare(ctx context.Context) error {
	admin, err := sql.Open("pgx", s.url("postgres"))
	if err != nil {
		return err
	}
	admin.SetMaxOpenConns(2)
	s.admin = admin
	_, _ = admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+templateDB)
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+templateDB); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	db, err := store.Open(ctx, store.Options{URL: s.url(templateDB)})
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return &schemaError{fmt.Errorf("migrate template: %w", err)}
	}
	return nil
}

// schemaError is a server that started but could not take fairlead's
// schema: a fault of the code under test, never of the machine, so no
// test may skip over it.
type schemaError struct{ err error }

func (e *schemaError) Error() string { return e.err.Error() }
func (e *schemaError) Unwrap() error { return e.err }

func (s *pgServer) createDB(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.admin.Exec(`CREATE DATABASE ` + name + ` TEMPLATE ` + templateDB)
	return err
}

func (s *pgServer) dropDB(name string) {
	_, _ = s.admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
}

func (s *pgServer) stop() {
	if s.admin != nil {
		_, _ = s.admin.Exec(`DROP DATABASE IF EXISTS ` + templateDB + ` WITH (FORCE)`)
		s.admin.Close()
	}
	if !s.ownsDir {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = s.run(ctx, "pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop")
	os.RemoveAll(s.dir)
}

func (s *pgServer) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.binDir, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd.CombinedOutput()
}

// findBinDir picks the newest Debian PostgreSQL (/usr/lib/postgresql/N/bin),
// or FAIRLEAD_TEST_PG_BIN, or initdb on PATH.
func findBinDir() (string, error) {
	if d := os.Getenv("FAIRLEAD_TEST_PG_BIN"); d != "" {
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool {
		vi, _ := strconv.Atoi(strings.Split(matches[i], "/")[4])
		vj, _ := strconv.Atoi(strings.Split(matches[j], "/")[4])
		return vi > vj
	})
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, pg_ctl) found under /usr/lib/postgresql/*/bin or on PATH")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
