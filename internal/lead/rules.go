// Package lead scores contacts, moves them through the lifecycle stages,
// hands qualified leads to sales, keeps saved segments, and keeps data
// flagged as sensitive out of all of it unless the person gave explicit
// consent. It consumes the identified events of internal/track and asks
// internal/audience for every consent question.
package lead

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/track"
	"github.com/fairlead/fairlead/internal/validate"
)

// Stages of the lifecycle, in the order a lead usually moves.
const (
	StageVisitor            = "visitor"
	StageLead               = "lead"
	StageMarketingQualified = "marketing_qualified"
	StageSalesQualified     = "sales_qualified"
	StageCustomer           = "customer"
	StageDisqualified       = "disqualified"
)

// Stages lists every stage.
var Stages = []string{StageVisitor, StageLead, StageMarketingQualified, StageSalesQualified, StageCustomer, StageDisqualified}

// rank orders the stages the score moves a contact through; customer and
// disqualified are outside that ladder (-1).
func rank(stage string) int {
	switch stage {
	case StageVisitor:
		return 0
	case StageLead:
		return 1
	case StageMarketingQualified:
		return 2
	case StageSalesQualified:
		return 3
	}
	return -1
}

// FitAttributes are the attributes of the contact record a fit rule may
// test. organization and country are sealed personal fields: a rule set
// that names them makes scoring open each contact's record. "values.<name>"
// tests the current value the person gave in a form (capture's
// contact_values), also sealed.
var FitAttributes = []string{"audience", "relationship", "data_source", "organization", "country", "values.<name>"}

// Operators of a fit condition.
var FitOps = []string{"eq", "ne", "in", "present", "absent"}

// Condition tests one attribute of a contact.
type Condition struct {
	Attribute string   `json:"attribute"`
	Op        string   `json:"op"`
	Value     string   `json:"value,omitempty"`
	Values    []string `json:"values,omitempty"`
}

// FitRule gives points when all its conditions hold. Fit points do not
// decay: they describe who the person is, not what they did.
type FitRule struct {
	ID     string      `json:"id"`
	Label  Label       `json:"label"`
	Points float64     `json:"points"`
	When   []Condition `json:"when"`
}

// Cap limits the points one engagement rule gives per period.
type Cap struct {
	Points     float64 `json:"points"`
	PeriodDays int     `json:"period_days"`
}

// EngagementRule gives points for an event of a type (and name, unless
// ""); they decay with the rule set's half-life.
type EngagementRule struct {
	ID     string  `json:"id"`
	Label  Label   `json:"label"`
	Type   string  `json:"type"`
	Name   string  `json:"name,omitempty"`
	Points float64 `json:"points"`
	Cap    *Cap    `json:"cap,omitempty"`
}

// Label is a rule's name for people, in German and English.
type Label struct {
	DE string `json:"de"`
	EN string `json:"en"`
}

func (l Label) in(lang string) string {
	if lang == "de" && l.DE != "" {
		return l.DE
	}
	if l.EN != "" {
		return l.EN
	}
	return l.DE
}

// Thresholds are the scores at which the score moves a contact up.
type Thresholds struct {
	Lead               float64 `json:"lead"`
	MarketingQualified float64 `json:"marketing_qualified"`
	SalesQualified     float64 `json:"sales_qualified"`
}

// Assignment sends a handed-off lead whose record matches When to Owner
// (a user ID with the sales role); the first matching rule wins, and
// without one the lead goes round-robin to the workspace's sales users.
type Assignment struct {
	When  []Condition `json:"when"`
	Owner string      `json:"owner"`
}

// Rules is one version of a workspace's scoring and lifecycle rules.
type Rules struct {
	HalfLifeDays float64          `json:"half_life_days"`
	Fit          []FitRule        `json:"fit"`
	Engagement   []EngagementRule `json:"engagement"`
	Thresholds   Thresholds       `json:"thresholds"`
	// Handoff is the stage whose reaching hands a lead to sales:
	// marketing_qualified or sales_qualified.
	Handoff    string       `json:"handoff"`
	Assignment []Assignment `json:"assignment"`
}

// DefaultRules are the rules of a workspace that saved none: no points,
// hand-off at sales_qualified.
func DefaultRules() Rules {
	return Rules{HalfLifeDays: 30, Fit: []FitRule{}, Engagement: []EngagementRule{}, Assignment: []Assignment{},
		Thresholds: Thresholds{Lead: 1, MarketingQualified: 40, SalesQualified: 70}, Handoff: StageSalesQualified}
}

const (
	maxRules  = 200
	maxPoints = 1000
)

func checkCondition(field string, c Condition) error {
	attr := c.Attribute
	switch {
	case attr == "":
		return validate.Required(field + ".attribute")
	case strings.HasPrefix(attr, "values."):
		if n := strings.TrimPrefix(attr, "values."); n == "" || len(n) > 64 {
			return validate.Invalid(field+".attribute", field+".attribute: values.<name> needs a form field name of 1 to 64 characters")
		}
	case !slices.Contains(FitAttributes[:5], attr):
		return validate.OneOf(field+".attribute", attr, FitAttributes)
	}
	if !slices.Contains(FitOps, c.Op) {
		return validate.OneOf(field+".op", c.Op, FitOps)
	}
	var allowed []string
	switch attr {
	case "audience":
		allowed = contact.Audiences
	case "relationship":
		allowed = contact.Relationships
	case "data_source":
		allowed = contact.DataSources
	}
	vals := c.Values
	switch c.Op {
	case "eq", "ne":
		if c.Value == "" {
			return validate.Required(field + ".value")
		}
		vals = []string{c.Value}
	case "in":
		if len(c.Values) == 0 {
			return validate.Required(field + ".values")
		}
	case "present", "absent":
		if c.Value != "" || len(c.Values) > 0 {
			return validate.Invalid(field+".value", field+": present and absent take no value")
		}
	}
	if allowed != nil {
		for _, v := range vals {
			if !slices.Contains(allowed, v) {
				return validate.OneOf(field+".value", v, allowed)
			}
		}
	}
	return nil
}

func checkID(field, v string, seen map[string]bool) error {
	if v == "" {
		return validate.Required(field)
	}
	if len(v) > 64 || strings.ContainsAny(v, " \t\n") {
		return validate.Invalid(field, field+" must be 1 to 64 characters without spaces")
	}
	if seen[v] {
		return validate.Invalid(field, fmt.Sprintf("%s %q is used by two rules", field, v))
	}
	seen[v] = true
	return nil
}

func checkPoints(field string, p float64, positive bool) error {
	if math.IsNaN(p) || math.IsInf(p, 0) || p > maxPoints || p < -maxPoints || p == 0 || (positive && p < 0) {
		if positive {
			return validate.Invalid(field, fmt.Sprintf("%s must be above 0 and at most %d", field, maxPoints))
		}
		return validate.Invalid(field, fmt.Sprintf("%s must be between -%d and %d and not 0", field, maxPoints, maxPoints))
	}
	return nil
}

// Validate checks a rule set, naming the first bad field.
func (r Rules) Validate() error {
	if math.IsNaN(r.HalfLifeDays) || r.HalfLifeDays < 1 || r.HalfLifeDays > 3650 {
		return validate.Invalid("half_life_days", "half_life_days must be between 1 and 3650")
	}
	if len(r.Fit)+len(r.Engagement) > maxRules {
		return validate.Invalid("fit", fmt.Sprintf("a rule set has at most %d rules", maxRules))
	}
	seen := map[string]bool{}
	for i, f := range r.Fit {
		field := "fit[" + strconv.Itoa(i) + "]"
		if err := checkID(field+".id", f.ID, seen); err != nil {
			return err
		}
		if err := checkPoints(field+".points", f.Points, false); err != nil {
			return err
		}
		if len(f.When) == 0 {
			return validate.Required(field + ".when")
		}
		for j, c := range f.When {
			if err := checkCondition(field+".when["+strconv.Itoa(j)+"]", c); err != nil {
				return err
			}
		}
	}
	for i, e := range r.Engagement {
		field := "engagement[" + strconv.Itoa(i) + "]"
		if err := checkID(field+".id", e.ID, seen); err != nil {
			return err
		}
		if !slices.Contains(track.Types, e.Type) {
			return validate.OneOf(field+".type", e.Type, track.Types)
		}
		if len(e.Name) > track.MaxName {
			return validate.Invalid(field+".name", fmt.Sprintf("%s.name is longer than %d bytes", field, track.MaxName))
		}
		// Engagement decays in the log domain, which holds positive
		// amounts only.
		if err := checkPoints(field+".points", e.Points, true); err != nil {
			return err
		}
		if e.Cap != nil {
			if err := checkPoints(field+".cap.points", e.Cap.Points, true); err != nil {
				return err
			}
			if e.Cap.PeriodDays < 1 || e.Cap.PeriodDays > 365 {
				return validate.Invalid(field+".cap.period_days", field+".cap.period_days must be between 1 and 365")
			}
		}
	}
	t := r.Thresholds
	for _, c := range []struct {
		f string
		v float64
	}{{"thresholds.lead", t.Lead}, {"thresholds.marketing_qualified", t.MarketingQualified}, {"thresholds.sales_qualified", t.SalesQualified}} {
		if math.IsNaN(c.v) || c.v <= 0 || c.v > 100000 {
			return validate.Invalid(c.f, c.f+" must be above 0 and at most 100000")
		}
	}
	if !(t.Lead <= t.MarketingQualified && t.MarketingQualified <= t.SalesQualified) {
		return validate.Invalid("thresholds", "thresholds must rise: lead <= marketing_qualified <= sales_qualified")
	}
	handoff := []string{StageMarketingQualified, StageSalesQualified}
	if !slices.Contains(handoff, r.Handoff) {
		return validate.OneOf("handoff", r.Handoff, handoff)
	}
	for i, a := range r.Assignment {
		field := "assignment[" + strconv.Itoa(i) + "]"
		if a.Owner == "" {
			return validate.Required(field + ".owner")
		}
		if len(a.When) == 0 {
			return validate.Required(field + ".when")
		}
		for j, c := range a.When {
			if err := checkCondition(field+".when["+strconv.Itoa(j)+"]", c); err != nil {
				return err
			}
		}
	}
	return nil
}

// normalize fills the empty lists so exports are stable.
func (r *Rules) normalize() {
	if r.Fit == nil {
		r.Fit = []FitRule{}
	}
	if r.Engagement == nil {
		r.Engagement = []EngagementRule{}
	}
	if r.Assignment == nil {
		r.Assignment = []Assignment{}
	}
	for i := range r.Fit {
		if r.Fit[i].When == nil {
			r.Fit[i].When = []Condition{}
		}
	}
}

// needsRecord says whether the rules read sealed fields of the record.
func (r Rules) needsRecord() bool {
	for _, f := range r.Fit {
		for _, c := range f.When {
			if c.Attribute == "organization" || c.Attribute == "country" || strings.HasPrefix(c.Attribute, "values.") {
				return true
			}
		}
	}
	return false
}

// ParseRules decodes a rule set strictly.
func ParseRules(b []byte) (Rules, error) {
	var r Rules
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Rules{}, validate.Invalid("rules", "rules: "+err.Error())
	}
	r.normalize()
	return r, r.Validate()
}

// profile is what conditions test: the unsealed fields always, the sealed
// ones when the rules need them.
type profile struct {
	Audience, Relationship, DataSource string
	Organization, Country              string
	Values                             map[string]string
}

func (p profile) get(attr string) string {
	switch attr {
	case "audience":
		return p.Audience
	case "relationship":
		return p.Relationship
	case "data_source":
		return p.DataSource
	case "organization":
		return p.Organization
	case "country":
		return p.Country
	}
	if n, ok := strings.CutPrefix(attr, "values."); ok {
		return p.Values[n]
	}
	return ""
}

func (c Condition) holds(p profile) bool {
	v := p.get(c.Attribute)
	switch c.Op {
	case "eq":
		return strings.EqualFold(v, c.Value)
	case "ne":
		return !strings.EqualFold(v, c.Value)
	case "in":
		return slices.ContainsFunc(c.Values, func(x string) bool { return strings.EqualFold(x, v) })
	case "present":
		return v != ""
	case "absent":
		return v == ""
	}
	return false
}

func allHold(cs []Condition, p profile) bool {
	for _, c := range cs {
		if !c.holds(p) {
			return false
		}
	}
	return true
}
