package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/fairlead/fairlead/internal/id"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyLogAttrs
)

// RequestID is the ID of the request in ctx ("" outside a request).
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(keyRequestID).(string)
	return s
}

// logAttrs collects IDs (never personal data) that handlers add to the
// access log line, such as the workspace and token of the caller.
type logAttrs struct{ attrs []slog.Attr }

// AddLogAttrs adds attributes to this request's access log line. Only IDs
// and codes belong there: no e-mail addresses, names or IP addresses.
func AddLogAttrs(ctx context.Context, attrs ...slog.Attr) {
	if la, ok := ctx.Value(keyLogAttrs).(*logAttrs); ok {
		la.attrs = append(la.attrs, attrs...)
	}
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush lets streaming handlers push what they wrote.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// middleware wraps the mux: request ID, access log, metrics, panic recovery,
// security headers and the body size limit, outermost first.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := r.Header.Get("X-Request-ID")
		if !requestIDRE.MatchString(rid) {
			rid = id.New()
		}
		la := &logAttrs{}
		ctx := context.WithValue(context.WithValue(r.Context(), keyRequestID, rid), keyLogAttrs, la)
		r = r.WithContext(ctx)
		if a, ok := clientAddr(r, s.proxies); ok {
			// Everything downstream (consent evidence, rate limits, login
			// throttling, pseudonyms) reads the client from RemoteAddr.
			r.RemoteAddr = netip.AddrPortFrom(a, 0).String()
		}

		h := w.Header()
		h.Set("X-Request-ID", rid)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "interest-cohort=(), browsing-topics=()")
		h.Set("Cache-Control", "no-store")

		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
		}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				slog.ErrorContext(ctx, "panic in handler", "request_id", rid, "route", r.Pattern, "panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					WriteError(sw, r, Errorf(http.StatusInternalServerError, "internal_error", "internal error"))
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			d := time.Since(start)
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			s.metrics.observe(route, methodLabel(r.Method), status, d)
			attrs := []slog.Attr{
				slog.String("request_id", rid),
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Int64("bytes", sw.bytes),
				slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			}
			attrs = append(attrs, la.attrs...)
			s.log.LogAttrs(ctx, slog.LevelInfo, "http request", attrs...)
		}()
		next.ServeHTTP(sw, r)
	})
}

func itoa(i int) string { return strconv.Itoa(i) }

// methodLabel bounds the method label: clients choose the method string,
// and every new value would be a new time series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}
