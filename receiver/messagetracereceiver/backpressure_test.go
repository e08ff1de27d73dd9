package messagetracereceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/msgtrace/otelcol-msgtrace/internal/msgtracetest"
)

// While the pipeline cannot deliver (the devo exporter's defaults make ConsumeLogs wait until
// Devo confirmed the rows) the receiver waits for the page it handed over: no further API
// request, so no quota is spent. Shutdown cancels the wait and the checkpoint stays before the
// page, which is offered again by the next run.
func TestBlockedPipelineSpendsNoQuotaAndShutdownKeepsCheckpoint(t *testing.T) {
	rows := rowsIn(9, 300, msgtracetest.GenerateOptions{})
	h := newHarness(t, msgtracetest.Options{}, rows)
	h.cfg.PageSize = 100
	entered := make(chan struct{}, 1)
	blocked := consumerFunc(func(ctx context.Context, _ plog.Logs) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	})
	r, ctx := h.receiver(blocked)
	before := r.state.cp.Done
	ctx, cancel := context.WithCancel(ctx)
	polled := make(chan error, 1)
	go func() { polled <- r.poll(ctx) }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first page never reached the pipeline")
	}
	requests := h.srv.APIRequestCount()
	time.Sleep(500 * time.Millisecond)
	assert.Equal(t, requests, h.srv.APIRequestCount(), "no request while the pipeline holds the page")
	cancel()
	select {
	case err := <-polled:
		require.Error(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the poll did not end when its context was cancelled")
	}
	assert.Equal(t, before, r.state.cp.Done, "the checkpoint did not move")
	assert.Nil(t, r.state.cp.Open, "no progress inside the range was stored")
}
