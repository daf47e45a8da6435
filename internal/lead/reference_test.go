package lead_test

import (
	"context"
	"slices"
	"time"

	"github.com/fairlead/fairlead/internal/lead"
	"github.com/fairlead/fairlead/internal/track"
)

// member is a contact as the segment tests made it, with its score and
// stage as stored.
type member struct {
	id                              string
	audience, relationship, dataSrc string
	events                          []track.Event
	score                           float64
	stage                           string
}

// readLeads reads back each member's stored score and stage.
func (f *fixture) readLeads(ms []member) {
	f.t.Helper()
	for i := range ms {
		var err error
		if ms[i].score, err = f.svc.Score(context.Background(), f.ws, ms[i].id); err != nil {
			f.t.Fatal(err)
		}
		if ms[i].stage, err = f.svc.Stage(context.Background(), f.ws, ms[i].id); err != nil {
			f.t.Fatal(err)
		}
	}
}

// holds is what fl means for the member as of now, worked out by hand:
// the reference the database's counts are checked against. Nobody in
// these tests reaches the hand-off threshold, so nobody has an owner.
func (m member) holds(fl lead.Filter, now time.Time) bool {
	enum := func(v string) bool {
		switch fl.Op {
		case "eq":
			return v == fl.Value
		case "ne":
			return v != fl.Value
		}
		return slices.Contains(fl.Values, v)
	}
	switch {
	case fl.And != nil:
		for _, c := range fl.And {
			if !m.holds(c, now) {
				return false
			}
		}
		return true
	case fl.Or != nil:
		for _, c := range fl.Or {
			if m.holds(c, now) {
				return true
			}
		}
		return false
	case fl.Not != nil:
		return !m.holds(*fl.Not, now)
	case fl.Event != nil:
		since := now.AddDate(0, 0, -fl.Event.WithinDays)
		seen := false
		for _, e := range m.events {
			seen = seen || (e.Type == fl.Event.Type && (fl.Event.Name == "" || e.Name == fl.Event.Name) && !e.At.Before(since))
		}
		return seen == (fl.Op == "happened")
	}
	switch fl.Field {
	case "audience":
		return enum(m.audience)
	case "relationship":
		return enum(m.relationship)
	case "data_source":
		return enum(m.dataSrc)
	case "stage":
		return enum(m.stage)
	case "owner":
		return fl.Op == "absent"
	}
	s, n := m.score, *fl.Number
	return map[string]bool{"gt": s > n, "gte": s >= n, "lt": s < n, "lte": s <= n}[fl.Op]
}
