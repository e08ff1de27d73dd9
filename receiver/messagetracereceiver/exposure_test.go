package messagetracereceiver

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
)

const exposedMsg = "a file holding the configuration or a credential is readable by every user of this machine"

func writeMode(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

func exposedFiles(logs *observer.ObservedLogs) map[string]int {
	out := map[string]int{}
	for _, e := range logs.FilterMessageSnippet(exposedMsg).All() {
		out[e.ContextMap()["file"].(string)]++
	}
	return out
}

// Configuration files on the command line, the secrets they reference with ${file:...} and
// the certificate key are warned about when every user can read them (0644), not when only
// the owner can (0600); each file once, however often the check runs (one run per tenant).
func TestWorldReadableCredentialFilesAreWarnedOnce(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("permission bits")
	}
	dir := t.TempDir()
	open := writeMode(t, dir, "secret-open", "s3cret", 0o644)
	closed := writeMode(t, dir, "secret-closed", "s3cret", 0o600)
	cfgClosed := writeMode(t, dir, "closed.yaml", "client_secret: ${file:"+open+"}\nother: ${ file:"+closed+"}\n", 0o600)
	cfgOpen := writeMode(t, dir, "open.yaml", "exporters: {}\n", 0o644)
	keyOpen := writeMode(t, dir, "key-open.pem", "key", 0o644)
	keyClosed := writeMode(t, dir, "key-closed.pem", "key", 0o600)

	c := newExposureCheck()
	c.args = func() []string {
		return []string{"otelcol", "--config", cfgClosed, "--config=file:" + cfgOpen, "--config=env:CONFIG", "--config", "yaml:receivers::x: y", "--feature-gates=x"}
	}
	core, logs := observer.New(zap.WarnLevel)
	logger := zap.New(core)
	c.warn(logger, keyOpen)
	c.warn(logger, keyOpen) // a second tenant with the same key
	c.warn(logger, keyClosed)
	c.warn(logger, "")
	assert.Equal(t, map[string]int{open: 1, cfgOpen: 1, keyOpen: 1}, exposedFiles(logs))
	sources := map[string]string{}
	for _, e := range logs.All() {
		sources[e.ContextMap()["file"].(string)] = e.ContextMap()["source"].(string)
		assert.Equal(t, "-rw-r--r--", e.ContextMap()["mode"])
	}
	assert.Equal(t, map[string]string{open: "${file:...}", cfgOpen: "--config", keyOpen: "client_certificate.key_file"}, sources)
}

func TestConfigPathsFromTheCommandLine(t *testing.T) {
	assert.Equal(t, []string{"a.yaml", "/etc/b.yaml", "c.yaml", "./d:e.yaml"},
		configPaths([]string{"otelcol", "--config", "a.yaml", "--config=file:/etc/b.yaml", "-config=c.yaml", "--config=env:X", "--config=https://x/y", "--config", "./d:e.yaml", "validate"}))
}

// The receiver runs the check at start: a world-readable certificate key is named.
func TestReceiverWarnsAboutWorldReadableKeyFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("permission bits")
	}
	cc, err := msgtracetest.NewClientCert("message trace app")
	require.NoError(t, err)
	for _, mode := range []os.FileMode{0o600, 0o644} {
		h := newHarness(t, msgtracetest.Options{ClientCert: cc.Cert}, nil)
		certFile, keyFile, err := cc.WriteFiles(t.TempDir())
		require.NoError(t, err)
		require.NoError(t, os.Chmod(keyFile, mode))
		h.cfg.ClientSecret = ""
		h.cfg.ClientCertificate = &ClientCertificateConfig{CertFile: certFile, KeyFile: keyFile}
		set := receivertest.NewNopSettings(metadata.Type)
		h.receiverWith(set, nil)
		want := map[string]int{}
		if mode == 0o644 {
			want[keyFile] = 1
		}
		assert.Equal(t, want, exposedFiles(h.logs), "key file mode %v", mode)
	}
}
