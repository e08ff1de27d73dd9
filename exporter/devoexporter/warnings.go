package devoexporter // import "github.com/msgtrace/otelcol-msgtrace/exporter/devoexporter"

import (
	"fmt"

	"go.uber.org/zap"
)

// riskWarning is one setting that trades away part of the delivery guarantee.
type riskWarning struct {
	key, risk string
}

// riskWarnings lists the settings that weaken what the defaults promise (README "Delivery
// guarantees"): nothing lost, the caller's checkpoint never passing an unconfirmed row.
func riskWarnings(c *Config) []riskWarning {
	var out []riskWarning
	if !c.BackOff.Enabled {
		out = append(out, riskWarning{
			"retry_on_failure::enabled",
			"retries are disabled: a push that fails once is given up; with a queue that does not wait for results (or a persistent one) its rows are dropped",
		})
	} else if c.BackOff.MaxElapsedTime > 0 {
		out = append(out, riskWarning{"retry_on_failure::max_elapsed_time", fmt.Sprintf(
			"a push is given up after %s of failed retries: during a longer Devo outage its rows are dropped unless the sender waits for the result and offers them again", c.BackOff.MaxElapsedTime)})
	}
	if q := c.Queue.Get(); q != nil {
		if q.StorageID == nil && !q.WaitForResult {
			out = append(out, riskWarning{
				"sending_queue::wait_for_result",
				"is false with an in-memory queue: senders (and the receiver's checkpoint) move on once rows are queued, so a crash or kill loses whatever the queue holds",
			})
		}
		if !q.BlockOnOverflow {
			out = append(out, riskWarning{
				"sending_queue::block_on_overflow",
				"is false: when the queue is full new rows are refused instead of waiting; senders that do not retry lose them",
			})
		}
	}
	if c.Delivery == DeliveryFast {
		out = append(out, riskWarning{
			"delivery",
			"is fast: a connection reset loses the rows still in socket buffers (hundreds to thousands per reset) without any error; use confirmed for no loss",
		})
	}
	return out
}

func logRiskWarnings(logger *zap.Logger, c *Config) {
	for _, w := range riskWarnings(c) {
		logger.Warn("devo exporter setting weakens the delivery guarantee", zap.String("key", w.key), zap.String("risk", w.risk))
	}
}
