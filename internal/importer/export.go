package importer

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/validate"
)

// ExportFormats are the formats of Export.
var ExportFormats = []string{"csv", "json"}

// ExportColumns are the columns of a CSV export, in order. The columns
// named like import fields can be imported again as they are.
var ExportColumns = []string{"id", "email", "phone", "first_name", "last_name", "organization", "audience", "relationship",
	"street", "postal_code", "city", "country", "data_source", "source_name", "import_id", "imported_at", "created_at", "updated_at", "erased"}

// Provenance is where a contact came from: the first import that brought
// it ("" for contacts entered otherwise).
type Provenance struct {
	DataSource string     `json:"data_source"`
	SourceName string     `json:"source_name,omitempty"`
	ImportID   string     `json:"import_id,omitempty"`
	ImportedAt *time.Time `json:"imported_at,omitempty"`
}

// ExportedContact is one contact of a JSON export.
type ExportedContact struct {
	contact.Contact
	Provenance Provenance `json:"provenance"`
}

// exportPage bounds memory: one page of contacts is in memory at a time.
const exportPage = 500

// Export writes every contact of the workspace with its provenance, page by
// page. It opens personal data: only roles that may see them call it.
func (s *Service) Export(ctx context.Context, ws, format string, w io.Writer) (int, error) {
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "json" {
		return 0, validate.OneOf("format", format, ExportFormats)
	}
	var cw *csv.Writer
	var enc *json.Encoder
	if format == "csv" {
		cw = csv.NewWriter(w)
		if err := cw.Write(ExportColumns); err != nil {
			return 0, err
		}
	} else {
		if _, err := io.WriteString(w, "[\n"); err != nil {
			return 0, err
		}
		enc = json.NewEncoder(w)
	}
	n := 0
	after := ""
	for {
		page, err := s.Contacts.List(ctx, ws, contact.ListParams{After: after, Limit: exportPage})
		if err != nil {
			return n, err
		}
		if len(page) == 0 {
			break
		}
		prov, err := s.provenance(ctx, ws, page)
		if err != nil {
			return n, err
		}
		for _, c := range page {
			p := prov[c.ID]
			p.DataSource = c.DataSource
			if cw != nil {
				if err := cw.Write(csvRow(c, p)); err != nil {
					return n, err
				}
			} else {
				if n > 0 {
					if _, err := io.WriteString(w, ","); err != nil {
						return n, err
					}
				}
				if err := enc.Encode(ExportedContact{Contact: c, Provenance: p}); err != nil {
					return n, err
				}
			}
			n++
		}
		if cw != nil {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return n, err
			}
		}
		after = page[len(page)-1].ID
		if len(page) < exportPage {
			break
		}
	}
	if enc != nil {
		if _, err := io.WriteString(w, "]\n"); err != nil {
			return n, err
		}
	}
	return n, nil
}

func csvRow(c contact.Contact, p Provenance) []string {
	a := contact.Address{}
	if c.Address != nil {
		a = *c.Address
	}
	imported := ""
	if p.ImportedAt != nil {
		imported = p.ImportedAt.Format(time.RFC3339)
	}
	erased := "false"
	if c.Erased {
		erased = "true"
	}
	return []string{c.ID, c.Email, c.Phone, c.FirstName, c.LastName, c.Organization, c.Audience, c.Relationship,
		a.Street, a.PostalCode, a.City, a.Country, c.DataSource, p.SourceName, p.ImportID, imported,
		c.CreatedAt.Format(time.RFC3339), c.UpdatedAt.Format(time.RFC3339), erased}
}

// provenance reads the first import of each contact of a page.
func (s *Service) provenance(ctx context.Context, ws string, page []contact.Contact) (map[string]Provenance, error) {
	out := map[string]Provenance{}
	args := []any{strings.ToLower(ws)}
	var ph strings.Builder
	for i, c := range page {
		if !id.Valid(c.ID) {
			continue
		}
		if i > 0 {
			ph.WriteByte(',')
		}
		args = append(args, c.ID)
		fmt.Fprintf(&ph, "$%d", len(args))
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT contact_id, import_id, source_name, recorded_at FROM contact_provenance
		WHERE workspace_id = $1 AND contact_id IN (`+ph.String()+`) ORDER BY recorded_at, import_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read provenance: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cid string
		var p Provenance
		var at time.Time
		if err := rows.Scan(&cid, &p.ImportID, &p.SourceName, &at); err != nil {
			return nil, err
		}
		if _, ok := out[cid]; ok {
			continue
		}
		at = at.UTC()
		p.ImportedAt = &at
		out[cid] = p
	}
	return out, rows.Err()
}
