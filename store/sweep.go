package store

import (
	"context"
	"log/slog"
	"time"
)

// SweepGrace is how long past its expiry a record is kept before the
// sweeper removes it, so that a late request still gets an accurate
// explanation ("expired", "already used") rather than "unknown".
const SweepGrace = time.Hour

// RunSweeper removes expired flows and sessions from s every interval until
// ctx ends, and audit events older than auditRetention (0 keeps them
// forever). Reads check expiry themselves, so the sweeper only reclaims
// space; a failed sweep is logged and tried again at the next tick.
func RunSweeper(ctx context.Context, s Store, interval, auditRetention time.Duration, now func() time.Time, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := s.SweepExpired(ctx, now(), SweepGrace)
			switch {
			case err != nil && ctx.Err() == nil:
				logger.Error("sweep expired sessions", "err", err)
			case n > 0:
				logger.Info("swept expired sessions", "count", n)
			}
			n, err = s.SweepRateCounts(ctx, now())
			switch {
			case err != nil && ctx.Err() == nil:
				logger.Error("sweep expired rate-limit counters", "err", err)
			case n > 0:
				logger.Debug("swept expired rate-limit counters", "count", n)
			}
			if auditRetention <= 0 {
				continue
			}
			n, err = s.SweepAudit(ctx, now().Add(-auditRetention))
			switch {
			case err != nil && ctx.Err() == nil:
				logger.Error("sweep old audit events", "err", err)
			case n > 0:
				logger.Info("swept old audit events", "count", n, "retention", auditRetention.String())
			}
		}
	}
}
