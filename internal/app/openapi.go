package app

import (
	"net/http"

	fairleadapi "github.com/fairlead/fairlead/api"
	"github.com/fairlead/fairlead/internal/web"
)

func mountOpenAPI(srv *web.Server) {
	srv.Handle("GET /api/openapi.yaml", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(fairleadapi.OpenAPI)
	}))
}
