package consent

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
)

// Granted holds, for one contact, which of the business purposes asked of
// StoredGrants its permission state grants: bit i for purposeKeys[i].
type Granted uint64

// Has reports whether purposeKeys[i] is granted.
func (g Granted) Has(i int) bool { return i >= 0 && i < 64 && g&(1<<i) != 0 }

// StoredGrants reads the permission state of a sender's chunk of contacts
// for up to 64 business purposes on one channel: which of them the engine
// allows each contact with no campaign-specific facts, as committed when
// the read starts (the state is rewritten in the transaction of every
// ledger append and contact change, so a withdrawal committed before is
// seen). One statement reads the chunk's marks by key; no ledger event is
// read or parsed.
//
// A contact is left out of the result where the state cannot vouch for
// it, and must be decided live: it has no mark (not a contact of the
// workspace, or written around the contact store), its mark was derived
// under a smaller catalogue of purposes, or it is due for a recheck at
// asOf (time alone may have changed its decisions). When a purpose × channel
// has no slot yet, no contact is vouched for.
func (l *Ledger) StoredGrants(ctx context.Context, ws string, ids []string, channel string, purposeKeys []string, asOf time.Time) (map[string]Granted, error) {
	out := make(map[string]Granted, len(ids))
	if !id.Valid(ws) || len(ids) == 0 {
		return out, nil
	}
	if len(purposeKeys) > 64 {
		return nil, fmt.Errorf("stored grants: %d purposes asked, at most 64", len(purposeKeys))
	}
	ws = strings.ToLower(ws)
	sl, err := l.grantSlots(ctx, ws, channel, purposeKeys)
	if err != nil || sl == nil {
		return out, err
	}
	args := []any{sl.space, ws, false}
	var b strings.Builder
	// The catalogue count is an uncorrelated subquery: evaluated once per
	// statement, in the same snapshot as the marks.
	b.WriteString(`SELECT contact_id, granted, recheck_at, catalog < (SELECT count(*) FROM purposes WHERE workspace_id = $2 AND built_in = $3)
		FROM permission_checks WHERE space = $1 AND contact_id IN (`)
	for _, cid := range ids {
		if id.Valid(cid) {
			args = append(args, l.contactKey(strings.ToLower(cid)))
		}
	}
	if len(args) == 3 {
		return out, nil
	}
	// The list is padded with its last key to a power of two, so a few
	// texts serve every call and each is parsed once (store.QueryRead).
	for n := len(args) - 3; n < 1024 && n&(n-1) != 0; n++ {
		args = append(args, args[len(args)-1])
	}
	for i := 4; i <= len(args); i++ {
		if i > 4 {
			b.WriteByte(',')
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(i))
	}
	b.WriteByte(')')
	rows, err := l.db.QueryRead(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("read permission marks: %w", err)
	}
	defer rows.Close()
	due := asOf.UTC().UnixMicro()
	var key []byte
	var pgKey string
	for rows.Next() {
		var held sql.NullString
		var recheck sql.NullInt64
		var older bool
		var cid string
		if l.db.Dialect == store.Postgres {
			if err := rows.Scan(&pgKey, &held, &recheck, &older); err != nil {
				return nil, fmt.Errorf("read permission marks: %w", err)
			}
			cid = strings.ToLower(pgKey)
		} else {
			if err := rows.Scan(&key, &held, &recheck, &older); err != nil {
				return nil, fmt.Errorf("read permission marks: %w", err)
			}
			if len(key) != keyLen {
				return nil, fmt.Errorf("permission state: contact key of %d bytes", len(key))
			}
			cid = string(id.AppendText(nil, key))
		}
		if older || (recheck.Valid && recheck.Int64 <= due) {
			continue
		}
		have, err := parseGranted(held.String)
		if err != nil {
			return nil, err
		}
		var g Granted
		for i, n := range sl.want {
			for _, h := range have {
				if h == n {
					g |= 1 << i
					break
				}
			}
		}
		out[cid] = g
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read permission marks: %w", err)
	}
	return out, nil
}

// askedSlots are the workspace's space and the slots of the purposes a
// StoredGrants call asks about, in the order asked.
type askedSlots struct {
	space int64
	want  []int64
}

// grantSlots finds the slots of purposeKeys on channel among the committed
// ones (slots are never changed or deleted, so the ledger's cache of them
// is good for as long as it covers them); nil when one has none yet.
func (l *Ledger) grantSlots(ctx context.Context, ws, channel string, purposeKeys []string) (*askedSlots, error) {
	find := func(sl *slots) *askedSlots {
		if sl == nil || sl.space == 0 {
			return nil
		}
		a := &askedSlots{space: sl.space, want: make([]int64, len(purposeKeys))}
		for i, k := range purposeKeys {
			n, ok := sl.byKey[[2]string{k, channel}]
			if !ok {
				return nil
			}
			a.want[i] = n
		}
		return a
	}
	if c, ok := l.slotCache.Load(ws); ok {
		if a := find(c.(*slots)); a != nil {
			return a, nil
		}
	}
	sl, err := readSlots(ctx, l.db.R, ws)
	if err != nil {
		return nil, err
	}
	a := find(sl)
	if a != nil {
		l.slotCache.Store(ws, sl)
	}
	return a, nil
}
