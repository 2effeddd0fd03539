package stock_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice/stock"
)

// BenchmarkHotConcert: admissions per second on one concert whose stock
// never runs out, from 64 goroutines through the gateway's coalescer, with
// its stock in 1, 3 or 6 buckets; on the cluster, also each master's share
// of a core (INFO cpu before and after) and the ceiling that sets: the
// admissions/s at which the busiest master would use a whole core. With
// one bucket one master does all the work — the single-slot ceiling; with
// more the work spreads. On a small machine the benchmark's own process is
// the limit long before Redis is, hence the ceiling.
//
//	make bench-buckets   (or: go test -run '^$' -bench HotConcert -benchtime 20000x ./stock)
func BenchmarkHotConcert(b *testing.B) {
	for _, tg := range targets {
		for _, n := range []int{1, 3, 6} {
			b.Run(fmt.Sprintf("%s/buckets=%d", tg.name, n), func(b *testing.B) {
				st := tg.open(b)
				stop := st.Coalesce(4)
				defer stop()
				ctx := context.Background()
				if err := st.Load(ctx, stock.Loading{Concert: hot, Remaining: 1 << 40, Epoch: "bench", Reset: true, Buckets: n}); err != nil {
					b.Fatal(err)
				}
				// Warm the layout and the scripts before the clock runs.
				if _, err := st.Reserve(ctx, hres("warm", 0)); err != nil {
					b.Fatal(err)
				}
				var member atomic.Int64
				cpu0 := masterCPU(b, st)
				b.SetParallelism(32)
				b.ResetTimer()
				t0 := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						m := member.Add(1)
						r := hres("r"+strconv.FormatInt(m, 10), m)
						if _, err := st.Reserve(ctx, r); err != nil {
							b.Error(err)
							return
						}
					}
				})
				wall := time.Since(t0).Seconds()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/wall, "admissions/s")
				if cpu0 == nil {
					return
				}
				cpu1 := masterCPU(b, st)
				var shares []float64
				for addr, c := range cpu1 {
					shares = append(shares, 100*(c-cpu0[addr])/wall)
				}
				slices.Sort(shares)
				slices.Reverse(shares)
				for i, s := range shares {
					b.ReportMetric(s, fmt.Sprintf("cpu%%-master%d", i+1))
				}
				// What the busiest master would admit at a whole core: the
				// ceiling Redis sets, whoever is the limit on this machine.
				b.ReportMetric(float64(b.N)/wall*100/shares[0], "ceiling-admissions/s")
			})
		}
	}
}

// BenchmarkHotConcertSellOut: a whole sale — b.N seats, b.N members of
// random ids (so the buckets drain unevenly, as a real crowd would) — on
// the single Redis with the stock in 1 or 4 buckets: what the
// borrowing at the end of a sale costs, and how many transfers it takes.
func BenchmarkHotConcertSellOut(b *testing.B) {
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("buckets=%d", n), func(b *testing.B) {
			st := singleStore(b)
			stop := st.Coalesce(4)
			defer stop()
			ctx := context.Background()
			if err := st.Load(ctx, stock.Loading{Concert: hot, Remaining: int64(b.N), Epoch: "bench", Reset: true, Buckets: n}); err != nil {
				b.Fatal(err)
			}
			var member atomic.Int64
			var refused atomic.Int64
			count := &commandCount{}
			st.Client().AddHook(count)
			b.SetParallelism(32)
			b.ResetTimer()
			t0 := time.Now()
			count.since(t0)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m := rand.Int64N(1 << 40) // two alike in 40,000: 1 in 1,400
					a, err := st.Reserve(ctx, hres("r"+strconv.FormatInt(member.Add(1), 10), m))
					if stock.Answer(a, err) != "accepted" {
						refused.Add(1)
					}
				}
			})
			wall := time.Since(t0).Seconds()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/wall, "admissions/s")
			if refused.Load() != 0 {
				b.Errorf("%d of %d refused with as many seats as members", refused.Load(), b.N)
			}
			moves, err := st.TransfersSettled(ctx, hot)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(moves), "transfers")
			b.ReportMetric(float64(count.cmds.Load())/float64(b.N), "redis-cmds/admission")
			if first := count.firstTransfer.Load(); first != 0 {
				// From the first transfer (a bucket ran dry) to the last seat.
				b.ReportMetric(float64(t0.Add(time.Duration(int64(wall*1e9))).UnixNano()-first)/1e6, "borrowing-ms")
			}
		})
	}
}

// commandCount counts the commands sent (pipelined ones each) and notes when
// the first one outside a pipeline (a transfer's script) went.
type commandCount struct {
	cmds, firstTransfer atomic.Int64
}

func (c *commandCount) since(t time.Time) { c.cmds.Store(0); c.firstTransfer.Store(0) }

func (c *commandCount) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCount) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.cmds.Add(1)
		if cmd.Name() == "evalsha" {
			c.firstTransfer.CompareAndSwap(0, time.Now().UnixNano())
		}
		return next(ctx, cmd)
	}
}

func (c *commandCount) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// masterCPU returns each master's used CPU seconds (user+sys), nil on a
// single Redis (shared with everything else on this machine: not telling).
func masterCPU(b *testing.B, st *stock.Store) map[string]float64 {
	cc, ok := st.Client().(*redis.ClusterClient)
	if !ok {
		return nil
	}
	var mu sync.Mutex
	out := map[string]float64{}
	err := cc.ForEachMaster(context.Background(), func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "cpu").Result()
		if err != nil {
			return err
		}
		var sec float64
		for line := range strings.SplitSeq(info, "\r\n") {
			k, v, _ := strings.Cut(line, ":")
			if k == "used_cpu_user" || k == "used_cpu_sys" {
				f, _ := strconv.ParseFloat(v, 64)
				sec += f
			}
		}
		mu.Lock()
		out[c.Options().Addr] = sec
		mu.Unlock()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return out
}
