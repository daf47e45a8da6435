package policyjson

import (
	"encoding/json"

	"github.com/fairlead/fairlead/internal/policy"
)

// Evaluate decides a decoded item.
func Evaluate(it Item) (policy.Decision, error) {
	return policy.Decide(it.Facts, it.Request)
}

// EvaluateJSON decodes one object {"id", "facts", "request"} and decides it.
// It never fails as a whole: problems are reported in Result.Err.
func EvaluateJSON(data []byte) Result {
	it, err := DecodeItem(data)
	if err != nil {
		return Result{ID: it.ID, Err: err}
	}
	d, err := Evaluate(it)
	return Result{ID: it.ID, Decision: d, Err: err}
}

// EvaluateBatch accepts either one object or an array of objects (the body
// of the HTTP endpoint) and returns one Result per object, in input order.
// The error is set only when data is neither; its code is invalid_json.
func EvaluateBatch(data []byte) ([]Result, error) {
	switch first(data) {
	case '{':
		return []Result{EvaluateJSON(data)}, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, jsonErr(syntaxMessage(data))
		}
		out := make([]Result, len(items))
		for i, raw := range items {
			out[i] = EvaluateJSON(raw)
		}
		return out, nil
	}
	if !json.Valid(data) {
		return nil, jsonErr(syntaxMessage(data))
	}
	return nil, jsonErr("expected a JSON object or an array of objects")
}
