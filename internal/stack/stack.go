// Package stack runs the local stand-ins of Microsoft (msgtracetest) and Devo (devotest) with
// throw-away certificates, and the built distribution as a subprocess against them. The
// end-to-end tests and `make demo` both use it, so the demo shows what the tests prove.
package stack // import "github.com/msgtrace/otelcol-msgtrace/internal/stack"

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/msgtrace/otelcol-msgtrace/internal/devotest"
	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// Options configures a Stack.
type Options struct {
	// Dir holds certificates, collector state and logs; it must exist.
	Dir string
	// Tenant configures the fake Microsoft tenant; a client secret is generated when neither
	// ClientSecret nor ClientCert is set.
	Tenant msgtracetest.Options
	// Sink configures the Devo stand-in; certificates are generated when nil.
	Sink devotest.Options
	// FederatedSubject, when set, gives the tenant's app a federated credential trusting a
	// stand-in workload issuer's tokens for this subject, and writes one such token to
	// Stack.TokenFile (AZURE_FEDERATED_TOKEN_FILE), as AKS workload identity would.
	FederatedSubject string
	// Metadata, when set, starts a fake Azure metadata service handing out the tenant's
	// tokens (MSGTRACE_IMDS is its token URL).
	Metadata *msgtracetest.MetadataOptions
}

// Stack is a running fake tenant and Devo sink.
type Stack struct {
	Dir       string
	Tenant    *msgtracetest.Server
	Sink      *devotest.Sink
	SinkFiles devotest.CertFiles
	TenantCA  string
	Secret    string
	// Issuer and TokenFile are the workload issuer and its token file (Options.FederatedSubject).
	Issuer    *msgtracetest.FederatedIssuer
	TokenFile string
	subject   string
	// Metadata is the fake metadata service (Options.Metadata).
	Metadata *msgtracetest.MetadataServer
}

// Start starts both stand-ins and writes the files a collector needs to reach them.
func Start(opts Options) (*Stack, error) {
	s := &Stack{Dir: opts.Dir}
	if opts.Tenant.ClientSecret == "" && opts.Tenant.ClientCert == nil {
		opts.Tenant.ClientSecret = randomSecret()
	}
	s.Secret = opts.Tenant.ClientSecret
	var err error
	if opts.FederatedSubject != "" {
		if s.Issuer, err = msgtracetest.NewFederatedIssuer("https://oidc.stand-in.example/" + randomSecret() + "/"); err != nil {
			return nil, err
		}
		s.subject, s.TokenFile = opts.FederatedSubject, filepath.Join(opts.Dir, "azure-identity-token")
		opts.Tenant.FederatedCredentials = append(opts.Tenant.FederatedCredentials, s.Issuer.Credential(opts.FederatedSubject))
	}
	if s.Tenant, err = msgtracetest.NewServer(opts.Tenant); err != nil {
		return nil, err
	}
	if s.TenantCA, err = s.Tenant.CAFile(opts.Dir); err != nil {
		s.Close()
		return nil, err
	}
	if s.Issuer != nil {
		if _, err = s.WriteFederatedToken(time.Hour); err != nil {
			s.Close()
			return nil, err
		}
	}
	if opts.Metadata != nil {
		if s.Metadata, err = msgtracetest.NewMetadataServer(s.Tenant, *opts.Metadata); err != nil {
			s.Close()
			return nil, err
		}
	}
	if opts.Sink.Certificates == nil {
		if opts.Sink.Certificates, err = devotest.NewCertificates(devotest.CertOptions{ClientCN: "demo.devo.example"}); err != nil {
			s.Close()
			return nil, err
		}
	}
	certDir := filepath.Join(opts.Dir, "devo-certs")
	if err = os.MkdirAll(certDir, 0o700); err != nil {
		s.Close()
		return nil, err
	}
	if s.SinkFiles, err = opts.Sink.Certificates.WriteFiles(certDir); err != nil {
		s.Close()
		return nil, err
	}
	if s.Sink, err = devotest.NewSink(opts.Sink); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Env is the environment the configurations in testdata/e2e and testdata/demo read.
func (s *Stack) Env() []string {
	return append(s.TenantEnv(),
		"DEVO_ENDPOINT="+s.Sink.Addr(),
		"DEVO_CA="+s.SinkFiles.CA,
		"DEVO_CERT="+s.SinkFiles.ClientCert,
		"DEVO_KEY="+s.SinkFiles.ClientKey,
		"STATE_DIR="+filepath.Join(s.Dir, "state"),
	)
}

// WriteFederatedToken replaces TokenFile's content with a new token valid for lifetime, the
// way the kubelet rotates a projected token (a new file renamed over the old one), and
// returns its jti.
func (s *Stack) WriteFederatedToken(lifetime time.Duration) (string, error) {
	if s.Issuer == nil {
		return "", errors.New("stack: no FederatedSubject configured")
	}
	now := s.Tenant.Options().Now()
	tok, jti := s.Issuer.Token(s.subject, "", now, now.Add(lifetime))
	tmp := s.TokenFile + ".new"
	if err := os.WriteFile(tmp, []byte(tok), 0o600); err != nil {
		return "", err
	}
	return jti, os.Rename(tmp, s.TokenFile)
}

// Close stops the stand-ins.
func (s *Stack) Close() {
	if s.Metadata != nil {
		s.Metadata.Close()
	}
	if s.Sink != nil {
		_ = s.Sink.Close()
	}
	if s.Tenant != nil {
		s.Tenant.Close()
	}
}

// Delivered counts the rows the sink received, keyed like the receiver identifies a row
// (trace id and lower-cased recipient), from the JSON bodies under either field naming.
func Delivered(events []devotest.Event) (map[string]int, error) {
	out := make(map[string]int, len(events))
	var errs []error
	for _, e := range events {
		k, err := RowKey(e.Message)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[k]++
	}
	return out, errors.Join(errs...)
}

// RowKey is the identity of the row a Devo message body carries.
func RowKey(message string) (string, error) {
	var body map[string]any
	if err := json.Unmarshal([]byte(message), &body); err != nil {
		return "", fmt.Errorf("event body is not JSON: %w", err)
	}
	id, _ := body["MessageTraceId"].(string)
	to, _ := body["RecipientAddress"].(string)
	if id == "" {
		id, _ = body["id"].(string)
		to, _ = body["recipientAddress"].(string)
	}
	if id == "" {
		return "", fmt.Errorf("event body has no trace id: %.120s", message)
	}
	return id + "|" + strings.ToLower(to), nil
}

// Keys are the identities of rows.
func Keys(rows []msgtracetest.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID + "|" + strings.ToLower(r.Recipient)
	}
	return out
}

func randomSecret() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return "sim~" + hex.EncodeToString(b[:])
}

// StartTenant starts only a fake tenant (with a generated secret unless opts has a credential)
// and writes its CA into dir.
func StartTenant(dir string, opts msgtracetest.Options) (*Stack, error) {
	s := &Stack{Dir: dir}
	if opts.ClientSecret == "" && opts.ClientCert == nil {
		opts.ClientSecret = randomSecret()
	}
	s.Secret = opts.ClientSecret
	var err error
	if s.Tenant, err = msgtracetest.NewServer(opts); err != nil {
		return nil, err
	}
	if s.TenantCA, err = s.Tenant.CAFile(dir); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// TenantEnv is the part of Env that describes the tenant, with what AKS workload identity
// injects (AZURE_*) when the stack has a federated credential, and the metadata service's URL
// when it has one.
func (s *Stack) TenantEnv() []string {
	o := s.Tenant.Options()
	env := []string{
		"MSGTRACE_URL=" + s.Tenant.URL(),
		"MSGTRACE_CA=" + s.TenantCA,
		"MSGTRACE_TENANT=" + o.TenantID,
		"MSGTRACE_CLIENT_ID=" + o.ClientID,
		"O365_CLIENT_SECRET=" + s.Secret,
	}
	if s.TokenFile != "" {
		env = append(env, "AZURE_FEDERATED_TOKEN_FILE="+s.TokenFile, "AZURE_CLIENT_ID="+o.ClientID, "AZURE_TENANT_ID="+o.TenantID)
	}
	if s.Metadata != nil {
		env = append(env, "MSGTRACE_IMDS="+s.Metadata.TokenURL())
	}
	return env
}

// FaultMix is the Microsoft fault mix of the end-to-end tests, each kind at rate: 5xx, an HTML
// sign-in page with 200, truncated JSON, slow replies, a poisoned next-link, a 401, a 429.
func FaultMix(rate float64) map[msgtracetest.FaultKind]float64 {
	return map[msgtracetest.FaultKind]float64{
		msgtracetest.FaultServerError:    rate,
		msgtracetest.FaultHTMLSignIn:     rate,
		msgtracetest.FaultTruncatedJSON:  rate,
		msgtracetest.FaultSlow:           rate / 2,
		msgtracetest.FaultPoisonNextLink: rate,
		msgtracetest.FaultUnauthorized:   rate / 2,
		msgtracetest.FaultThrottle:       rate / 2,
	}
}

// LiveTraffic adds perSecond new messages a second (received now) until the returned func is
// called, so a running collector sees a tenant that keeps receiving mail.
func LiveTraffic(t *msgtracetest.Server, seed int64, perSecond float64, gen msgtracetest.GenerateOptions) (stop func()) {
	if perSecond <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		carry := 0.0
		for i := int64(0); ; i++ {
			select {
			case <-done:
				return
			case now := <-tick.C:
				carry += perSecond
				n := int(carry)
				carry -= float64(n)
				if n > 0 {
					t.AddRows(msgtracetest.Generate(seed+i, n, now.Add(-time.Second), now, gen)...)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}
