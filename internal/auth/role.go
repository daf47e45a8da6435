// Package auth holds users, roles and API tokens. Passwords are hashed with
// argon2id; API tokens are shown once and stored only as a SHA-256 hash
// (they carry 256 random bits, so a slow hash adds nothing but latency).
package auth

import (
	"github.com/fairlead/fairlead/internal/validate"
)

// Role is what a user or token may do in its workspace.
type Role string

const (
	RoleAdmin     Role = "admin"
	RoleMarketing Role = "marketing"
	RoleSales     Role = "sales"
	RoleDPO       Role = "dpo"
	RoleViewer    Role = "viewer"
)

// Roles lists every role, most powerful first.
var Roles = []Role{RoleAdmin, RoleMarketing, RoleSales, RoleDPO, RoleViewer}

// RoleNames is Roles as strings, for error messages.
func RoleNames() []string {
	out := make([]string, len(Roles))
	for i, r := range Roles {
		out[i] = string(r)
	}
	return out
}

// ParseRole validates a role name.
func ParseRole(field, s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", validate.OneOf(field, s, RoleNames())
}

// Principal is who is calling: a token (or, later, a UI session) of a user
// role in one workspace.
type Principal struct {
	WorkspaceID string
	Role        Role
	TokenID     string
	UserID      string
}
