package messagetracereceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/metadata"
)

func TestStartReturnsAtOnceAndShutdownIsQuick(t *testing.T) {
	rows := rowsIn(16, 200, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.PageSize = 10
	// Every page is slow: Shutdown must cancel the request in flight.
	slow := make([]msgtracetest.Fault, 100)
	for i := range slow {
		slow[i] = msgtracetest.Fault{Kind: msgtracetest.FaultSlow, Delay: 2 * time.Second}
	}
	h.srv.InjectFaults(slow...)
	r, err := newReceiver(receivertest.NewNopSettings(metadata.Type), h.cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, r.Start(context.Background(), h.host))
	assert.Less(t, time.Since(start), 500*time.Millisecond)
	require.Eventually(t, func() bool { return h.srv.APIRequestCount() > 0 }, 5*time.Second, 10*time.Millisecond)
	start = time.Now()
	require.NoError(t, r.Shutdown(context.Background()))
	took := time.Since(start)
	assert.Less(t, took, time.Second)
	t.Logf("shutdown with a request in flight took %v", took)
	require.NoError(t, r.Shutdown(context.Background()), "a second Shutdown is safe")
}

func TestWithoutStorageWarnsOnce(t *testing.T) {
	h := newHarness(t, msgtracetest.Options{}, nil)
	h.cfg.StorageID = nil
	r, _ := h.receiver(new(consumertest.LogsSink))
	assert.Equal(t, 1, h.logs.FilterMessageSnippet("no `storage` configured").Len())
	assert.NotNil(t, r.state.cp)
}

func TestResetCheckpointDiscardsStoredProgress(t *testing.T) {
	rows := rowsIn(17, 40, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	first := new(consumertest.LogsSink)
	r1, ctx1 := h.receiver(first)
	require.NoError(t, r1.poll(ctx1))
	require.NoError(t, r1.Shutdown(context.Background()))

	// Same reset value: resumes, nothing again.
	again := new(consumertest.LogsSink)
	r2, ctx2 := h.receiver(again)
	require.NoError(t, r2.poll(ctx2))
	assert.Zero(t, again.LogRecordCount())
	require.NoError(t, r2.Shutdown(context.Background()))

	h.cfg.ResetCheckpoint = "2026-11-21"
	reset := new(consumertest.LogsSink)
	r3, ctx3 := h.receiver(reset)
	require.NoError(t, r3.poll(ctx3))
	requireExactlyOnce(t, rows, delivered(reset))
	assert.Equal(t, 1, h.logs.FilterMessageSnippet("reset_checkpoint changed").Len())
}
