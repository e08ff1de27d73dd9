package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newPasses makes the settled pass and, with early_delay, the early pass, which goes first:
// freshness is its whole point.
func (r *messageTraceReceiver) newPasses() (settled *pass, passes []*pass) {
	settled = &pass{
		name: "settled", planner: newRangePlanner(r.cfg, r.cfg.Delay), last: true,
		cp: func() *passCheckpoint { return &r.state.cp.passCheckpoint },
	}
	settled.bound = func(cp *passCheckpoint, now time.Time) {
		if from, to, gap := settled.planner.clampCheckpoint(cp, now); gap > 0 {
			r.set.Logger.Warn("the checkpoint is older than the API allows; rows in the gap cannot be read any more",
				zap.Time("checkpoint", from), zap.Time("clamped_to", to), zap.Duration("gap", gap))
		}
	}
	if r.cfg.EarlyDelay <= 0 {
		return settled, []*pass{settled}
	}
	early := &pass{
		name: "early", planner: newRangePlanner(r.cfg, r.cfg.EarlyDelay), remembers: true, shares: true,
		cp: func() *passCheckpoint {
			if r.state.cp.Early == nil {
				r.state.cp.Early = &passCheckpoint{}
			}
			return r.state.cp.Early
		},
	}
	early.bound = func(cp *passCheckpoint, now time.Time) {
		if floor := settled.planner.limit(now); cp.raiseTo(floor) && r.state.cp.EarlyFrom.IsZero() {
			r.state.cp.EarlyFrom = floor
		}
	}
	settled.shares, settled.countsLate = true, true
	return settled, []*pass{early, settled}
}

// poll walks both passes from their checkpoints to now - delay (settled) and now - early_delay
// (early), one range of each in turn so neither falls behind while the other has a backlog.
func (r *messageTraceReceiver) poll(ctx context.Context) error {
	// One clock reading for the whole poll: the passes walk to limits fixed at its start, so a
	// slow API cannot keep the poll going with ever newer one-second ranges.
	observed := r.now()
	defer r.recordLag(ctx)
	defer func() { r.logSummary(r.now()) }()
	for ctx.Err() == nil {
		progressed := false
		for _, p := range r.passes {
			ok, err := r.step(ctx, p, observed)
			if err != nil {
				return err
			}
			progressed = progressed || ok
		}
		if !progressed {
			r.details.turn(ctx) // details only once the list has caught up
			return nil
		}
	}
	return ctx.Err()
}

// step reads the next range of a pass, or the next pageBudget pages of it, so that the other
// pass gets its turn while one has a long range.
func (r *messageTraceReceiver) step(ctx context.Context, p *pass, observed time.Time) (bool, error) {
	p.bound(p.cp(), observed)
	prog, ok := p.planner.resume(p.cp(), observed)
	ahead := p.cp().Done
	if ok {
		ahead = prog.End
	}
	if ahead.After(observed.Add(maxClockSkew)) {
		// Checked at load too; this is the clock jumping back while running. Restarting from
		// initial_lookback would emit rows again, and the API refuses a range in the future,
		// so the pass waits for the clock.
		r.set.Logger.Warn("the checkpoint lies ahead of this machine's clock (did the clock jump back?); "+
			"nothing is read until the clock passes it", zap.String("pass", p.name), zap.Time("done_until", ahead), zap.Time("now", observed.UTC()))
		return false, nil
	}
	if !ok {
		return false, nil
	}
	started, requests := r.now(), r.requests.Load()
	pages, emitted, complete, err := r.walk(ctx, p, prog, observed)
	if err != nil {
		return false, err
	}
	if !complete {
		r.set.Logger.Debug("range paused for the other pass", zap.String("pass", p.name),
			zap.Time("from", prog.Start), zap.Time("to", prog.End), zap.Int("rows", prog.Rows), zap.Int("pages", pages))
		return true, nil
	}
	p.planner.learn(prog.End.Sub(prog.Start), prog.Rows)
	cp := p.cp()
	cp.Done, cp.Open = prog.End, nil
	if p.last {
		// No pass returns here: what was remembered of this range is done.
		r.state.seen.forgetBefore(cp.Done.Add(-bucketSpan))
	}
	if prog.Rows == 0 {
		r.disk.saveEmpty(ctx)
	} else {
		r.disk.save(ctx)
	}
	r.summary.add(prog.Rows, emitted, pages, r.requests.Load()-requests)
	r.logRange(p, p.planner.limit(observed).Sub(cp.Done),
		zap.String("pass", p.name),
		zap.Time("from", prog.Start), zap.Time("to", prog.End),
		zap.Int("rows", prog.Rows), zap.Int("emitted", emitted), zap.Int("pages", pages),
		zap.Int64("requests", r.requests.Load()-requests),
		zap.Duration("took", r.now().Sub(started).Round(time.Millisecond)),
		zap.Duration("lag", p.planner.limit(observed).Sub(cp.Done)))
	r.recordLag(ctx)
	return true, nil
}

func (r *messageTraceReceiver) recordLag(ctx context.Context) {
	now := r.now()
	for _, p := range r.passes {
		lag := p.planner.limit(now).Sub(p.cp().Done).Seconds()
		r.telemetry.ReceiverMessageTraceCheckpointLag.Record(ctx, max(lag, 0), metric.WithAttributes(attribute.String("pass", p.name)))
	}
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
