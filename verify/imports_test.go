package verify

import (
	"go/build"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	module  = "github.com/socialbridge/socialbridge"
	jwtPath = "github.com/golang-jwt/jwt/v5"
	ginPath = "github.com/gin-gonic/gin"
)

// TestImportRules keeps verify importable by any API: it depends on the
// standard library and golang-jwt only, never on the rest of socialbridge
// (which would drag in Gin, the database drivers and the providers), and
// ginverify adds Gin alone.
func TestImportRules(t *testing.T) {
	for _, tc := range []struct {
		dir     string
		allowed []string // besides the standard library
	}{
		{".", []string{jwtPath}},
		{"verifytest", []string{jwtPath}},
		{"ginverify", []string{module + "/verify", ginPath}},
	} {
		t.Run("direct imports of "+tc.dir, func(t *testing.T) {
			pkg, err := build.ImportDir(tc.dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range pkg.Imports {
				if !isStandard(t, imp) && !slices.Contains(tc.allowed, imp) {
					t.Errorf("%s imports %s; allowed: the standard library and %v", tc.dir, imp, tc.allowed)
				}
			}
		})
	}

	goTool, err := exec.LookPath(filepath.Join(build.Default.GOROOT, "bin", "go"))
	if err != nil {
		goTool, err = exec.LookPath("go")
	}
	if err != nil {
		t.Skip("no go command to list transitive dependencies")
	}
	for _, dir := range []string{".", "./verifytest"} {
		t.Run("every dependency of "+dir, func(t *testing.T) {
			out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", dir).CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				switch {
				case dep == module+"/verify" || dep == module+"/verify/verifytest":
				case dep == jwtPath:
				case strings.HasPrefix(dep, module):
					t.Errorf("%s depends on %s: verify must not import the rest of socialbridge", dir, dep)
				case strings.Contains(dep, "gin-gonic") || strings.Contains(dep, "mongo"):
					t.Errorf("%s depends on %s: verify must not pull in Gin or MongoDB", dir, dep)
				default:
					t.Errorf("%s depends on %s: only the standard library and golang-jwt are allowed", dir, dep)
				}
			}
		})
	}
}

func isStandard(t *testing.T, path string) bool {
	t.Helper()
	p, err := build.Import(path, "", build.FindOnly)
	return err == nil && p.Goroot
}
