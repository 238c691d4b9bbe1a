// Command socialbridge runs the socialbridge OAuth social-login bridge.
//
//	socialbridge [serve] [-config FILE]   run the service (default)
//	socialbridge users ... [-config FILE] administer users (see help)
//	socialbridge keys ... [-config FILE]  administer signing keys (see help)
//	socialbridge version                  print the version
//
// With no configuration it starts in dev mode on the embedded database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts a graceful shutdown; after it, signals are
	// no longer caught, so a second one ends the process at once.
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, os.Environ()...); err != nil {
		fmt.Fprintln(os.Stderr, "socialbridge:", err)
		os.Exit(1)
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// run is the whole program, testable: it reads no global state. getenv
// reads the environment; environ, when given, lists it (os.Environ()) so
// that misspelt SOCIALBRIDGE_* variables are found rather than ignored.
//
// Asking for help (-h or --help anywhere a flag may be, or help as a
// command) prints it and succeeds.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, environ ...string) error {
	err := runCommand(ctx, args, getenv, stdout, stderr, environ...)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the flag set printed its flags
	}
	return err
}

// runCommand dispatches to the command args name.
func runCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, environ ...string) error {
	if len(args) > 0 && (args[0] == "users" || args[0] == "keys") {
		if len(args) > 1 && isHelp(args[1]) {
			fmt.Fprint(stdout, usage)
			return nil
		}
		return runCLI(ctx, args[0], args[1:], getenv, stdout, stderr, environ...)
	}
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "version" || isHelp(args[0])) {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, "socialbridge", version)
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return serve(ctx, args, getenv, stdout, stderr, nil, environ...)
	}
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "--help" || arg == "-help"
}

const usage = `Usage:
  socialbridge [serve] [-config FILE]   run the service (default command)
  socialbridge version                  print the version

Administration, against the configured database (the same configuration
as serve; no server is started). Each prints one JSON object; errors go to
stderr with exit status 1. The audit trail records the actor "cli".
  socialbridge users get ID                              a user
  socialbridge users find --email E                      users by profile email
  socialbridge users find --provider P --subject S       the user of an identity
  socialbridge users disable ID                          disable, revoking every token
  socialbridge users enable ID                           enable again
  socialbridge users revoke ID                           revoke every token of the user
  socialbridge users roles ID ROLE,ROLE                  replace the roles ("" clears them)
  socialbridge users delete ID --yes                     delete the user and their data
  socialbridge keys list                                 the signing keys
  socialbridge keys rotate                               start a key rotation now
  socialbridge keys retire KID --yes                     retire a key at once
Each takes -config FILE.

Configuration comes from FILE (YAML; see configs/socialbridge.example.yaml)
and SOCIALBRIDGE_* environment variables; SOCIALBRIDGE_CONFIG names the file
too. With no configuration socialbridge starts in dev mode on an embedded
database under ./data, listening on 127.0.0.1:8080 only. Without a file,
settings that look like a deployment (an https server.public_url, Google
credentials) need SOCIALBRIDGE_MODE=production, or SOCIALBRIDGE_MODE=dev to
keep dev mode.
`
