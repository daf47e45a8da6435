package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/workspace"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := auth.CheckPassword(h, "correct horse battery"); !ok {
		t.Fatal("right password rejected")
	}
	if ok, _ := auth.CheckPassword(h, "correct horse batterY"); ok {
		t.Fatal("wrong password accepted")
	}
	if _, err := auth.CheckPassword("$2a$10$bcrypt", "x"); err == nil {
		t.Fatal("foreign hash format accepted")
	}
}

func TestUsersAndTokens(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws, err := workspace.Create(ctx, db.W, "acme", "ACME", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		s := auth.NewStore(db, nil)
		u, err := s.CreateUser(ctx, ws.ID, auth.NewUser{Email: "Ada@Example.com", Role: "dpo", Password: "a long enough password"})
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "ada@example.com" || u.Role != auth.RoleDPO {
			t.Fatalf("user %+v", u)
		}
		var ve *validate.Error
		_, err = s.CreateUser(ctx, ws.ID, auth.NewUser{Email: "ada@example.com", Role: "dpo", Password: "a long enough password"})
		if !errors.As(err, &ve) || ve.Field != "email" {
			t.Fatalf("duplicate user: %v", err)
		}
		_, err = s.CreateUser(ctx, ws.ID, auth.NewUser{Email: "b@example.com", Role: "boss", Password: "a long enough password"})
		if !errors.As(err, &ve) || ve.Field != "role" || len(ve.Allowed) != 5 {
			t.Fatalf("bad role: %v", err)
		}
		if _, err := s.CheckLogin(ctx, ws.ID, "ADA@example.com", "a long enough password"); err != nil {
			t.Fatalf("login: %v", err)
		}
		if _, err := s.CheckLogin(ctx, ws.ID, "ada@example.com", "wrong"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
		disabled := true
		if _, err := s.UpdateUser(ctx, ws.ID, u.ID, auth.UserUpdate{Disabled: &disabled}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CheckLogin(ctx, ws.ID, "ada@example.com", "a long enough password"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("disabled user logged in: %v", err)
		}

		tok, secret, err := s.CreateToken(ctx, ws.ID, "ci", "marketing")
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Authenticate(ctx, secret)
		if err != nil || p.WorkspaceID != ws.ID || p.Role != auth.RoleMarketing || p.TokenID != tok.ID {
			t.Fatalf("authenticate: %+v %v", p, err)
		}
		var stored int
		db.R.QueryRowContext(ctx, `SELECT count(*) FROM api_tokens WHERE token_hash = $1`, secret).Scan(&stored)
		if stored != 0 {
			t.Fatal("token secret stored in clear")
		}
		if _, err := s.Authenticate(ctx, secret+"x"); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("altered token: %v", err)
		}
		if err := s.RevokeToken(ctx, ws.ID, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("revoked token still works: %v", err)
		}
	})
}
