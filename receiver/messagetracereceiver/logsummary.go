package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// summaryInterval is how often a receiver logs its info-level summary. Per-range lines are
// debug: at the defaults they come twice a minute per tenant, 2,880 lines a day, 1.4 million a
// day for 500 tenants; an hourly line is 24 a day per tenant and still says whether it is
// reading, how much and how far behind.
const summaryInterval = time.Hour

// pullSummary adds up the ranges completed since the last summary line.
type pullSummary struct {
	since    time.Time
	ranges   int
	rows     int
	emitted  int
	pages    int
	requests int64
}

func (s *pullSummary) add(rows, emitted, pages int, requests int64) {
	s.ranges++
	s.rows += rows
	s.emitted += emitted
	s.pages += pages
	s.requests += requests
}

// logSummary writes the summary line once summaryInterval has passed since the last one (or
// since the first poll), then starts a new period.
func (r *messageTraceReceiver) logSummary(now time.Time) {
	s := &r.summary
	if s.since.IsZero() {
		s.since = now
		return
	}
	if now.Sub(s.since) < summaryInterval {
		return
	}
	fields := []zap.Field{
		zap.Duration("period", now.Sub(s.since).Round(time.Second)),
		zap.Int("ranges", s.ranges), zap.Int("rows", s.rows), zap.Int("emitted", s.emitted),
		zap.Int("pages", s.pages), zap.Int64("requests", s.requests),
	}
	for _, p := range r.passes {
		fields = append(fields, zap.Duration(p.name+"_lag", max(p.planner.limit(now).Sub(p.cp().Done), 0).Round(time.Second)))
	}
	r.set.Logger.Info("Pull summary: last period", fields...)
	*s = pullSummary{since: now}
}

// logRange writes the per-range line: at info while the pass works through a backlog after a
// start or an outage (what an operator watches then, and a bounded number of lines), at debug
// once it has caught up, with one info line when it does.
func (r *messageTraceReceiver) logRange(p *pass, lag time.Duration, fields ...zap.Field) {
	behind := lag > r.cfg.PollInterval
	level := zapcore.DebugLevel
	if behind || !p.caughtUp {
		level = zapcore.InfoLevel
	}
	if ce := r.set.Logger.Check(level, "Pull summary: range complete"); ce != nil {
		ce.Write(fields...)
	}
	switch {
	case !behind && !p.caughtUp:
		p.caughtUp = true
		r.set.Logger.Info("Pull summary: caught up; further ranges are logged at debug level, with a summary every hour",
			zap.String("pass", p.name), zap.Duration("lag", lag))
	case behind && p.caughtUp:
		p.caughtUp = false
	}
}
