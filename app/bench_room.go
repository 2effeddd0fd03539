package app

import (
	"context"

	"github.com/boxoffice/boxoffice/bench"
	"github.com/boxoffice/boxoffice/config"
)

var _ bench.RoomEnv = (*BenchEnv)(nil)

// RoomRecords implements bench.RoomEnv: a room's records in Redis (its
// tickets, admission steps and first passes, all Redis time), in bench's
// words. Tick is the gateways' default --queue-tick: the environment does
// not see the flags of the gateways it audits (bench room puts its own
// --queue-tick in when it passes one).
func (e *BenchEnv) RoomRecords(ctx context.Context, concert int64) (bench.RoomRecords, error) {
	r, err := e.Stock.RoomRecords(ctx, concert)
	if err != nil {
		return bench.RoomRecords{}, err
	}
	out := bench.RoomRecords{OpensAt: r.OpensAt, Rate: r.Rate, MaxActive: r.MaxActive, PassTTL: r.PassTTL, Tick: config.Default().QueueTick,
		Drawn: r.Drawn, Admitted: r.Admitted, SoldOutAt: r.SoldOutAt, Issued: r.Issued,
		Tickets: make([]bench.RoomTicket, 0, len(r.Tickets)), Cohorts: make([]bench.RoomCohort, 0, len(r.Cohorts))}
	for _, t := range r.Tickets {
		out.Tickets = append(out.Tickets, bench.RoomTicket{Member: t.Member, Position: t.Position, PreOpen: t.PreOpen, Seq: t.Seq, JoinedAt: t.JoinedAt})
	}
	for _, c := range r.Cohorts {
		out.Cohorts = append(out.Cohorts, bench.RoomCohort{UpTo: c.UpTo, At: c.At, ExpiresAt: c.ExpiresAt})
	}
	return out, nil
}
