package consent

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fairlead/fairlead/internal/store"
)

// On SQLite an event's non-personal evidence is stored packed: the JSON
// the hash covers spends half its bytes on key names and on two SHA-256
// values in hex. packEvidence gives the packed form, which unpackEvidence
// turns back into exactly the JSON text; evidence whose JSON does not come
// back byte for byte from its fields is stored as the text it is, and so
// is every evidence stored before and on PostgreSQL. The column keeps its
// TEXT type: SQLite stores a BLOB in it as a BLOB, and the reader tells the
// two apart by their type.
const evidencePackV1 = 1

func (l *Ledger) evidenceArg(ev string) any {
	if l.db.Dialect != store.SQLite {
		return ev
	}
	if b, ok := packEvidence(ev); ok {
		return b
	}
	return ev
}

func packEvidence(ev string) ([]byte, bool) {
	var e storedEvidence
	if emptyJSON(ev) || json.Unmarshal([]byte(ev), &e) != nil {
		return nil, false
	}
	b := []byte{evidencePackV1, 0}
	for i, h := range []string{e.NoticeHash, e.TextSHA256} {
		if h == "" {
			continue
		}
		raw, err := hex.DecodeString(h)
		if err != nil || len(raw) != 32 || hex.EncodeToString(raw) != h {
			return nil, false
		}
		b[1] |= 1 << i
		b = append(b, raw...)
	}
	for _, s := range []string{e.Source, e.ConfirmationMethod, e.ConfirmedAt, e.Actor} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if back, err := unpackEvidence(b); err != nil || back != ev {
		return nil, false
	}
	return b, true
}

func unpackEvidence(b []byte) (string, error) {
	if len(b) < 2 || b[0] != evidencePackV1 || b[1]&^3 != 0 {
		return "", errors.New("evidence: unknown packed form")
	}
	var e storedEvidence
	rest := b[2:]
	for i, dst := range []*string{&e.NoticeHash, &e.TextSHA256} {
		if b[1]&(1<<i) == 0 {
			continue
		}
		if len(rest) < 32 {
			return "", errors.New("evidence: packed form cut short")
		}
		*dst = hex.EncodeToString(rest[:32])
		rest = rest[32:]
	}
	for _, dst := range []*string{&e.Source, &e.ConfirmationMethod, &e.ConfirmedAt, &e.Actor} {
		n, k := binary.Uvarint(rest)
		if k <= 0 || uint64(len(rest)-k) < n {
			return "", errors.New("evidence: packed form cut short")
		}
		*dst = string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	if len(rest) != 0 {
		return "", errors.New("evidence: packed form too long")
	}
	j, err := json.Marshal(e)
	return string(j), err
}

// evidenceText scans stored evidence into the JSON text its hash covers.
type evidenceText struct{ s *string }

func (p evidenceText) Scan(v any) error {
	switch x := v.(type) {
	case []byte:
		// Bytes that are no packed evidence (changed in the database)
		// are taken as they are: they match no hash, so verify names the
		// event.
		s, err := unpackEvidence(x)
		if err != nil {
			s = string(x)
		}
		*p.s = s
	case string:
		*p.s = x
	default:
		return fmt.Errorf("evidence stored as %T", v)
	}
	return nil
}
