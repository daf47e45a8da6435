package app

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/web"
)

// benchConfig is the configuration of a benchmark that writes a scratch
// database. Only flags count: the FAIRLEAD_* environment of a production
// host must never make a benchmark write into the real database, so a
// PostgreSQL URL is used only when --database-url is given. Without one,
// the data goes to dir, or to a new temporary directory that cleanup
// removes. reuse (a benchmark measuring an earlier run's data) needs an
// explicit place. The master key is new for every run; --reuse runs that
// must open earlier contacts keep theirs (see bench admin).
func benchConfig(env Env, fs *flag.FlagSet, name string, dir *string, reuse bool) (cfg config.Config, cleanup func(), err error) {
	cleanup = func() {}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "database-url" })
	cfg, err = config.Load(func(k string) string {
		if strings.HasPrefix(k, "FAIRLEAD_") {
			return ""
		}
		return env.Getenv(k)
	}, fs)
	if err != nil {
		return cfg, cleanup, err
	}
	if !explicit {
		cfg.DatabaseURL = ""
	}
	if reuse && cfg.DatabaseURL == "" && *dir == "" {
		return cfg, cleanup, fmt.Errorf("--reuse needs the --dir (or --database-url) of an earlier run")
	}
	if cfg.DatabaseURL == "" {
		if *dir == "" {
			d, err := os.MkdirTemp("", "fairlead-bench-"+name+"-")
			if err != nil {
				return cfg, cleanup, err
			}
			cleanup = func() { os.RemoveAll(d) }
			*dir = d
		} else if err := os.MkdirAll(*dir, 0o700); err != nil {
			return cfg, cleanup, err
		}
		cfg.DataDir = *dir
	}
	key := make([]byte, 32)
	crand.Read(key)
	cfg.MasterKey = base64.StdEncoding.EncodeToString(key)
	if cfg.DataDir != "" && *dir != "" {
		// A kept directory keeps its master key beside the data, or
		// --reuse could not open the contacts it generated.
		kf := filepath.Join(*dir, "bench-master-key")
		if b, err := os.ReadFile(kf); err == nil {
			cfg.MasterKey = strings.TrimSpace(string(b))
		} else if err := os.WriteFile(kf, []byte(cfg.MasterKey+"\n"), 0o600); err != nil {
			return cfg, cleanup, err
		}
	}
	return cfg, cleanup, nil
}

// benchServer is the server of an HTTP benchmark: a listener on a free
// loopback port, the bootstrapped scratch database and the instance wired
// as serve wires it.
type benchServer struct {
	l     net.Listener
	base  string
	db    *store.DB
	srv   *web.Server
	queue *jobs.Queue
	log   *slog.Logger
}

// startBenchServer opens cfg's database, bootstraps it and wires the
// instance; cfg.PublicURL becomes the listener's address. Warnings and
// errors only are logged: they carry IDs, and a failing run should say why.
// close releases the listener (until the server takes it) and the database.
func startBenchServer(ctx context.Context, env Env, cfg *config.Config) (*benchServer, error) {
	l, err := web.Listen("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &benchServer{l: l, base: "http://" + l.Addr().String()}
	cfg.PublicURL = b.base
	if b.db, err = openDB(ctx, *cfg); err != nil {
		l.Close()
		return nil, err
	}
	if err := bootstrap(ctx, b.db, *cfg, io.Discard); err != nil {
		b.close()
		return nil, err
	}
	b.log = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b.srv, b.queue = newInstance(b.db, *cfg, b.log, "bench")
	return b, nil
}

func (b *benchServer) close() {
	b.l.Close()
	b.db.Close()
}
