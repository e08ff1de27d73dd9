package messagetracereceiver

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.uber.org/zap"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// What Devo's users look for in their logs, at info and once: one summary of the settings per
// receiver at start-up, and the first token per tenant with its lifetime (never the token).
func TestStartSummaryAndFirstTokenLogged(t *testing.T) {
	h := newHarness(t, msgtracetest.Options{QuotaRequests: -1}, rowsIn(5, 20, msgtracetest.GenerateOptions{}))
	h.cfg.EarlyDelay = 10 * time.Minute
	h.cfg.Details.Enabled = true
	h.cfg.LocalDomains = []string{"contoso.com"}
	r, ctx := h.receiver(new(consumertest.LogsSink))

	starts := h.logs.FilterMessage("message trace receiver starting").All()
	require.Len(t, starts, 1)
	assert.Equal(t, zap.InfoLevel, starts[0].Level)
	fields := starts[0].ContextMap()
	assert.Equal(t, "graph", fields["api"])
	assert.Equal(t, h.cfg.TenantID, fields["tenant_id"])
	assert.Equal(t, time.Hour, fields["delay"])
	assert.Equal(t, 10*time.Minute, fields["early_delay"])
	assert.Equal(t, time.Minute, fields["poll_interval"])
	assert.Equal(t, h.cfg.StorageID.String(), fields["storage"])
	assert.Equal(t, true, fields["details"])
	assert.Contains(t, fields, "details_statuses")
	assert.Contains(t, fields, "legacy_field_names")
	assert.Contains(t, fields, "local_domains")

	require.NoError(t, r.poll(ctx))
	for range 2 {
		r.client.tokens.invalidate() // as after a 401: the next call logs in again, not logged
		_, err := r.client.tokens.Token()
		require.NoError(t, err)
	}
	tokens := h.logs.FilterMessage("access token obtained").All()
	require.Len(t, tokens, 1, "the first token only")
	assert.Equal(t, zap.InfoLevel, tokens[0].Level)
	lifetime, ok := tokens[0].ContextMap()["lifetime"].(time.Duration)
	require.True(t, ok, "lifetime is a duration: %v", tokens[0].ContextMap())
	assert.InDelta(t, float64(time.Hour), float64(lifetime), float64(5*time.Minute))
	assert.Equal(t, h.cfg.TenantID, tokens[0].ContextMap()["tenant_id"])
	assert.GreaterOrEqual(t, h.srv.TokensIssued(), 3, "the receiver did log in again")

	// No token text anywhere in the log.
	tok, err := r.client.tokens.Token()
	require.NoError(t, err)
	for _, e := range h.logs.All() {
		assert.NotContains(t, e.Message+fmt.Sprint(e.ContextMap()), tok.AccessToken)
		assert.NotContains(t, fmt.Sprint(e.ContextMap()), string(h.cfg.ClientSecret), "secret in %q", e.Message)
	}
}

// Without storage the summary says the checkpoint is in memory.
func TestStartSummaryNamesMemoryStorage(t *testing.T) {
	h := newHarness(t, msgtracetest.Options{QuotaRequests: -1}, nil)
	h.cfg.StorageID = nil
	h.receiver(new(consumertest.LogsSink))
	starts := h.logs.FilterMessage("message trace receiver starting").All()
	require.Len(t, starts, 1)
	assert.Equal(t, "memory (lost at restart)", starts[0].ContextMap()["storage"])
	assert.Equal(t, false, starts[0].ContextMap()["details"])
}
