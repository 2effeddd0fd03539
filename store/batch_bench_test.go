package store_test

import (
	"context"
	"crypto/rand"
	"strconv"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/boxoffice/boxoffice/servicetest"
	"github.com/boxoffice/boxoffice/store"
)

// BenchmarkApplyBatch writes batches as a rush makes them (fresh ids rising,
// each member once, 10 concerts, a hold deadline) on one connection: the
// fast path alone, against the real MariaDB, with each way of inserting
// (insert: the prepared INSERT; load: LOAD DATA LOCAL). ns/op is per batch; rows/s is
// reported beside it.
func BenchmarkApplyBatch(b *testing.B) {
	for _, ins := range []struct {
		name string
		load bool
	}{{"insert", false}, {"load", true}} {
		for _, size := range []int{500, 1000, 2000} {
			b.Run(ins.name+"/rows="+strconv.Itoa(size), func(b *testing.B) {
				const concerts = 10
				db := servicetest.Store(b, 1, concerts, 10_000_000)
				if ins.load {
					if on, err := db.UseLoadData(context.Background()); err != nil || !on {
						b.Fatalf("local_infile: %v %v", on, err)
					}
				}
				ctx := context.Background()
				entropy := ulid.Monotonic(rand.Reader, 0)
				now := time.Now().UTC()
				expires := now.Add(5 * time.Minute)
				member := int64(0)
				batches := make([][]store.NewReservation, b.N)
				for i := range batches {
					batch := make([]store.NewReservation, size)
					for j := range batch {
						member++
						batch[j] = store.NewReservation{ID: ulid.MustNew(ulid.Timestamp(now), entropy).String(),
							ConcertID: member%concerts + 1, MemberID: member, CreatedAt: now, ExpiresAt: &expires}
					}
					batches[i] = batch
				}
				b.ResetTimer()
				for i := range b.N {
					out, err := db.ApplyBatch(ctx, batches[i])
					if err != nil {
						b.Fatal(err)
					}
					if len(out.Written) != size {
						b.Fatalf("%d written of %d", len(out.Written), size)
					}
				}
				b.ReportMetric(float64(size*b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
