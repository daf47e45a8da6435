package consent

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/contact"
)

// TestStateEmpty: every field of the folded state counts in empty, so a
// field added later cannot let a contact with that fact take the
// decisions of a contact without events.
func TestStateEmpty(t *testing.T) {
	t.Parallel()
	if !foldParsed(nil).empty() {
		t.Fatal("the state of no events is not empty")
	}
	typ := reflect.TypeOf(state{})
	for i := range typ.NumField() {
		var st state
		v := reflect.ValueOf(&st).Elem().Field(i)
		v = reflect.NewAt(v.Type(), v.Addr().UnsafePointer()).Elem()
		if !setNonZero(v) {
			t.Fatalf("field %s: no non-zero value for kind %s", typ.Field(i).Name, v.Kind())
		}
		if st.empty() {
			t.Errorf("state with only %s set counts as empty", typ.Field(i).Name)
		}
	}
}

// setNonZero gives v, and in a struct each of its fields in turn, a
// non-zero value; a struct is set in its first settable field only, so
// that each field of state is tested on its own.
func setNonZero(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.String:
		v.SetString("x")
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		m.SetMapIndex(reflect.Zero(v.Type().Key()), reflect.Zero(v.Type().Elem()))
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Field(i)
			f = reflect.NewAt(f.Type(), f.Addr().UnsafePointer()).Elem()
			if setNonZero(f) {
				return true
			}
		}
		return false
	default:
		return false
	}
	return true
}

// TestGrantsShortcut: the grants of a contact with events, taken from the
// decisions for contacts without events wherever a purpose and channel
// sees no event — in a bulk and from the ledger's cache — equal the grants
// decided one by one, over generated histories (half of them consent
// records only, as a sign-up's), two catalogues with their own slots taking
// turns, and days that change.
func TestGrantsShortcut(t *testing.T) {
	t.Parallel()
	catalog := func(extra Purpose) ([]Purpose, *slots) {
		purposes := append(DefaultCatalog(), extra)
		sl := &slots{byKey: map[[2]string]int64{}}
		for _, p := range purposes {
			for _, ch := range p.Channels {
				sl.byKey[[2]string{p.Key, ch}] = int64(len(sl.byKey) + 1)
			}
		}
		return purposes, sl
	}
	type cat struct {
		purposes []Purpose
		sl       *slots
	}
	var cats []cat
	for _, extra := range []Purpose{
		{Key: "partner_webinars", Kind: "direct_marketing", Channels: []string{"email", "post"}},
		{Key: "partner_webinars", Kind: "direct_marketing", Channels: []string{"post"}},
		{Key: "partner_webinars", Kind: "consent_confirmation", Channels: []string{"email", "post"}},
	} {
		p, sl := catalog(extra)
		if len(cats) > 0 {
			sl = cats[0].sl // same slots, so that only the catalogue tells them apart
		}
		cats = append(cats, cat{p, sl})
	}
	// The first catalogue again, with its slots numbered otherwise.
	p, sl := catalog(cats[0].purposes[len(cats[0].purposes)-1])
	for k, n := range sl.byKey {
		sl.byKey[k] = n + 100
	}
	cats = append(cats, cat{p, sl})

	l := &Ledger{}
	start := time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(11, 12))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	consentKinds := []string{KindConsentRequested, KindConsentConfirmed, KindConsentWithdrawn, KindConsentUsed}
	var b *Bulk
	shortcuts := 0
	const n = 6000
	for i := range n {
		c := cats[(i/25)%len(cats)]
		now := start.Add(time.Duration(i/500) * 24 * time.Hour)
		if i%25 == 0 {
			b = &Bulk{} // a bulk is one transaction's, with one catalogue and slots
		}
		pts := contact.Points{
			Audience:     pick("b2c", "b2b"),
			Relationship: pick("prospect", "customer", "supplier"),
			DataSource:   pick("self_provided", "third_party"),
			EmailIndex:   pick("", "e1", "e1", "e2"),
			PhoneIndex:   pick("", "p1"),
		}
		consentOnly := r.IntN(2) == 0
		var rs []*row
		for j := range 1 + r.IntN(4) {
			kind := pick(consentKinds...)
			if !consentOnly && r.IntN(2) == 0 {
				kind = pick(EventKinds...)
			}
			p := c.purposes[r.IntN(len(c.purposes))]
			ch := p.Channels[r.IntN(len(p.Channels))]
			point := ""
			switch channelGroup(ch) {
			case "email":
				point = pick("e1", "e2", "")
			case "phone":
				point = pick("p1", "")
			}
			d := &decoded{
				channels: []string{ch},
				details: Details{
					Verification: pick("email_doi", "sms_doi", "none", ""), ObjectionType: pick("direct_marketing", "analytics"),
					Relationship: pick("customer", "supplier"), NoticeKind: pick("privacy_notice", "supplier_privacy_notice"),
					Basis: pick("HGB §257", "AO §147"), Until: pick("", "2030-12-31"), AddressFromSale: r.IntN(2) == 0,
					NoticeAtCollection: r.IntN(2) == 0, LastPurchaseAt: pick("2026-01-01", "2020-01-01"),
				},
				evidence: storedEvidence{Source: pick("form:f1", ""), NoticeHash: "h", TextSHA256: "t", ConfirmationMethod: pick("link", "")},
			}
			rs = append(rs, &row{Seq: int64(j + 1), Kind: kind, Purpose: p.Key, ContactPoint: point, dec: d,
				OccurredAt: now.Add(-time.Duration(r.IntN(400*24)) * time.Hour).Add(time.Duration(r.IntN(2)) * 48 * time.Hour)})
		}
		evs := chronological(rs, now)
		st := foldParsed(evs)
		if st.empty() {
			shortcuts++
		}
		want := grantsOf(pts, evs, st, c.purposes, c.sl, now, nil)
		for _, via := range []struct {
			name string
			b    *Bulk
		}{{"in a bulk", b}, {"alone", nil}} {
			if got := l.grants(pts, rs, c.purposes, c.sl, now, via.b); !reflect.DeepEqual(got, want) {
				t.Fatalf("contact %d %s (%+v, %d events): grants %v, decided one by one %v", i, via.name, pts, len(rs), got, want)
			}
		}
	}
	if shortcuts < n/3 {
		t.Errorf("only %d of %d histories took the shortcut", shortcuts, n)
	}
}

// BenchmarkGrants derives a new sign-up's grants (a pending newsletter
// consent by e-mail and the privacy notice) over the default catalogue:
// in a bulk, outside one from the ledger's cache (as a sign-up is
// prepared), and deciding every purpose and channel one by one.
func BenchmarkGrants(b *testing.B) {
	purposes := DefaultCatalog()
	sl := &slots{byKey: map[[2]string]int64{}}
	for _, p := range purposes {
		for _, ch := range p.Channels {
			sl.byKey[[2]string{p.Key, ch}] = int64(len(sl.byKey) + 1)
		}
	}
	now := time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC)
	pts := contact.Points{Audience: "b2c", Relationship: "prospect", DataSource: "self_provided", EmailIndex: "e1"}
	ev := storedEvidence{Source: "form:f1", NoticeHash: "h", TextSHA256: "t"}
	rs := []*row{
		{Seq: 1, Kind: KindNoticeGiven, ContactPoint: "e1", OccurredAt: now, dec: &decoded{details: Details{NoticeKind: "privacy_notice"}, evidence: ev}},
		{Seq: 2, Kind: KindConsentRequested, Purpose: "newsletter", ContactPoint: "e1", OccurredAt: now,
			dec: &decoded{channels: []string{"email"}, details: Details{Verification: "email_doi"}, evidence: ev}},
	}
	l := &Ledger{}
	b.Run("bulk", func(b *testing.B) {
		bulk := &Bulk{}
		b.ReportAllocs()
		for b.Loop() {
			l.grants(pts, rs, purposes, sl, now, bulk)
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l.grants(pts, rs, purposes, sl, now, nil)
		}
	})
	b.Run("one_by_one", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			evs := chronological(rs, now)
			grantsOf(pts, evs, foldParsed(evs), purposes, sl, now, nil)
		}
	})
}

// FuzzDecodedOf: what decodedOf gives instead of decoding an event's JSON
// is exactly what decoding it gives.
func FuzzDecodedOf(f *testing.F) {
	f.Add("email", "email_doi", "privacy_notice", "HGB §257", "form:f1", "link", true)
	f.Add("sms", "", "", "\xff", "", "", false)
	f.Fuzz(func(t *testing.T, ch, verification, noticeKind, basis, source, method string, flag bool) {
		chs := []string{ch}
		if ch == "" {
			chs = []string{}
		}
		d := Details{Verification: verification, NoticeKind: noticeKind, Basis: basis, PreTicked: flag, Until: method}
		se := storedEvidence{Source: source, ConfirmationMethod: method, NoticeHash: basis}
		got := decodedOf(chs, d, se)
		if got == nil {
			return
		}
		chj, _ := json.Marshal(chs)
		dj, _ := json.Marshal(d)
		ej, _ := json.Marshal(se)
		r := &row{Channels: string(chj), Details: string(dj), Ev: string(ej)}
		r.decode()
		if !reflect.DeepEqual(got, r.dec) {
			t.Fatalf("decodedOf %+v, decoded %+v", got, r.dec)
		}
	})
}

// TestDecodedOfFallsBack: values JSON would change are decoded.
func TestDecodedOfFallsBack(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		chs []string
		d   Details
		se  storedEvidence
	}{
		"invalid UTF-8 in details":  {d: Details{Basis: "a\xffb"}},
		"invalid UTF-8 in evidence": {se: storedEvidence{Source: "\xc3"}},
		"invalid UTF-8 in channels": {chs: []string{"\xff"}},
		"record changes":            {d: Details{Changes: []contact.FieldChange{}}},
	} {
		if decodedOf(tc.chs, tc.d, tc.se) != nil {
			t.Errorf("%s: not decoded", name)
		}
	}
	if decodedOf([]string{"email"}, Details{Verification: "email_doi"}, storedEvidence{Source: "form:f1"}) == nil {
		t.Error("plain values decoded")
	}
}
