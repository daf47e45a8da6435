package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/importer"
	"github.com/fairlead/fairlead/internal/importer/csvmap"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/web"
)

// Who may import, export and handle the Art. 14 notices: the roles that
// see and create personal data. Viewers see none.
var (
	importers     = contactCreators
	exportReaders = contactReaders
	noticeWorkers = []auth.Role{auth.RoleAdmin, auth.RoleMarketing, auth.RoleDPO}
)

type importBody struct {
	Format       string            `json:"format"`
	Source       string            `json:"source"`
	DataSource   string            `json:"data_source"`
	Mapping      map[string]string `json:"mapping"`
	Audience     string            `json:"audience"`
	Relationship string            `json:"relationship"`
	Atomic       bool              `json:"atomic"`
	DryRun       bool              `json:"dry_run"`
	// Data is the CSV file's text (format csv); Records the objects of a
	// JSON import (format json).
	Data    *string           `json:"data"`
	Records []json.RawMessage `json:"records"`
}

func (a *API) importContacts(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in importBody
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	if in.Format == "" {
		in.Format = "csv"
	}
	var file io.Reader
	switch in.Format {
	case "csv":
		if in.Records != nil {
			return validate.Invalid("records", "records belong to a JSON import (format json); a CSV import sends the file's text as data")
		}
		if in.Data == nil {
			return validate.Required("data")
		}
		file = strings.NewReader(*in.Data)
	case "json":
		if in.Data != nil {
			return validate.Invalid("data", "data is the text of a CSV import; a JSON import sends its objects as records")
		}
		if in.Records == nil {
			return validate.Required("records")
		}
		b, _ := json.Marshal(in.Records)
		file = bytes.NewReader(b)
	default:
		return validate.OneOf("format", in.Format, csvmap.Formats)
	}
	rep, err := a.Importer.Import(r.Context(), p.WorkspaceID, file, importer.Options{Format: in.Format, Mapping: in.Mapping, Source: in.Source,
		DataSource: in.DataSource, Audience: in.Audience, Relationship: in.Relationship, Atomic: in.Atomic, DryRun: in.DryRun,
		Actor: consent.Actor{TokenID: p.TokenID, UserID: p.UserID}})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if rep.Committed {
		status = http.StatusCreated
		w.Header().Set("Location", "/api/v1/imports/"+rep.ImportID)
	}
	web.WriteJSON(w, status, rep)
	return nil
}

func (a *API) getImport(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	x, err := a.Importer.GetImport(r.Context(), p.WorkspaceID, r.PathValue("id"))
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, x)
	return nil
}

// exportContacts streams the contacts page by page: memory stays bounded
// however many there are. An error after the first bytes can only cut the
// stream short; the trailing bracket of JSON is then missing.
func (a *API) exportContacts(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "csv"
	}
	switch format {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="fairlead-contacts.csv"`)
	case "json":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", `attachment; filename="fairlead-contacts.json"`)
	default:
		return validate.OneOf("format", format, importer.ExportFormats)
	}
	_, err := a.Importer.Export(r.Context(), p.WorkspaceID, format, w)
	return err
}

func (a *API) listArt14Tasks(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	tp := importer.TaskParams{Status: q.Get("status"), After: q.Get("after")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return validate.Invalid("limit", "limit must be a whole number from 1 to 500")
		}
		tp.Limit = n
	}
	ts, err := a.Importer.Tasks(r.Context(), p.WorkspaceID, tp)
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"tasks": ts})
	return nil
}

func (a *API) completeArt14Task(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	// Another workspace's task is not found, whatever the body says.
	if _, err := a.Importer.Task(r.Context(), p.WorkspaceID, r.PathValue("id")); errors.Is(err, store.ErrNotFound) {
		return web.Errorf(http.StatusNotFound, "not_found", "no such Art. 14 task in this workspace")
	} else if err != nil {
		return err
	}
	var in struct {
		Notice  string     `json:"notice"`
		Channel string     `json:"channel"`
		At      *time.Time `json:"at"`
	}
	if err := web.DecodeJSON(r, &in); err != nil {
		return err
	}
	t, err := a.Importer.MarkDone(r.Context(), p.WorkspaceID, r.PathValue("id"), importer.Done{Notice: in.Notice, Channel: in.Channel, At: in.At},
		consent.Actor{TokenID: p.TokenID, UserID: p.UserID})
	if errors.Is(err, store.ErrNotFound) {
		return web.Errorf(http.StatusNotFound, "not_found", "no such Art. 14 task in this workspace")
	}
	if err != nil {
		return conflict(err)
	}
	web.WriteJSON(w, http.StatusOK, t)
	return nil
}
