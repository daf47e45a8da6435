package keyring

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/fairlead/fairlead/internal/store"
)

// TextPrefix marks a sealed value kept in a text column, the sealed bytes
// following it in base64. Free texts that may name a person (a response
// summary, a feedback comment) live in tables whose columns are text on
// both databases; this keeps them sealed with the contact's data key, so an
// erasure's shredding makes them unreadable like every other personal field.
const TextPrefix = "sealed1:"

// SealText seals s with the contact's data key for a text column; the
// empty text stays empty.
func (k *Keyring) SealText(ctx context.Context, ws, contactID, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	b, err := k.Seal(ctx, ws, contactID, []byte(s))
	if err != nil {
		return "", err
	}
	return TextPrefix + base64.RawStdEncoding.EncodeToString(b), nil
}

// OpenText opens what SealText produced. Text without the prefix, written
// before these columns were sealed, comes back as it is. A nil Opener (the
// contact's key is shredded) opens every sealed text to "".
func (o *Opener) OpenText(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, TextPrefix)
	if !ok {
		return s, nil
	}
	if o == nil {
		return "", nil
	}
	b, err := base64.RawStdEncoding.DecodeString(rest)
	if err != nil {
		return "", errors.New("keyring: malformed sealed text")
	}
	pt, err := o.Open(b)
	if err != nil {
		return "", err
	}
	return string(pt), nil
}

// OpenTextColumn opens, in place, the sealed text column col of rows that
// all belong to one contact (rows as store.RowMaps returns them, for the
// access export).
func (k *Keyring) OpenTextColumn(ctx context.Context, ws, contactID string, rows []map[string]any, col string) error {
	if len(rows) == 0 {
		return nil
	}
	ops, err := k.Openers(ctx, ws, []string{contactID})
	if err != nil {
		return err
	}
	op, ok := ops[strings.ToLower(contactID)]
	if !ok {
		// No key in this workspace: not its contact (a shredded key is
		// present, as nil).
		return store.ErrNotFound
	}
	for _, r := range rows {
		s, _ := r[col].(string)
		if r[col], err = op.OpenText(s); err != nil {
			return fmt.Errorf("open %s: %w", col, err)
		}
	}
	return nil
}
