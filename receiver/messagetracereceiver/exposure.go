package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"io"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"

	"go.uber.org/zap"
)

// maxConfigScan bounds how much of a configuration file is read to find its ${file:...}
// references; collector configurations are a few KB.
const maxConfigScan = 1 << 20

// fileRef matches the collector's file provider references, ${file:path}; the path ends at
// the closing brace.
var fileRef = regexp.MustCompile(`\$\{\s*file:([^}]+)\}`)

// exposureCheck warns about files holding credentials that every user of the machine can
// read: the configuration files on the collector's command line (--config), the files they
// reference with ${file:...} (secrets), and client_certificate.key_file. A component cannot
// see where its configuration came from, so the command line is what it has: configurations
// from env:, yaml:, http(s): or other providers, and secrets reached another way (an
// environment variable, a file included by an included file) are not checked. One check per
// factory, shared by its receivers, so each file is named once however many tenants use it.
type exposureCheck struct {
	args func() []string // the command line; os.Args outside tests

	configOnce sync.Once
	mu         sync.Mutex
	warned     map[string]bool
}

func newExposureCheck() *exposureCheck {
	return &exposureCheck{args: func() []string { return os.Args }, warned: map[string]bool{}}
}

// warn logs every exposed file not named before: the configuration files and their
// references on the first call, keyFile ("" = none) on each.
func (c *exposureCheck) warn(logger *zap.Logger, keyFile string) {
	if runtime.GOOS == "windows" { // permission bits do not describe Windows ACLs
		return
	}
	c.configOnce.Do(func() {
		for _, path := range configPaths(c.args()) {
			c.check(logger, "--config", path)
			for _, ref := range fileRefs(path) {
				c.check(logger, "${file:...}", ref)
			}
		}
	})
	if keyFile != "" {
		c.check(logger, "client_certificate.key_file", keyFile)
	}
}

func (c *exposureCheck) check(logger *zap.Logger, source, path string) {
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o004 == 0 {
		return // unreadable files fail elsewhere, with their key named
	}
	c.mu.Lock()
	seen := c.warned[path]
	c.warned[path] = true
	c.mu.Unlock()
	if seen {
		return
	}
	logger.Warn("a file holding the configuration or a credential is readable by every user of this machine; "+
		"restrict it to the collector's user (chmod 600, or 640 with its group)",
		zap.String("file", path), zap.String("source", source), zap.String("mode", info.Mode().Perm().String()))
}

// configPaths are the local files among the collector's --config values: plain paths and
// file: URIs; other providers' URIs are skipped.
func configPaths(args []string) []string {
	var out []string
	for i := 1; i < len(args); i++ {
		a, value := args[i], ""
		switch {
		case a == "--config" || a == "-config":
			if i+1 < len(args) {
				i++
				value = args[i]
			}
		case strings.HasPrefix(a, "--config="):
			value = strings.TrimPrefix(a, "--config=")
		case strings.HasPrefix(a, "-config="):
			value = strings.TrimPrefix(a, "-config=")
		default:
			continue
		}
		if after, ok := strings.CutPrefix(value, "file:"); ok {
			value = after
		} else if i := strings.IndexByte(value, ':'); i > 0 && !strings.ContainsAny(value[:i], `/\.`) {
			continue // env:, yaml:, http:, https: ...
		}
		if value != "" {
			out = append(out, value)
		}
	}
	return out
}

// fileRefs are the paths a configuration file references with ${file:...}.
func fileRefs(path string) []string {
	f, err := os.Open(path) //nolint:gosec // G304: a --config file of the collector's own command line, scanned for ${file:} references
	if err != nil {
		return nil
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxConfigScan))
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range fileRef.FindAllSubmatch(raw, -1) {
		if p := strings.TrimSpace(string(m[1])); p != "" {
			out = append(out, p)
		}
	}
	return out
}
