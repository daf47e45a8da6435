package consent

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fairlead/fairlead/internal/store"
)

// The grants of a slot are stored packed: each row of permission_blocks
// holds up to blockCap contact keys of the slot in ID order, followed by
// one profile byte per key. A block covers the keys from its lo up to the
// next block's lo. Listing an audience reads one row per ~50 contacts
// instead of one per contact, which is what per-entry cost in the database
// made necessary; a changed grant rewrites its block (under 1 KB).

// blockCap is the most keys a block holds: 56 × 17 bytes keep a row of
// SQLite's WITHOUT ROWID table below the payload it stores on one 4 KiB
// page (about 1,000 bytes), and a PostgreSQL row below the size at which
// it would be compressed or moved out of line.
const blockCap = 56

// blockMin is the size below which a block that lost keys is merged with
// the next one, if both fit into one.
const blockMin = blockCap / 4

const keyLen = 16

// grantLock is the class of the PostgreSQL advisory locks that serialise
// the writers of one slot's blocks (the slot is the second key).
const grantLock = 7426102

// grantChange sets (adds, or changes the profile of) or removes one
// contact's grant in a slot.
type grantChange struct {
	key  [keyLen]byte
	prof byte
	del  bool
}

// block is one row of permission_blocks, decoded.
type block struct {
	lo    []byte
	keys  []byte // n × 16 bytes, ascending
	profs []byte // n bytes
}

func (b *block) n() int { return len(b.profs) }

func (b *block) key(i int) []byte { return b.keys[i*keyLen : (i+1)*keyLen] }

func decodeBlock(lo, entries []byte) (block, error) {
	if len(entries)%(keyLen+1) != 0 || len(entries) == 0 {
		return block{}, fmt.Errorf("permission state: block of %d bytes", len(entries))
	}
	n := len(entries) / (keyLen + 1)
	return block{lo: lo, keys: entries[:n*keyLen], profs: entries[n*keyLen:]}, nil
}

func encodeBlock(keys, profs []byte) []byte {
	out := make([]byte, 0, len(keys)+len(profs))
	return append(append(out, keys...), profs...)
}

// search is the position of key among the block's keys.
func search(keys []byte, key []byte) (int, bool) {
	lo, hi := 0, len(keys)/keyLen
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := bytes.Compare(keys[m*keyLen:(m+1)*keyLen], key); {
		case c == 0:
			return m, true
		case c < 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return lo, false
}

// merge applies changes (ascending by key) to the block's entries.
func merge(keys, profs []byte, chs []grantChange) (outKeys, outProfs []byte, changed bool) {
	outKeys = make([]byte, 0, len(keys)+len(chs)*keyLen)
	outProfs = make([]byte, 0, len(profs)+len(chs))
	i := 0
	n := len(profs)
	for _, c := range chs {
		for i < n && bytes.Compare(keys[i*keyLen:(i+1)*keyLen], c.key[:]) < 0 {
			outKeys, outProfs = append(outKeys, keys[i*keyLen:(i+1)*keyLen]...), append(outProfs, profs[i])
			i++
		}
		present := i < n && bytes.Equal(keys[i*keyLen:(i+1)*keyLen], c.key[:])
		switch {
		case c.del && present:
			i++
			changed = true
		case c.del:
		case present:
			outKeys, outProfs = append(outKeys, c.key[:]...), append(outProfs, c.prof)
			changed = changed || profs[i] != c.prof
			i++
		default:
			outKeys, outProfs = append(outKeys, c.key[:]...), append(outProfs, c.prof)
			changed = true
		}
	}
	outKeys, outProfs = append(outKeys, keys[i*keyLen:]...), append(outProfs, profs[i:]...)
	return outKeys, outProfs, changed
}

// applyGrants writes changes (ascending by key, one per key) into the
// slot's blocks in q, the writing transaction. On PostgreSQL the slot's
// writers are serialised by an advisory lock held until the commit; a
// transaction that changes several slots must apply them in ascending slot
// order, so that two never wait for each other.
func (l *Ledger) applyGrants(ctx context.Context, q store.Querier, slot int64, chs []grantChange) error {
	if len(chs) == 0 {
		return nil
	}
	if l.db.Dialect == store.Postgres {
		if _, err := q.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, grantLock, slot); err != nil {
			return fmt.Errorf("lock permission slot: %w", err)
		}
	}
	var zero [keyLen]byte
	for len(chs) > 0 {
		// The block whose range holds the first key, and the one after it;
		// when no block starts at or below the key, the first two.
		rows, err := q.QueryContext(ctx, `SELECT lo, entries FROM permission_blocks WHERE slot = $1 AND lo >= coalesce((SELECT lo FROM permission_blocks WHERE slot = $1 AND lo <= $2 ORDER BY lo DESC LIMIT 1), $3) ORDER BY lo LIMIT 2`,
			slot, chs[0].key[:], zero[:])
		if err != nil {
			return fmt.Errorf("read permission block: %w", err)
		}
		var got []block
		for rows.Next() {
			var lo, entries []byte
			if err := rows.Scan(&lo, &entries); err != nil {
				rows.Close()
				return fmt.Errorf("read permission block: %w", err)
			}
			b, err := decodeBlock(lo, entries)
			if err != nil {
				rows.Close()
				return err
			}
			got = append(got, b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read permission block: %w", err)
		}
		var cur, next *block
		if len(got) > 0 {
			cur = &got[0]
		}
		if len(got) > 1 {
			next = &got[1]
		}
		// The changes inside cur's range.
		j := len(chs)
		if next != nil {
			j, _ = slices.BinarySearchFunc(chs, next.lo, func(c grantChange, lo []byte) int { return bytes.Compare(c.key[:], lo) })
		}
		part := chs[:j]
		chs = chs[j:]
		if err := l.rewriteBlock(ctx, q, slot, cur, next, part); err != nil {
			return err
		}
	}
	return nil
}

// blockWrites are the rows a change of blocks deletes and (re)writes.
// The deletes run first: a block whose lo moved may leave its old lo to
// a block split off it.
type blockWrites struct {
	dels []any // slot, lo pairs
	puts []any // slot, lo, entries triples
}

// rewriteBlock applies chs to cur (nil: the slot has no block yet), whose
// range ends at next (nil: at the end), splitting a block that overflows
// and merging one that fell small with next.
func (l *Ledger) rewriteBlock(ctx context.Context, q store.Querier, slot int64, cur, next *block, chs []grantChange) error {
	var w blockWrites
	w.plan(slot, cur, next, chs)
	return l.writeBlocks(ctx, q, &w, nil)
}

// plan adds to w what applying chs to cur (see rewriteBlock) writes.
func (w *blockWrites) plan(slot int64, cur, next *block, chs []grantChange) {
	var keys, profs, lo []byte
	if cur != nil {
		keys, profs, lo = cur.keys, cur.profs, cur.lo
	}
	oldLast := []byte(nil)
	if len(keys) > 0 {
		oldLast = keys[len(keys)-keyLen:]
	}
	keys, profs, changed := merge(keys, profs, chs)
	if !changed {
		return
	}
	if len(profs) == 0 {
		w.dels = append(w.dels, slot, lo)
		return
	}
	newLo := lo
	if newLo == nil || bytes.Compare(keys[:keyLen], newLo) < 0 {
		newLo = keys[:keyLen]
		if cur != nil {
			w.dels = append(w.dels, slot, lo)
		}
	}
	if len(profs) < blockMin && next != nil && len(profs)+next.n() <= blockCap {
		keys, profs = append(keys, next.keys...), append(profs, next.profs...)
		w.dels = append(w.dels, slot, next.lo)
	}
	// Keys appended past the end of the last block (new contacts: their
	// IDs grow with time) fill blocks to the brim; anything else splits
	// evenly, leaving room on both sides.
	var sizes []int
	n := len(profs)
	appended := next == nil && (oldLast == nil || bytes.Compare(firstSet(chs), oldLast) > 0)
	switch {
	case n <= blockCap:
		sizes = []int{n}
	case appended:
		for left := n; left > 0; left -= blockCap {
			sizes = append(sizes, min(blockCap, left))
		}
	default:
		k := (n + blockCap - 1) / blockCap
		for i := range k {
			sizes = append(sizes, n*(i+1)/k-n*i/k)
		}
	}
	at := 0
	for i, s := range sizes {
		blo := keys[at*keyLen : (at+1)*keyLen]
		if i == 0 {
			blo = newLo
		}
		w.puts = append(w.puts, slot, blo, encodeBlock(keys[at*keyLen:(at+s)*keyLen], profs[at:at+s]))
		at += s
	}
}

// writeBlocks runs w in q: the deletes, then every block in one upsert
// per hundred blocks. mark (nil: none) are the arguments of contacts'
// marks (markSQL, six per contact), which on PostgreSQL go into the first
// upsert's statement, and on SQLite follow it. With q a store.Combined the
// upserts and the marks are queued in it, to go out with its other writes.
func (l *Ledger) writeBlocks(ctx context.Context, q store.Querier, w *blockWrites, mark []any) error {
	for i := 0; i < len(w.dels); i += 2 {
		if _, err := q.ExecContext(ctx, `DELETE FROM permission_blocks WHERE slot = $1 AND lo = $2`, w.dels[i], w.dels[i+1]); err != nil {
			return fmt.Errorf("write permission block: %w", err)
		}
	}
	const per = 100
	if c, ok := q.(*store.Combined); ok {
		// Held back to go out with the writes queued before them.
		for adds := w.puts; len(adds) > 0; {
			rows := min(per, len(adds)/3)
			c.Defer(`INSERT INTO permission_blocks (slot, lo, entries) VALUES `+store.Values(l.db.Dialect, rows, 3)+` ON CONFLICT (slot, lo) DO UPDATE SET entries = excluded.entries`, adds[:rows*3]...)
			adds = adds[rows*3:]
		}
		if mark != nil {
			c.Defer(marksAt(l.db.Dialect, 0, len(mark)/markCols), mark...)
		}
		return nil
	}
	for adds := w.puts; len(adds) > 0; {
		rows := min(per, len(adds)/3)
		stmt := `INSERT INTO permission_blocks (slot, lo, entries) VALUES ` + store.Values(l.db.Dialect, rows, 3) + ` ON CONFLICT (slot, lo) DO UPDATE SET entries = excluded.entries`
		args := adds[:rows*3]
		if mark != nil && l.db.Dialect == store.Postgres {
			stmt = `WITH mark AS (` + marksAt(l.db.Dialect, rows*3, len(mark)/markCols) + `) ` + stmt
			args = append(slices.Clip(args), mark...)
			mark = nil
		}
		if _, err := q.ExecContext(ctx, stmt, args...); err != nil {
			return fmt.Errorf("write permission block: %w", err)
		}
		adds = adds[rows*3:]
	}
	if mark != nil {
		if _, err := q.ExecContext(ctx, marksAt(l.db.Dialect, 0, len(mark)/markCols), mark...); err != nil {
			return fmt.Errorf("write permission mark: %w", err)
		}
	}
	return nil
}

// slotLocks is the PostgreSQL statement that takes the advisory locks of
// the slots of chs (ascending) in that order, with its parameters
// numbered from n+1, and their arguments.
func slotLocks(chs []slotChange, n int) (string, []any) {
	var sb strings.Builder
	args := make([]any, 0, len(chs)+1)
	args = append(args, grantLock)
	fmt.Fprintf(&sb, `SELECT pg_advisory_xact_lock($%d, s) FROM (SELECT s FROM (VALUES `, n+1)
	for i, c := range chs {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "($%d::integer)", n+i+2)
		args = append(args, c.slot)
	}
	sb.WriteString(`) AS v(s) ORDER BY s) AS o`)
	return sb.String(), args
}

// applyContactGrants writes one contact's grant changes (at most one per
// slot, ascending by slot) and its mark in q: on PostgreSQL one statement
// takes the slots' locks in that order (unless locked: the transaction
// holds them), then one reads the block that holds the contact's key in
// every slot, with the block after it, and one upsert writes them all back
// — three statements where a slot at a time took three per slot.
func (l *Ledger) applyContactGrants(ctx context.Context, q store.Querier, chs []slotChange, mark []any, locked bool) error {
	if len(chs) == 0 {
		return l.writeBlocks(ctx, q, &blockWrites{}, mark)
	}
	if l.db.Dialect == store.Postgres && !locked {
		// The lock statement runs before the read, which thereby sees
		// every block written by the slots' previous holders (each
		// statement takes its own snapshot).
		stmt, args := slotLocks(chs, 0)
		if _, err := q.ExecContext(ctx, stmt, args...); err != nil {
			return fmt.Errorf("lock permission slots: %w", err)
		}
	}
	got, err := l.readContactBlocks(ctx, q, chs)
	if err != nil {
		return err
	}
	var w blockWrites
	for _, c := range chs {
		bs := got[c.slot]
		var cur, next *block
		if len(bs) > 0 {
			cur = &bs[0]
		}
		if len(bs) > 1 {
			next = &bs[1]
		}
		w.plan(c.slot, cur, next, []grantChange{c.change})
	}
	return l.writeBlocks(ctx, q, &w, mark)
}

// readContactBlocks reads, in one statement, for each change of chs (one
// per slot) the block whose range holds its key and the block after it —
// when no block starts at or below the key, the slot's first two — each
// slot's ascending by lo.
func (l *Ledger) readContactBlocks(ctx context.Context, q store.Querier, chs []slotChange) (map[int64][]block, error) {
	var sb strings.Builder
	var zero [keyLen]byte
	args := make([]any, 0, 2*len(chs)+1)
	args = append(args, zero[:])
	for i, c := range chs {
		if i > 0 {
			sb.WriteString(" UNION ALL ")
		}
		// As in applyGrants: the block whose range holds the key and the
		// one after it; when no block starts at or below the key, the
		// first two.
		fmt.Fprintf(&sb, `SELECT slot, lo, entries FROM (SELECT slot, lo, entries FROM permission_blocks WHERE slot = $%[1]d AND lo >= coalesce((SELECT lo FROM permission_blocks WHERE slot = $%[1]d AND lo <= $%[2]d ORDER BY lo DESC LIMIT 1), $1) ORDER BY lo LIMIT 2) AS b%[3]d`,
			len(args)+1, len(args)+2, i)
		args = append(args, c.slot, c.change.key[:])
	}
	rows, err := q.QueryContext(ctx, sb.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("read permission blocks: %w", err)
	}
	got := map[int64][]block{}
	for rows.Next() {
		var slot int64
		var lo, entries []byte
		if err := rows.Scan(&slot, &lo, &entries); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read permission blocks: %w", err)
		}
		b, err := decodeBlock(lo, entries)
		if err != nil {
			rows.Close()
			return nil, err
		}
		got[slot] = append(got[slot], b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read permission blocks: %w", err)
	}
	for _, bs := range got {
		slices.SortFunc(bs, func(x, y block) int { return bytes.Compare(x.lo, y.lo) })
	}
	return got, nil
}

// firstSet is the key of the first change that sets a grant (nil: none).
func firstSet(chs []grantChange) []byte {
	for i := range chs {
		if !chs[i].del {
			return chs[i].key[:]
		}
	}
	return nil
}

// blockOf reads the block whose range holds key (ok false: none does).
func (l *Ledger) blockOf(ctx context.Context, q store.Querier, slot int64, key []byte) (block, bool, error) {
	var lo, entries []byte
	err := q.QueryRowContext(ctx, `SELECT lo, entries FROM permission_blocks WHERE slot = $1 AND lo <= $2 ORDER BY lo DESC LIMIT 1`, slot, key).Scan(&lo, &entries)
	if errors.Is(err, sql.ErrNoRows) {
		return block{}, false, nil
	}
	if err != nil {
		return block{}, false, err
	}
	b, err := decodeBlock(lo, entries)
	return b, err == nil, err
}

// blockPage is how many blocks one round trip of a listing carries (about
// 14,000 keys at the usual fill).
const blockPage = 256

// scanBlocks calls row for each block of the slot in key order, with the
// key up to which the caller has seen keys already (nil: none), and page
// after each page of up to blockPage blocks, once the page's statement is
// closed (so page may take its time). The block passed to row is valid
// during the call only. Each page is one statement, so it sees one
// committed state; the next page starts at the block that then holds the
// last key seen, so a block split or merged between two pages loses or
// repeats no key as long as the caller skips keys up to after.
func (l *Ledger) scanBlocks(ctx context.Context, slot int64, row func(b block, after []byte) error, page func() error) error {
	var after []byte
	var last [keyLen]byte
	for {
		var rows *sql.Rows
		var err error
		if after == nil {
			rows, err = l.db.R.QueryContext(ctx, fmt.Sprintf(`SELECT lo, entries FROM permission_blocks WHERE slot = $1 ORDER BY lo LIMIT %d`, blockPage), slot)
		} else {
			rows, err = l.db.R.QueryContext(ctx, fmt.Sprintf(`SELECT lo, entries FROM permission_blocks WHERE slot = $1 AND lo >= coalesce((SELECT lo FROM permission_blocks WHERE slot = $1 AND lo <= $2 ORDER BY lo DESC LIMIT 1), $2) ORDER BY lo LIMIT %d`, blockPage), slot, after)
		}
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			var lo, entries sql.RawBytes
			if err := rows.Scan(&lo, &entries); err != nil {
				rows.Close()
				return err
			}
			b, err := decodeBlock(lo, entries)
			if err == nil {
				err = row(b, after)
			}
			if err != nil {
				rows.Close()
				return err
			}
			copy(last[:], b.key(b.n()-1))
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if err := page(); err != nil {
			return err
		}
		if n < blockPage {
			return nil
		}
		after = append(after[:0], last[:]...)
	}
}
