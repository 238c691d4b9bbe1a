package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/socialbridge/socialbridge/bridge"
	"github.com/socialbridge/socialbridge/configs"
)

// The administrative subcommands: users and keys, run against the
// configured database with the same wiring as serve (newService), without
// an HTTP server. Each prints one JSON object to stdout; errors go to the
// caller (main prints them to stderr and exits 1). The audit trail
// records them with actor bridge.CLI.

// cliCommand is one administrative subcommand.
type cliCommand struct {
	// args names the positional arguments, for usage and their count.
	args []string
	// confirm marks destructive commands, which need --yes.
	confirm bool
	run     func(ctx context.Context, svc *service, a cliArgs) (any, error)
}

// cliArgs is a parsed command line of a subcommand.
type cliArgs struct {
	pos                      []string
	email, provider, subject string
}

// cliCommands are the subcommands by group and name.
var cliCommands = map[string]map[string]cliCommand{
	"users": {
		"get": {args: []string{"ID"}, run: func(ctx context.Context, svc *service, a cliArgs) (any, error) {
			return svc.bridge.AdminUser(ctx, cliAction(a.pos[0]))
		}},
		"find": {run: func(ctx context.Context, svc *service, a cliArgs) (any, error) {
			users, err := svc.bridge.AdminFindUsers(ctx, bridge.AdminUserQuery{Email: a.email, Provider: a.provider, Subject: a.subject}, cliAction(""))
			if err != nil {
				return nil, err
			}
			return map[string]any{"users": users}, nil
		}},
		"disable": {args: []string{"ID"}, run: func(ctx context.Context, svc *service, a cliArgs) (any, error) {
			n, err := svc.bridge.DisableUser(ctx, cliAction(a.pos[0]))
			if err != nil {
				return nil, err
			}
			return map[string]any{"user_id": a.pos[0], "disabled": true, "sessions_revoked": n}, nil
		}},
		"enable": {args: []string{"ID"}, run: func(ctx context.Context, svc *service, a cliArgs) (any, error) {
			if err := svc.bridge.EnableUser(ctx, cliAction(a.pos[0])); err != nil {
				return nil, err
			}
			return map[string]any{"user_id": a.pos[0], "disabled": false}, nil
		}},
		"revoke": {args: []string{"ID"}, run: func(ctx context.Context, svc *service, a cliArgs) (any, error) {
			n, err := svc.bridge.RevokeUserTokens(ctx, cliAction(a.pos[0]))
			if err != nil {
				return nil, err
			}
			return map[string]any{"user_id": a.pos[0], "sessions_revoked": n}, nil
		}},
		"roles": {args: []string{"ID", "ROLE,ROLE..."}, run: func(ctx context.Context, svc *service, a cliArgs) (any, error) {
			roles := []string{}
			if a.pos[1] != "" {
				roles = strings.Split(a.pos[1], ",")
			}
			stored, n, err := svc.bridge.SetUserRoles(ctx, cliAction(a.pos[0]), roles)
			if err != nil {
				return nil, err
			}
			return map[string]any{"user_id": a.pos[0], "roles": stored, "sessions_revoked": n}, nil
		}},
		"delete": {args: []string{"ID"}, confirm: true, run: func(ctx context.Context, svc *service, a cliArgs) (any, error) {
			n, err := svc.bridge.DeleteUser(ctx, cliAction(a.pos[0]))
			if err != nil {
				return nil, err
			}
			return map[string]any{"user_id": a.pos[0], "deleted": true, "sessions_revoked": n}, nil
		}},
	},
	"keys": {
		"list": {run: func(ctx context.Context, svc *service, a cliArgs) (any, error) {
			return map[string]any{"keys": svc.bridge.SigningKeys()}, nil
		}},
		"rotate": {run: func(ctx context.Context, svc *service, a cliArgs) (any, error) {
			keys, err := svc.bridge.RotateKeysAs(ctx, bridge.CLI, "")
			if err != nil {
				return nil, err
			}
			return map[string]any{"keys": keys}, nil
		}},
		"retire": {args: []string{"KID"}, confirm: true, run: func(ctx context.Context, svc *service, a cliArgs) (any, error) {
			return svc.bridge.RetireKeyAs(ctx, a.pos[0], bridge.CLI, "")
		}},
	},
}

func cliAction(id string) bridge.AdminAction {
	return bridge.AdminAction{UserID: id, Actor: bridge.CLI}
}

// cliOpenTimeout bounds opening the database for a command.
const cliOpenTimeout = 30 * time.Second

// runCLI runs `socialbridge <group> <command> [flags] [args]`.
func runCLI(ctx context.Context, group string, args []string, getenv func(string) string, stdout, stderr io.Writer, environ ...string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s: name a command (%s); see socialbridge help", group, commandNames(group))
	}
	name, args := args[0], args[1:]
	cmd, ok := cliCommands[group][name]
	if !ok {
		return fmt.Errorf("%s: unknown command %q (want %s); see socialbridge help", group, name, commandNames(group))
	}
	full := group + " " + name
	fs := flag.NewFlagSet(full, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", getenv(configs.ConfigFileVariable), "YAML config file (default: none, dev mode)")
	var a cliArgs
	yes := false
	if cmd.confirm {
		fs.BoolVar(&yes, "yes", false, "confirm: this cannot be undone")
	}
	if full == "users find" {
		fs.StringVar(&a.email, "email", "", "the users' profile email")
		fs.StringVar(&a.provider, "provider", "", "the identity's provider instance (with --subject)")
		fs.StringVar(&a.subject, "subject", "", "the identity's subject at the provider (with --provider)")
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("%s: %w", full, err)
	}
	if len(pos) != len(cmd.args) {
		return fmt.Errorf("%s: want %d argument(s) (%s), got %d", full, len(cmd.args), strings.Join(cmd.args, " "), len(pos))
	}
	if cmd.confirm && !yes {
		return fmt.Errorf("%s: this cannot be undone; add --yes to confirm", full)
	}
	if full == "users find" && a.email == "" && a.provider == "" && a.subject == "" {
		return fmt.Errorf("users find: give --email, or --provider with --subject")
	}
	a.pos = pos

	cfg, err := configs.Load(*configPath, configs.Env{Getenv: getenv, Names: envNames(environ)}, os.ReadFile, providerTypes())
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	logger, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	if cfg.Server.PublicURL == "" {
		// As serve does without one, but with no listener: the issuer
		// names the configured address. Nothing here mints tokens.
		cfg.SetPublicURL("http://" + cfg.Server.Addr)
	}
	// Say which database this works on: without -config (and without
	// SOCIALBRIDGE_* settings) it is the dev-mode one under ./data, which
	// is rarely what an operator means.
	where := "the SQLite database " + cfg.Store.SQLite.Path
	if cfg.Store.MongoDBURI != "" {
		where = "MongoDB database " + cfg.Store.Database
	}
	if cfg.Mode == configs.ModeDev {
		where += " (dev mode: pass -config FILE for a deployment's database)"
	}
	fmt.Fprintf(stderr, "socialbridge %s: using %s\n", full, where)
	// A database that does not answer fails the command within a bound,
	// rather than waiting as serve does for a server starting alongside.
	openCtx, cancel := context.WithTimeout(ctx, cliOpenTimeout)
	defer cancel()
	svc, err := newService(openCtx, cfg, logger)
	if err != nil {
		return err
	}
	defer svc.Close()
	out, err := cmd.run(ctx, svc, a)
	if err != nil {
		var oe *bridge.OAuthError
		if errors.As(err, &oe) {
			return fmt.Errorf("%s: %s: %s", full, oe.Code, oe.Description)
		}
		return fmt.Errorf("%s: %w", full, err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// parseInterleaved parses flags anywhere among the positional arguments
// (`users delete ID --yes` as well as `users delete --yes ID`), and
// returns the positional ones. "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// commandNames lists the commands of group, for messages.
func commandNames(group string) string {
	var names []string
	for _, n := range []string{"get", "find", "disable", "enable", "revoke", "roles", "delete", "list", "rotate", "retire"} {
		if _, ok := cliCommands[group][n]; ok {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}
