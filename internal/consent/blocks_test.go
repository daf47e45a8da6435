package consent

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// blockModel is what a slot's blocks must hold: key → profile.
type blockModel map[[keyLen]byte]byte

func (m blockModel) sorted() [][keyLen]byte {
	ks := slices.Collect(maps.Keys(m))
	slices.SortFunc(ks, func(a, b [keyLen]byte) int { return bytes.Compare(a[:], b[:]) })
	return ks
}

type blockFixture struct {
	*fixture
	slot int64
}

func newBlockFixture(t *testing.T, db *store.DB) *blockFixture {
	f := newFixture(t, db)
	ctx := context.Background()
	purposes, err := f.purposes.catalog(ctx, db.W, f.ws)
	if err != nil {
		t.Fatal(err)
	}
	var sl *slots
	if err := db.Tx(ctx, func(tx store.Tx) error {
		sl, err = f.ledger.loadSlots(ctx, tx, f.ws, purposes)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return &blockFixture{fixture: f, slot: sl.byKey[[2]string{"newsletter", "email"}]}
}

// apply writes the changes (any order) to slot in one transaction and
// into the model.
func (f *blockFixture) apply(slot int64, m blockModel, chs ...grantChange) {
	f.t.Helper()
	for _, c := range chs {
		if c.del {
			delete(m, c.key)
		} else {
			m[c.key] = c.prof
		}
	}
	chs = slices.Clone(chs)
	slices.SortFunc(chs, func(a, b grantChange) int { return bytes.Compare(a.key[:], b.key[:]) })
	if err := f.db.Tx(context.Background(), func(tx store.Tx) error {
		return f.ledger.applyGrants(context.Background(), tx, slot, chs)
	}); err != nil {
		f.t.Fatal(err)
	}
}

// layout reads the slot's blocks, checks that they keep their rules (keys
// ascending, within each block's range, lo not above the first key, none
// empty or over capacity) and hold exactly the model, and returns the
// number of keys of each block.
func (f *blockFixture) layout(slot int64, m blockModel) []int {
	f.t.Helper()
	rows, err := f.db.R.QueryContext(context.Background(), `SELECT lo, entries FROM permission_blocks WHERE slot = $1 ORDER BY lo`, slot)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var sizes []int
	var prev []byte
	got := blockModel{}
	for rows.Next() {
		var lo, e []byte
		if err := rows.Scan(&lo, &e); err != nil {
			f.t.Fatal(err)
		}
		b, err := decodeBlock(lo, e)
		if err != nil {
			f.t.Fatal(err)
		}
		if b.n() > blockCap || len(lo) != keyLen || bytes.Compare(lo, b.key(0)) > 0 || (prev != nil && bytes.Compare(prev, lo) >= 0) {
			f.t.Fatalf("block at %x (%d keys, first %x) breaks the layout after key %x", lo, b.n(), b.key(0), prev)
		}
		for i := range b.n() {
			k := b.key(i)
			if prev != nil && bytes.Compare(prev, k) >= 0 {
				f.t.Fatalf("block at %x: key %x after %x", lo, k, prev)
			}
			prev = slices.Clone(k)
			got[[keyLen]byte(k)] = b.profs[i]
		}
		sizes = append(sizes, b.n())
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	if !maps.Equal(got, m) {
		f.t.Fatalf("blocks hold %d keys, want %d (or profiles differ)", len(got), len(m))
	}
	return sizes
}

// listed is what AllowedContacts and CountAllowed report for the
// fixture's slot (newsletter × email) under filter f.
func (f *blockFixture) listed(sf StateFilter) ([]string, int) {
	f.t.Helper()
	var ids []string
	if err := f.ledger.AllowedContacts(context.Background(), f.ws, "newsletter", "email", sf, func(cid string) error {
		ids = append(ids, cid)
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
	n, err := f.ledger.CountAllowed(context.Background(), f.ws, "newsletter", "email", sf, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return ids, n
}

func (m blockModel) ids(mask, want byte) []string {
	var out []string
	for _, k := range m.sorted() {
		if m[k]&mask == want {
			out = append(out, string(id.AppendText(nil, k[:])))
		}
	}
	return out
}

// numKey makes a key that sorts as its number does.
func numKey(n int) [keyLen]byte {
	var k [keyLen]byte
	k[0] = 0x01
	k[12], k[13], k[14], k[15] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return k
}

func set(n int, prof byte) grantChange { return grantChange{key: numKey(n), prof: prof} }
func del(n int) grantChange            { return grantChange{key: numKey(n), del: true} }

// TestGrantBlockEdges walks a slot's blocks through their edges: a block
// filling up and splitting, a key removed from a full block, the first and
// last key of the slot added and removed, a block shrinking until it
// merges, the slot emptied; then random changes against a model, and a
// listing across pages while blocks split under it.
func TestGrantBlockEdges(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newBlockFixture(t, db)
		m := blockModel{}
		want := func(sizes ...int) {
			t.Helper()
			if got := f.layout(f.slot, m); !slices.Equal(got, sizes) {
				t.Fatalf("block sizes %v, want %v", got, sizes)
			}
		}
		// Keys 100, 102, ... one change at a time, as single refreshes add them.
		for i := range blockCap {
			f.apply(f.slot, m, set(100+2*i, 33))
		}
		want(blockCap)
		// The block is full: one more key at the end starts a new block
		// and leaves the full one as it is.
		f.apply(f.slot, m, set(100+2*blockCap, 33))
		want(blockCap, 1)
		// A key inside the full block splits it evenly.
		f.apply(f.slot, m, set(101, 33))
		want(28, 29, 1)
		// A key removed from a full block: no merge, no split.
		for i := 0; i < 27; i++ {
			f.apply(f.slot, m, set(1000+i, 33)) // the last block fills to 28
		}
		f.apply(f.slot, m, set(1027, 33), set(1028, 33), set(1029, 33), set(1030, 33), set(1031, 33), set(1032, 33), set(1033, 33), set(1034, 33),
			set(1035, 33), set(1036, 33), set(1037, 33), set(1038, 33), set(1039, 33), set(1040, 33), set(1041, 33), set(1042, 33), set(1043, 33),
			set(1044, 33), set(1045, 33), set(1046, 33), set(1047, 33), set(1048, 33), set(1049, 33), set(1050, 33), set(1051, 33), set(1052, 33),
			set(1053, 33), set(1054, 33))
		want(28, 29, blockCap)
		f.apply(f.slot, m, del(1030))
		want(28, 29, blockCap-1)
		// A new first key: the first block's range is widened to it.
		f.apply(f.slot, m, set(5, 34))
		want(29, 29, blockCap-1)
		// A profile changes in place.
		f.apply(f.slot, m, set(5, 66))
		want(29, 29, blockCap-1)
		// The first and last keys removed.
		f.apply(f.slot, m, del(5))
		f.apply(f.slot, m, del(1054))
		want(28, 29, blockCap-2)
		// Removing a key nobody has changes nothing.
		f.apply(f.slot, m, del(7), del(2000))
		want(28, 29, blockCap-2)
		// The first block shrinks below a quarter and merges with the next.
		var shrink []grantChange
		for i := 1; i < 28-blockMin+2; i++ {
			shrink = append(shrink, del(100+2*i))
		}
		f.apply(f.slot, m, shrink...)
		want(blockMin-1+29, blockCap-2)
		// A key below everything while the first block is full enough.
		f.apply(f.slot, m, set(1, 1))
		want(blockMin+29, blockCap-2)

		ids, n := f.listed(StateFilter{})
		if !slices.Equal(ids, m.ids(0, 0)) || n != len(m) {
			t.Fatalf("listed %d (counted %d), want %d", len(ids), n, len(m))
		}
		// Profile 33 = b2c | self_provided, 66 = b2b | third_party, 1 = b2c.
		ids, n = f.listed(StateFilter{Audience: "b2c"})
		if b2c := m.ids(3, 1); !slices.Equal(ids, b2c) || n != len(b2c) {
			t.Fatalf("b2c: listed %d (counted %d), want %d", len(ids), n, len(b2c))
		}
		// Emptying the slot leaves no block.
		var all []grantChange
		for k := range m {
			all = append(all, grantChange{key: k, del: true})
		}
		f.apply(f.slot, m, all...)
		want()
		if ids, n := f.listed(StateFilter{}); len(ids) != 0 || n != 0 {
			t.Fatalf("empty slot lists %d, counts %d", len(ids), n)
		}

		// Random changes, one transaction each with up to 200 of them.
		r := rand.New(rand.NewPCG(7, 8))
		for step := 0; step < 60; step++ {
			var chs []grantChange
			seen := map[int]bool{}
			for range 1 + r.IntN(200) {
				n := r.IntN(3000)
				if seen[n] {
					continue
				}
				seen[n] = true
				if r.IntN(3) == 0 {
					chs = append(chs, del(n))
				} else {
					chs = append(chs, set(n, []byte{33, 66, 1}[r.IntN(3)]))
				}
			}
			f.apply(f.slot, m, chs...)
			f.layout(f.slot, m)
		}
		ids, n = f.listed(StateFilter{})
		if !slices.Equal(ids, m.ids(0, 0)) || n != len(m) {
			t.Fatalf("after random changes: listed %d (counted %d), want %d", len(ids), n, len(m))
		}

		// Many pages: a listing that crosses pages while, between two of
		// them, the block holding the last listed key splits and keys
		// before and after it change.
		var bulk []grantChange
		for i := 0; i < 3*blockPage*blockCap; i++ {
			bulk = append(bulk, set(10000+3*i, 33))
		}
		f.apply(f.slot, m, bulk...)
		before := maps.Clone(m)
		// The last key of the first page, as the listing will read it.
		var lo, e []byte
		if err := db.R.QueryRowContext(context.Background(), fmt.Sprintf(`SELECT lo, entries FROM permission_blocks WHERE slot = $1 ORDER BY lo LIMIT 1 OFFSET %d`, blockPage-1), f.slot).Scan(&lo, &e); err != nil {
			t.Fatal(err)
		}
		pb, _ := decodeBlock(lo, e)
		cut := [keyLen]byte(pb.key(pb.n() - 1))
		var got []string
		changed := false
		err := f.ledger.AllowedContacts(context.Background(), f.ws, "newsletter", "email", StateFilter{}, func(cid string) error {
			got = append(got, cid)
			if blockKey(cid) == cut {
				// Between the pages: the block holding cut (full) splits,
				// keys are added behind it, the next block loses its first.
				changed = true
				c := int(cut[12])<<24 | int(cut[13])<<16 | int(cut[14])<<8 | int(cut[15])
				f.apply(f.slot, m, set(c+1, 33), set(c+2, 33), del(c+3), set(c+4, 66), del(c-3))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !changed {
			t.Fatal("the listing never reached the end of its first page")
		}
		var wantIDs []string
		for _, k := range before.sorted() {
			if bytes.Compare(k[:], cut[:]) <= 0 {
				wantIDs = append(wantIDs, string(id.AppendText(nil, k[:])))
			}
		}
		for _, k := range m.sorted() {
			if bytes.Compare(k[:], cut[:]) > 0 {
				wantIDs = append(wantIDs, string(id.AppendText(nil, k[:])))
			}
		}
		if !slices.Equal(got, wantIDs) {
			t.Fatalf("listing across a split: %d IDs, want %d", len(got), len(wantIDs))
		}
		f.layout(f.slot, m)
	})
}

// TestConcurrentGrantChangesInOneSlot has many transactions change the
// grants of one slot at once, each also changing a second slot (in
// whatever order its changes arrive, as a bulk collects them), with keys
// interleaved so that they hit the same blocks and split them. On
// PostgreSQL, without the slot lock, two writers would rewrite the same
// block from the same old version and one's keys would be lost; with locks
// taken in the wrong order they would deadlock.
func TestConcurrentGrantChangesInOneSlot(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newBlockFixture(t, db)
		ctx := context.Background()
		other := f.slot + 1
		m, mo := blockModel{}, blockModel{}
		// A start with full blocks, so the first writers split them.
		var start, startOther []grantChange
		for i := 0; i < 4*blockCap; i++ {
			start = append(start, set(16*i, 33))
			startOther = append(startOther, set(16*i, 33))
		}
		f.apply(f.slot, m, start...)
		f.apply(other, mo, startOther...)

		const writers, rounds = 8, 12
		var mu sync.Mutex
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 1))
				for round := range rounds {
					var chs []slotChange
					for i := 0; i < 10; i++ {
						// Writer w owns the keys ≡ w+1 (mod 16) in both
						// slots, so the expected end state does not depend
						// on the order of the commits.
						n := 16*r.IntN(4*blockCap+20) + 1 + w
						var c grantChange
						if (round+i)%4 == 3 {
							c = del(n)
						} else {
							c = set(n, 66)
						}
						chs = append(chs, slotChange{f.slot, c})
						no := 16*r.IntN(4*blockCap+20) + 1 + w
						chs = append(chs, slotChange{other, set(no, byte(1+w))})
					}
					if w%2 == 0 {
						slices.Reverse(chs) // the other slot first
					}
					err := db.Tx(ctx, func(tx store.Tx) error {
						b := &Bulk{l: f.ledger, q: store.NewStmtCache(tx)}
						defer b.q.Close()
						b.pend(dedupe(chs))
						return b.writePending(ctx)
					})
					if err != nil {
						errs <- fmt.Errorf("writer %d round %d: %w", w, round, err)
						return
					}
					mu.Lock()
					for _, c := range dedupe(chs) {
						mm := m
						if c.slot == other {
							mm = mo
						}
						if c.change.del {
							delete(mm, c.change.key)
						} else {
							mm[c.change.key] = c.change.prof
						}
					}
					mu.Unlock()
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		f.layout(f.slot, m)
		f.layout(other, mo)
	})
}

// dedupe keeps the last change per slot and key, as a bulk has at most one
// per contact.
func dedupe(chs []slotChange) []slotChange {
	type sk struct {
		slot int64
		key  [keyLen]byte
	}
	last := map[sk]int{}
	for i, c := range chs {
		last[sk{c.slot, c.change.key}] = i
	}
	var out []slotChange
	for i, c := range chs {
		if last[sk{c.slot, c.change.key}] == i {
			out = append(out, c)
		}
	}
	return out
}

// TestContactGrantChangesAcrossSlots writes one contact's changes to
// several slots at a time, as a refresh does (one read and one upsert for
// all of them): random keys against a model, so that blocks fill, split,
// shrink, merge and get a new first key; then concurrent writers of
// distinct keys in overlapping slots, which on PostgreSQL must neither
// lose a key nor deadlock.
func TestContactGrantChangesAcrossSlots(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newBlockFixture(t, db)
		ctx := context.Background()
		const nslots, mirror = 4, 100
		models := make([]blockModel, nslots)
		for i := range models {
			models[i] = blockModel{}
		}
		var mu sync.Mutex
		write := func(chs []slotChange) error {
			err := db.Tx(ctx, func(tx store.Tx) error {
				if err := f.ledger.applyContactGrants(ctx, tx, chs, nil, false); err != nil {
					return err
				}
				// The same changes, a slot at a time, into mirror slots:
				// both must come to the same blocks.
				for _, c := range chs {
					if err := f.ledger.applyGrants(ctx, tx, c.slot+mirror, []grantChange{c.change}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, c := range chs {
				m := models[c.slot-f.slot]
				if c.change.del {
					delete(m, c.change.key)
				} else {
					m[c.change.key] = c.change.prof
				}
			}
			return nil
		}
		step := func(r *rand.Rand, n int, pSet int) []slotChange {
			var chs []slotChange
			for s := range int64(nslots) {
				switch x := r.IntN(10); {
				case x < pSet:
					chs = append(chs, slotChange{f.slot + s, set(n, []byte{33, 66, 1}[r.IntN(3)])})
				case x < 9:
					chs = append(chs, slotChange{f.slot + s, del(n)})
				}
			}
			return chs
		}
		r := rand.New(rand.NewPCG(3, 4))
		// Mostly sets first (blocks fill and split), then mostly deletes
		// (blocks shrink and merge), keys anywhere (new first keys).
		for i := range 900 {
			pSet := 8
			if i >= 600 {
				pSet = 2
			}
			if err := write(step(r, r.IntN(500), pSet)); err != nil {
				t.Fatal(err)
			}
			if i%150 == 149 {
				for s := range int64(nslots) {
					if got, want := f.layout(f.slot+s, models[s]), f.layout(f.slot+s+mirror, models[s]); !slices.Equal(got, want) {
						t.Fatalf("step %d, slot %d: blocks of %v keys, a slot at a time %v", i, s, got, want)
					}
				}
			}
		}
		const writers = 4
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 9))
				for range 40 {
					// Writer w owns the keys ≡ w (mod writers).
					if err := write(step(r, writers*r.IntN(150)+w, 6)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for s := range int64(nslots) {
			if got, want := f.layout(f.slot+s, models[s]), f.layout(f.slot+s+mirror, models[s]); !slices.Equal(got, want) {
				t.Fatalf("slot %d: blocks of %v keys, a slot at a time %v", s, got, want)
			}
		}
	})
}
