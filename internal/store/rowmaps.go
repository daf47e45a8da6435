package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// RowMaps runs a query and returns every row as a map from column name to
// value. It is for documents that must show whatever a table holds about a
// person, such as the access export (Art. 15 GDPR), where a typed struct per
// table would drift from the schema. Times come back in UTC, valid UTF-8
// bytes as text, and IDs lower-cased when the column name ends in "id".
func RowMaps(ctx context.Context, q Querier, query string, args ...any) ([]map[string]any, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("scan row: %w", err)
		}
		m := make(map[string]any, len(cols))
		for i, c := range cols {
			m[c] = normalize(c, vals[i])
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func normalize(col string, v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case []byte:
		if utf8.Valid(x) {
			return normalize(col, string(x))
		}
		return x
	case string:
		if col == "id" || strings.HasSuffix(col, "_id") {
			return strings.ToLower(x)
		}
		return x
	}
	return v
}

// Section is one named query of RowSections.
type Section struct{ Key, Query string }

// RowSections runs every section's query with the same arguments and
// returns its rows (as RowMaps does) under the section's key.
func RowSections(ctx context.Context, q Querier, secs []Section, args ...any) (map[string][]map[string]any, error) {
	out := make(map[string][]map[string]any, len(secs))
	for _, s := range secs {
		rows, err := RowMaps(ctx, q, s.Query, args...)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", s.Key, err)
		}
		out[s.Key] = rows
	}
	return out, nil
}
