package otelcolmsgtrace

import (
	"os"
	"regexp"
	"testing"
)

// distVersion is the product version: dist.version of builder-config.yaml, the one place it is
// kept (the Makefile, the packages and the image read it from there; ocb builds it into the
// binary's --version and service.version).
func distVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("builder-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^dist:\n(?:  .*\n)*?  version: (\S+)\n`).FindSubmatch(b)
	if m == nil {
		t.Fatal("builder-config.yaml: no dist.version")
	}
	return string(m[1])
}

var semver = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)

// TestChangelogHasBuiltVersion: the version ocb builds into the binary is semver and is the
// newest entry of CHANGELOG.md (e2e's TestVersionHasChangelogEntry checks the built binary).
func TestChangelogHasBuiltVersion(t *testing.T) {
	v := distVersion(t)
	if !semver.MatchString(v) {
		t.Fatalf("builder-config.yaml dist.version %q is not semver X.Y.Z", v)
	}
	b, err := os.ReadFile("CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	first := regexp.MustCompile(`(?m)^## \[([^\]]+)\]`).FindSubmatch(b)
	if first == nil {
		t.Fatal("CHANGELOG.md has no version entry (## [X.Y.Z] - date)")
	}
	if string(first[1]) != v {
		t.Fatalf("CHANGELOG.md's newest entry is %s, the build's version (builder-config.yaml dist.version) is %s: add a ## [%s] entry saying what a user notices", first[1], v, v)
	}
}
