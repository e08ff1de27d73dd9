package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/oauth2"
)

// The info lines users of Devo's collector look for at start-up (its "Successfully received JWT
// token ... which expires in 3599 seconds" and its settings): one summary per receiver at Start
// and one line for the first token of each tenant. Both are bounded: once per Start.

// logStartSummary says what the receiver was configured to do, in one line.
func (r *messageTraceReceiver) logStartSummary() {
	c := r.cfg
	storage := "memory (lost at restart)"
	if c.StorageID != nil {
		storage = c.StorageID.String()
	}
	fields := []zap.Field{
		zap.String("tenant_id", c.TenantID),
		zap.String("api", c.API),
		zap.String("endpoint", c.effectiveEndpoint()),
		zap.Duration("delay", c.Delay),
		zap.Duration("early_delay", c.EarlyDelay),
		zap.Duration("poll_interval", c.PollInterval),
		zap.Duration("initial_lookback", c.InitialLookback),
		zap.String("storage", storage),
		zap.Bool("legacy_field_names", c.LegacyFieldNames),
		zap.Bool("details", c.Details.Enabled),
	}
	if c.Details.Enabled {
		fields = append(fields, zap.Strings("details_statuses", c.Details.Statuses))
	}
	if len(c.LocalDomains) > 0 {
		fields = append(fields, zap.Strings("local_domains", c.LocalDomains))
	}
	r.set.Logger.Info("message trace receiver starting", fields...)
}

// firstTokenLog logs the first token a login source hands out: its lifetime, never the token.
// Renewals (about hourly) are not logged; a refused login is logged where it is handled.
type firstTokenLog struct {
	source oauth2.TokenSource
	logger *zap.Logger
	tenant string
	done   atomic.Bool
}

func (l *firstTokenLog) Token() (*oauth2.Token, error) {
	tok, err := l.source.Token()
	if err != nil || l.done.Load() || !l.done.CompareAndSwap(false, true) {
		return tok, err
	}
	fields := []zap.Field{zap.String("tenant_id", l.tenant)}
	if !tok.Expiry.IsZero() {
		fields = append(fields, zap.Duration("lifetime", time.Until(tok.Expiry).Round(time.Second)))
	}
	l.logger.Info("access token obtained", fields...)
	return tok, nil
}
