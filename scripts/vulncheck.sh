#!/usr/bin/env bash
# Runs govulncheck offline: the vulnerability database is built on this
# machine from the golang.org/x/vulndb module (fetched with the go command
# through the module proxy like any other module), so nothing but the module
# proxy is needed. Not part of the test command.
#
# Usage:
#   scripts/vulncheck.sh                      # scan ./... (the shipped code, no tests)
#   scripts/vulncheck.sh ./cmd/socialbridge   # scan one package and what it imports
#   scripts/vulncheck.sh -test ./...          # also scan test files (test-only deps)
#   scripts/vulncheck.sh -show verbose ./...  # also list imported-but-unreached vulns
# Arguments go to govulncheck as they are (default ./...).
#
# Environment:
#   VULNDB_VERSION       golang.org/x/vulndb version to build the database from
#                        (default: latest)
#   GOVULNCHECK_VERSION  golang.org/x/vuln version to run (default below)
#   VULNCHECK_CACHE      where built databases are kept (default:
#                        ${XDG_CACHE_HOME:-~/.cache}/socialbridge/vulndb)
#
# Exit status: 0 when no reachable vulnerability is found, 3 (govulncheck's
# own code) when one is, anything else on an error.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

govulncheck_version="${GOVULNCHECK_VERSION:-v1.9.0}"
vulndb_version="${VULNDB_VERSION:-latest}"
cache="${VULNCHECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/socialbridge/vulndb}"

# go.mod's go and toolchain lines name the Go release this module is checked
# and built with; GOTOOLCHAIN=auto lets an older installed Go fetch it from the
# module proxy. Some installations default to GOTOOLCHAIN=local (the official
# golang Docker images, some distributions' go.env), which would make the go
# command refuse this module instead; this script always scans with the
# toolchain go.mod asks for, unless GOTOOLCHAIN names another one explicitly.
case "${GOTOOLCHAIN:-}" in
  "" | local) export GOTOOLCHAIN=auto ;;
esac

echo "== toolchain (GOTOOLCHAIN=$GOTOOLCHAIN)"
go version

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== downloading golang.org/x/vulndb@$vulndb_version"
# Outside the module, so that go.mod and go.sum are left alone.
(cd "$work" && go mod download -json "golang.org/x/vulndb@$vulndb_version") >"$work/vulndb.json"
field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" "$work/vulndb.json" | head -n1; }
vulndb_dir=$(field Dir)
vulndb_resolved=$(field Version)
if [ -z "$vulndb_dir" ] || [ ! -d "$vulndb_dir/data/osv" ]; then
  echo "vulncheck: golang.org/x/vulndb@$vulndb_version has no data/osv directory:" >&2
  cat "$work/vulndb.json" >&2
  exit 1
fi
echo "   $vulndb_resolved ($(find "$vulndb_dir/data/osv" -maxdepth 1 -name '*.json' | wc -l) OSV entries)"

db="$cache/$vulndb_resolved"
if [ -f "$db/.complete" ]; then
  echo "== database: reusing $db"
else
  echo "== database: building $db"
  # A v1 database as https://go.dev/security/vuln/database#api describes it:
  # index/db.json, index/modules.json, index/vulns.json and ID/<id>.json.
  # The vulndb module's own cmd/indexdb does the same but compiles its whole
  # service (cloud clients, git); this standard-library program does not.
  mkdir -p "$work/indexdb"
  cat >"$work/indexdb/go.mod" <<'EOF'
module indexdb

go 1.22
EOF
  cat >"$work/indexdb/main.go" <<'EOF'
// Command indexdb writes a v1 Go vulnerability database (index/db.json,
// index/modules.json, index/vulns.json, ID/<id>.json) from a directory of
// OSV entries, computing the indexes the way golang.org/x/vulndb does.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Type   string `json:"type"`
			Events []struct {
				Introduced string `json:"introduced,omitempty"`
				Fixed      string `json:"fixed,omitempty"`
			} `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
}

type rfc3339 time.Time

func (t rfc3339) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Time(t).UTC().Format(time.RFC3339))
}

type moduleVuln struct {
	ID       string  `json:"id"`
	Modified rfc3339 `json:"modified"`
	Fixed    string  `json:"fixed,omitempty"`
}

type module struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vuln struct {
	ID       string   `json:"id"`
	Modified rfc3339  `json:"modified"`
	Aliases  []string `json:"aliases,omitempty"`
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: indexdb OSV-DIR OUT-DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "indexdb:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	files, err := filepath.Glob(filepath.Join(in, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no OSV entries in %s", in)
	}
	for _, d := range []string{"index", "ID"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return err
		}
	}
	var modified time.Time
	modules := map[string]*module{}
	var vulns []vuln
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var e entry
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("%s: %v", f, err)
		}
		if e.ID == "" || filepath.Base(f) != e.ID+".json" {
			return fmt.Errorf("%s: entry id %q does not match the file name", f, e.ID)
		}
		if err := os.WriteFile(filepath.Join(out, "ID", e.ID+".json"), b, 0o644); err != nil {
			return err
		}
		if e.Modified.After(modified) {
			modified = e.Modified
		}
		vulns = append(vulns, vuln{ID: e.ID, Modified: rfc3339(e.Modified), Aliases: e.Aliases})
		for _, a := range e.Affected {
			m := modules[a.Package.Name]
			if m == nil {
				m = &module{Path: a.Package.Name, Vulns: []moduleVuln{}}
				modules[a.Package.Name] = m
			}
			// The latest fixed version over the SEMVER ranges, or none if
			// the vulnerability was introduced again after it.
			fixed := ""
			for _, r := range a.Ranges {
				if r.Type != "SEMVER" {
					continue
				}
				for _, ev := range r.Events {
					if ev.Fixed != "" && compare(fixed, ev.Fixed) < 0 {
						fixed = ev.Fixed
					}
				}
				for _, ev := range r.Events {
					if ev.Introduced != "" && ev.Introduced != "0" && compare(fixed, ev.Introduced) < 0 {
						fixed = ""
						break
					}
				}
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: rfc3339(e.Modified), Fixed: fixed})
		}
	}
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })
	mods := make([]*module, 0, len(modules))
	for _, m := range modules {
		sort.SliceStable(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	for name, v := range map[string]any{
		"db": struct {
			Modified rfc3339 `json:"modified"`
		}{rfc3339(modified)},
		"modules": mods,
		"vulns":   vulns,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "index", name+".json"), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("   %d entries, %d modules, last modified %s\n", len(vulns), len(mods), modified.UTC().Format(time.RFC3339))
	return nil
}

// compare orders unprefixed semantic versions as golang.org/x/mod/semver
// does with a "v" added: an invalid version sorts before every valid one,
// "1" and "1.2" are short for "1.0.0" and "1.2.0", build metadata is ignored.
func compare(a, b string) int {
	pa, oka := parse(a)
	pb, okb := parse(b)
	switch {
	case !oka && !okb:
		return 0
	case !oka:
		return -1
	case !okb:
		return 1
	}
	for i := 0; i < 3; i++ {
		if c := compareNum(pa.num[i], pb.num[i]); c != 0 {
			return c
		}
	}
	return comparePre(pa.pre, pb.pre)
}

type version struct {
	num [3]string
	pre string
}

func parse(v string) (version, bool) {
	var p version
	build := false
	if i := strings.IndexByte(v, '+'); i >= 0 {
		if !validIdents(v[i+1:], false) {
			return p, false
		}
		v, build = v[:i], true
	}
	if i := strings.IndexByte(v, '-'); i >= 0 {
		p.pre = v[i+1:]
		if !validIdents(p.pre, true) {
			return p, false
		}
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) > 3 || (len(parts) < 3 && (p.pre != "" || build)) {
		return p, false
	}
	p.num = [3]string{"0", "0", "0"}
	for i, n := range parts {
		if !isNum(n) || (len(n) > 1 && n[0] == '0') {
			return p, false
		}
		p.num[i] = n
	}
	return p, true
}

func validIdents(s string, pre bool) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		for _, c := range id {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return false
			}
		}
		if pre && isNum(id) && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

func isNum(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func compareNum(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func comparePre(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, y := as[i], bs[i]
		if x == y {
			continue
		}
		xn, yn := isNum(x), isNum(y)
		switch {
		case xn && yn:
			return compareNum(x, y)
		case xn:
			return -1
		case yn:
			return 1
		default:
			return strings.Compare(x, y)
		}
	}
	switch {
	case len(as) < len(bs):
		return -1
	case len(as) > len(bs):
		return 1
	}
	return 0
}
EOF
  rm -rf "$db.tmp"
  (cd "$work/indexdb" && GOFLAGS=-buildvcs=false go run . "$vulndb_dir/data/osv" "$db.tmp")
  touch "$db.tmp/.complete"
  rm -rf "$db"
  mv "$db.tmp" "$db"
fi

echo "== building govulncheck@$govulncheck_version"
GOBIN="$work/bin" go install "golang.org/x/vuln/cmd/govulncheck@$govulncheck_version"

[ $# -gt 0 ] || set -- ./...
echo "== govulncheck -db file://$db $*"
echo "   (type-checks every package and its dependencies: a minute or so)"
cd "$root"
status=0
"$work/bin/govulncheck" -db "file://$db" "$@" || status=$?
case $status in
  0) echo "== vulncheck: no reachable vulnerabilities" ;;
  3) echo "== vulncheck: reachable vulnerabilities found (listed above)" ;;
  *) echo "== vulncheck: govulncheck failed (exit $status)" ;;
esac
exit $status
