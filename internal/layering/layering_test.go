package layering

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/whalewatch/whalewatch"

// forbidden says what a word of the "Must not import" column stands for:
// import paths (a path and everything under it), looked for in every
// dependency, or, with direct, only in the package's own imports
// (net/http: alert makes no request, though notify, which it hands to,
// posts).
var forbidden = map[string]struct {
	paths  []string
	direct bool
}{
	"alert":      {paths: []string{module + "/alert"}},
	"events":     {paths: []string{module + "/events"}},
	"actions":    {paths: []string{module + "/actions"}},
	"notify":     {paths: []string{module + "/notify"}},
	"Docker":     {paths: []string{"github.com/moby", "github.com/docker/docker"}},
	"Docker SDK": {paths: []string{"github.com/moby", "github.com/docker/docker"}},
	"bbolt":      {paths: []string{"go.etcd.io/bbolt"}},
	"slack":      {paths: []string{"github.com/slack-go/slack"}},
	"net/http":   {paths: []string{"net/http"}, direct: true},
}

// checked are the packages whose rows this test holds to.
var checked = []string{"rules", "config", "alert"}

// mustNot reads a package's "Must not import" cell from the table.
func mustNot(t *testing.T, doc, pkg string) []string {
	t.Helper()
	for line := range strings.SplitSeq(doc, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || strings.TrimSpace(cells[1]) != "`"+pkg+"/`" {
			continue
		}
		var words []string
		for w := range strings.SplitSeq(strings.TrimSpace(cells[len(cells)-2]), ",") {
			words = append(words, strings.TrimSpace(w))
		}
		return words
	}
	t.Fatalf("docs/ARCHITECTURE.md has no row for `%s/`", pkg)
	return nil
}

func goList(t *testing.T, format, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", format, "./"+pkg)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(strings.NewReplacer("[", " ", "]", " ").Replace(string(out)))
}

func TestMustNotImport(t *testing.T) {
	b, err := os.ReadFile("../../docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range checked {
		t.Run(pkg, func(t *testing.T) {
			deps := goList(t, "{{join .Deps \" \"}}", pkg)
			imports := goList(t, "{{join .Imports \" \"}}", pkg)
			for _, word := range mustNot(t, string(b), pkg) {
				f, ok := forbidden[word]
				if !ok {
					t.Fatalf("%q in the Must not import column of %s: say in this test what it stands for", word, pkg)
				}
				among := deps
				if f.direct {
					among = imports
				}
				for _, p := range among {
					for _, bad := range f.paths {
						if p == bad || strings.HasPrefix(p, bad+"/") {
							t.Errorf("%s depends on %s, which its row forbids (%s)", pkg, p, word)
						}
					}
				}
			}
		})
	}
}
