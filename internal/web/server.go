package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is fairlead's HTTP server.
type Server struct {
	mux      *http.ServeMux
	log      *slog.Logger
	maxBody  int64
	metrics  *metrics
	ready    func(context.Context) error
	srv      *http.Server
	patterns []string
	tasks    []func(context.Context)
	proxies  []netip.Prefix
}

// Options configure a Server.
type Options struct {
	Logger       *slog.Logger
	MaxBodyBytes int64
	// Ready reports whether the instance can serve (database reachable).
	Ready func(context.Context) error
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed (ClientAddr).
	TrustedProxies []netip.Prefix
}

// NewServer makes a server with /healthz, /readyz and /metrics mounted.
func NewServer(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	s := &Server{mux: http.NewServeMux(), log: o.Logger, maxBody: o.MaxBodyBytes, metrics: newMetrics(), ready: o.Ready, proxies: o.TrustedProxies}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := s.ready(ctx); err != nil {
				s.log.Warn("not ready", "err", err)
				WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database not reachable"})
				return
			}
		}
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/", s.notFound)
	return s
}

// Handle mounts a handler on a ServeMux pattern ("GET /api/v1/me").
func (s *Server) Handle(pattern string, h http.Handler) {
	s.patterns = append(s.patterns, pattern)
	s.mux.Handle(pattern, h)
}

// Background adds a task that runs beside the server once StartBackground
// is called, until the context given there ends (a page's figures kept
// fresh, for instance). Tests and benchmarks that use only Handler run
// none.
func (s *Server) Background(task func(ctx context.Context)) { s.tasks = append(s.tasks, task) }

// StartBackground starts the background tasks; wait returns once all of
// them have returned after ctx ended.
func (s *Server) StartBackground(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	for _, t := range s.tasks {
		wg.Go(func() { t(ctx) })
	}
	return wg.Wait
}

// Patterns lists what was mounted with Handle, so tests can prove that no
// API route bypasses the declared route table.
func (s *Server) Patterns() []string { return append([]string(nil), s.patterns...) }

// MustRegister adds collectors to the /metrics registry.
func (s *Server) MustRegister(cs ...prometheus.Collector) { s.metrics.reg.MustRegister(cs...) }

// Handler is the whole server as an http.Handler, middleware included.
func (s *Server) Handler() http.Handler { return s.middleware(s.mux) }

// notFound answers unmatched requests in the JSON error shape: 405 with an
// Allow header when the path exists for other methods, else 404.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := s.mux.Handler(r2); p != "" && p != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		WriteError(w, r, Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "method "+r.Method+" is not allowed here; allowed: "+strings.Join(allow, ", ")))
		return
	}
	WriteError(w, r, Errorf(http.StatusNotFound, "not_found", "no such route"))
}

// Listen opens the listening socket; a port in use is a clear error naming
// the setting to change.
func Listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("address %s is already in use: stop the other program or set --addr / FAIRLEAD_ADDR", addr)
		}
		return nil, fmt.Errorf("listen on %s (set --addr / FAIRLEAD_ADDR): %w", addr, err)
	}
	return l, nil
}

// Serve serves on l until ctx is cancelled, then shuts down gracefully:
// in-flight requests get up to grace to finish.
func (s *Server) Serve(ctx context.Context, l net.Listener, grace time.Duration) error {
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      10 * time.Minute, // audience streams of millions of IDs
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		// Requests still running at the deadline are cut off; that is the
		// configured outcome of a stop, not a failure of it.
		s.log.Warn("requests still running at the shutdown deadline were closed", "err", err)
		_ = s.srv.Close()
	}
	return nil
}
