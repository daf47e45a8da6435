// Package policy is the contactability decision engine: facts about one person
// and one contact point in, a decision with reason codes, legal references,
// legal bases, obligations and warnings out (docs: contactability-rules.md,
// the normative rule specification, and docs/policy-notes.md for the
// places where the implementation departs from it and why).
//
// The package is pure. It imports nothing of ours, reads no clock (the
// evaluation date is Facts.AsOf), does no I/O and keeps no mutable state, so
// the same facts and request always give the same Decision and calls may run
// concurrently. Decide allocates only its result.
//
// The reason-code catalogue (Catalogue, LookupReason), the obligations and
// the warnings are exported for the UI and the documentation; the codes are a
// contract with external programs and must not be renamed.
//
// The JSON wire format lives in the subpackage policyjson.
package policy
