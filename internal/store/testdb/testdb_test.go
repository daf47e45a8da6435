package testdb

import (
	"errors"
	"fmt"
	"testing"
)

func TestMaySkipOnlyAMissingServer(t *testing.T) {
	missing := errors.New("no initdb on PATH")
	broken := fmt.Errorf("start: %w", &schemaError{errors.New("migrate template: syntax error")})
	for _, c := range []struct {
		name     string
		err      error
		required bool
		want     bool
	}{
		{"no server, not required", missing, false, true},
		{"no server, required", missing, true, false},
		{"schema fails, not required", broken, false, false},
		{"schema fails, required", broken, true, false},
	} {
		if got := mayskip(c.err, c.required); got != c.want {
			t.Errorf("%s: mayskip = %v, want %v", c.name, got, c.want)
		}
	}
}
