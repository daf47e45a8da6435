package api

import (
	"net/http"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/policy/policyjson"
	"github.com/fairlead/fairlead/internal/web"
)

// decide is the what-if evaluation of the contactability engine: facts and
// request as the rules document defines them, no contact needed. One object
// in gives one decision out (or a 400 in the house error shape); an array in
// gives an array out, in order, each element a decision or an error.
func (a *API) decide(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	body, err := web.ReadBody(r)
	if err != nil {
		return err
	}
	results, err := policyjson.EvaluateBatch(body)
	if err != nil {
		e := policyjson.ErrorOf(err)
		return &web.Error{Status: http.StatusBadRequest, Code: e.Code, Message: e.Message, Field: e.Field}
	}
	if len(body) > 0 && firstNonSpace(body) == '{' {
		res := results[0]
		if res.Err != nil {
			e := policyjson.ErrorOf(res.Err)
			return &web.Error{Status: http.StatusBadRequest, Code: e.Code, Message: e.Message, Field: e.Field}
		}
		web.WriteJSON(w, http.StatusOK, res)
		return nil
	}
	web.WriteJSON(w, http.StatusOK, results)
	return nil
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}
