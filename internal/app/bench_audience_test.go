package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/workspace"
)

// TestBulkGenerationIsWhatTheLedgerWrites: contacts made by the benchmark's
// bulk generator form a chain verify accepts, carry exactly the permission
// state a contact-by-contact derivation gives, and resolve to the same
// audiences as single decisions.
func TestBulkGenerationIsWhatTheLedgerWrites(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cfg := config.Config{MasterKey: base64.StdEncoding.EncodeToString(make([]byte, 32))}
		_, purposes, notices, ledger := consentServices(db, cfg)
		ws, err := workspace.Create(ctx, db.W, "bulk", "Bulk", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		text, _, err := notices.Create(ctx, ws.ID, "test", consent.NewNotice{Kind: "consent_text", Language: "de", Title: "Newsletter", Body: "Ja, ich möchte den Newsletter per E-Mail erhalten."})
		if err != nil {
			t.Fatal(err)
		}
		const n = 2500 // three transactions, the last one partial
		ids, err := generateContacts(ctx, db, ledger, ws.ID, text, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != n || !slices.IsSorted(ids) {
			t.Fatalf("generated %d IDs (sorted: %v), want %d in order", len(ids), slices.IsSorted(ids), n)
		}

		rep, err := ledger.Verify(ctx, ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK || rep.Events < int64(n) {
			t.Fatalf("verify: %+v (break %+v)", rep, rep.Break)
		}

		// The stored state equals what one Refresh per contact derives.
		before := permissionState(t, db, ws.ID)
		if err := db.Tx(ctx, func(tx store.Tx) error {
			for _, cid := range ids {
				if err := ledger.Refresh(ctx, tx, ws.ID, cid); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		after := permissionState(t, db, ws.ID)
		if len(before) == 0 || !slices.Equal(before, after) {
			t.Fatalf("bulk state (%d grants) differs from the derived one (%d grants)", len(before), len(after))
		}

		res := audience.New(db, ledger, purposes, nil)
		for _, q := range []audience.Query{
			{Purpose: "newsletter", Channel: "email"},
			{Purpose: "newsletter", Channel: "post"},
			{Purpose: "product_offers", Channel: "email", Filter: audience.Filter{Audience: "b2b"}},
		} {
			var got []string
			if _, err := res.Resolve(ctx, ws.ID, q, func(cid string) error { got = append(got, cid); return nil }); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, cid := range ids {
				if q.Filter.Audience != "" {
					var aud string
					if err := db.R.QueryRowContext(ctx, `SELECT audience FROM contacts WHERE workspace_id = $1 AND id = $2`, ws.ID, cid).Scan(&aud); err != nil {
						t.Fatal(err)
					}
					if aud != q.Filter.Audience {
						continue
					}
				}
				d, err := res.Decide(ctx, ws.ID, cid, q.Purpose, q.Channel, audience.Campaign{})
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed {
					want = append(want, cid)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s/%s %+v: audience of %d, single decisions allow %d", q.Purpose, q.Channel, q.Filter, len(got), len(want))
			}
			if q.Channel == "email" && q.Filter.Audience == "" && (len(got) < n/3 || len(got) > n/2) {
				t.Fatalf("newsletter/email allows %d of %d: the generator's mix is off", len(got), n)
			}
		}
	})
}

// permissionState lists a workspace's stored grants as
// "purpose/channel/contact/profile", read from the blocks, and fails the
// test when the blocks break their layout (keys ascending across a slot's
// blocks, each block within its range and capacity) or disagree with
// the contacts' marks.
func permissionState(t *testing.T, db *store.DB, ws string) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.R.QueryContext(ctx, `SELECT s.slot, s.purpose_key, s.channel, b.lo, b.entries FROM permission_blocks b JOIN permission_slots s ON s.slot = b.slot
		WHERE s.workspace_id = $1 ORDER BY s.purpose_key, s.channel, b.lo`, ws)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fromBlocks := map[string]bool{}
	var prevSlot int64 = -1
	var prev []byte
	for rows.Next() {
		var slot int64
		var p, ch string
		var lo, e []byte
		if err := rows.Scan(&slot, &p, &ch, &lo, &e); err != nil {
			t.Fatal(err)
		}
		n := len(e) / 17
		if n == 0 || n > 56 || len(e) != n*17 || len(lo) != 16 {
			t.Fatalf("%s/%s: block of %d bytes at %x", p, ch, len(e), lo)
		}
		if slot != prevSlot {
			prevSlot, prev = slot, nil
		}
		if bytes.Compare(lo, e[:16]) > 0 || (prev != nil && bytes.Compare(prev, lo) >= 0) {
			t.Fatalf("%s/%s: block at %x out of its range (first key %x, previous key %x)", p, ch, lo, e[:16], prev)
		}
		for i := 0; i < n; i++ {
			k := e[i*16 : (i+1)*16]
			if prev != nil && bytes.Compare(prev, k) >= 0 {
				t.Fatalf("%s/%s: keys out of order in block %x", p, ch, lo)
			}
			prev = k
			out = append(out, fmt.Sprintf("%s/%s/%x/%d", p, ch, k, e[n*16+i]))
			fromBlocks[fmt.Sprintf("%d/%x/%d", slot, k, e[n*16+i])] = true
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	// The marks list the same grants.
	mrows, err := db.R.QueryContext(ctx, `SELECT m.contact_id, m.granted, m.profile FROM permission_checks m JOIN permission_spaces p ON p.space = m.space WHERE p.workspace_id = $1 AND m.granted IS NOT NULL`, ws)
	if err != nil {
		t.Fatal(err)
	}
	defer mrows.Close()
	fromMarks := 0
	for mrows.Next() {
		var c []byte // 16 bytes on SQLite, the UUID's text on PostgreSQL
		var granted string
		var profile int
		if err := mrows.Scan(&c, &granted, &profile); err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprintf("%x", c)
		if len(c) != 16 {
			k = strings.ReplaceAll(string(c), "-", "")
		}
		for _, slot := range strings.Split(granted, ",") {
			if g := slot + "/" + k + "/" + fmt.Sprint(profile); !fromBlocks[g] {
				t.Fatalf("mark grants %s, the blocks do not", g)
			}
			fromMarks++
		}
	}
	if err := mrows.Err(); err != nil {
		t.Fatal(err)
	}
	if fromMarks != len(fromBlocks) {
		t.Fatalf("the marks list %d grants, the blocks hold %d", fromMarks, len(fromBlocks))
	}
	return out
}
