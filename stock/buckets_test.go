package stock_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/servicetest"
	"github.com/boxoffice/boxoffice/stock"
)

// target is a Redis to run the bucket tests on: the single node, or the
// shared cluster of scaleout/ (BOX_CLUSTER_REDIS_ADDR).
type target struct {
	name string
	open func(t testing.TB) *stock.Store
}

var targets = []target{{"single", singleStore}, {"cluster", clusterStore}}

func singleStore(t testing.TB) *stock.Store {
	rdb, prefix := servicetest.Redis(t)
	return stock.New(rdb, prefix, 2*time.Second)
}

// clusterStore is a Store on the shared Redis Cluster, under a prefix of
// the test's own that is deleted on every master at the end.
func clusterStore(t testing.TB) *stock.Store {
	t.Helper()
	// make test always sets BOX_CLUSTER_REDIS_ADDR (or BOX_CLUSTER_TESTS=off);
	// the stand-in run has no cluster and sets neither: skip, not fail.
	addr := os.Getenv("BOX_CLUSTER_REDIS_ADDR")
	if addr == "" || os.Getenv("BOX_CLUSTER_TESTS") == "off" {
		t.Skip("no Redis Cluster (BOX_CLUSTER_REDIS_ADDR); export `bash scripts/cluster.sh test-env`")
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addr, ","), DialTimeout: 2 * time.Second, PoolSize: 256})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		servicetest.Unavailable(t, "the Redis Cluster at "+addr, err)
	}
	prefix := "bo-t" + servicetest.RandomHex(5)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
			for iter.Next(ctx) {
				c.Del(ctx, iter.Val())
			}
			return iter.Err()
		})
		rdb.Close()
	})
	return stock.New(rdb, prefix, 2*time.Second)
}

const hot = 7 // the concert of these tests

func loadBuckets(t testing.TB, st *stock.Store, seats int64, buckets int) {
	t.Helper()
	if err := st.Load(context.Background(), stock.Loading{Concert: hot, Remaining: seats, Epoch: "e1", Reset: true, Buckets: buckets}); err != nil {
		t.Fatal(err)
	}
}

func hres(id string, member int64) stock.Reservation {
	return stock.Reservation{ID: id, ConcertID: hot, MemberID: member, Payload: []byte(`{}`), Now: time.Now()}
}

func stocks(t *testing.T, st *stock.Store) []int64 {
	t.Helper()
	s, err := st.BucketStocks(context.Background(), hot)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sum(xs []int64) (n int64) {
	for _, x := range xs {
		n += x
	}
	return n
}

// TestBucketRush: a rush on one concert of 4 buckets, five times more
// members than seats, some members sending twice at once: exactly capacity
// admitted, nobody twice, every bucket empty, no seat in transit, and the
// snapshot agrees.
func TestBucketRush(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			const seats, members, workers = 60, 300, 32
			ctx := context.Background()
			st := tg.open(t)
			loadBuckets(t, st, seats, 4)
			if n, err := st.Buckets(ctx, hot); err != nil || n != 4 {
				t.Fatalf("buckets %d (%v), want 4", n, err)
			}
			// Every member once; every fifth twice more: once with its own
			// id again (a replay), once with another (a second click).
			var todo []stock.Reservation
			for m := int64(1); m <= members; m++ {
				todo = append(todo, hres(fmt.Sprintf("r%d", m), m))
				if m%5 == 0 {
					todo = append(todo, hres(fmt.Sprintf("r%d", m), m), hres(fmt.Sprintf("r%d-again", m), m))
				}
			}
			var (
				mu       sync.Mutex
				admitted = map[int64][]string{}
				answers  = map[string]int{}
				next     = make(chan stock.Reservation)
				wg       sync.WaitGroup
			)
			for range workers {
				wg.Go(func() {
					for r := range next {
						a, err := st.Reserve(ctx, r)
						ans := stock.Answer(a, err)
						mu.Lock()
						answers[ans]++
						if ans == "accepted" {
							admitted[r.MemberID] = append(admitted[r.MemberID], a.ID)
						}
						mu.Unlock()
						if ans == "error" {
							t.Errorf("reserve %s: %v", r.ID, err)
						}
					}
				})
			}
			for _, r := range todo {
				next <- r
			}
			close(next)
			wg.Wait()
			t.Logf("answers %v, bucket stocks %v", answers, stocks(t, st))
			if len(admitted) != seats || answers["accepted"] != seats {
				t.Errorf("admitted %d members in %d admissions, want %d", len(admitted), answers["accepted"], seats)
			}
			for m, ids := range admitted {
				if len(ids) != 1 {
					t.Errorf("member %d admitted %d times: %v", m, len(ids), ids)
				}
			}
			if s := stocks(t, st); sum(s) != 0 {
				t.Errorf("bucket stocks %v after selling out, want all 0", s)
			}
			snap, err := st.Snapshot(ctx, hot)
			if err != nil {
				t.Fatal(err)
			}
			if snap.Remaining != 0 || snap.InTransit != 0 || len(snap.Members) != seats || len(snap.InFlight) != seats || snap.Epoch != "e1" || !snap.Loaded {
				t.Errorf("snapshot: remaining %d, in transit %d, members %d, in flight %d, epoch %q, loaded %v",
					snap.Remaining, snap.InTransit, len(snap.Members), len(snap.InFlight), snap.Epoch, snap.Loaded)
			}
			if a, err := st.Reserve(ctx, hres("late", members+1)); stock.Answer(a, err) != "sold_out" {
				t.Errorf("after the rush: %s (%v), want sold_out", stock.Answer(a, err), err)
			}
		})
	}
}

// TestBucketSellOutSeatForEach: as many members (random ids, so the
// buckets drain unevenly) as seats, all at once: every one is admitted —
// nobody is told "sold out" while a seat is left in another bucket or on
// its way between two.
func TestBucketSellOutSeatForEach(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			const seats, workers = 400, 32
			ctx := context.Background()
			st := tg.open(t)
			loadBuckets(t, st, seats, 4)
			seen := map[int64]bool{}
			var members []int64
			for len(members) < seats {
				if m := rand.Int64N(1 << 40); !seen[m] {
					seen[m] = true
					members = append(members, m)
				}
			}
			answers := make([]string, seats)
			var wg sync.WaitGroup
			next := make(chan int)
			for range workers {
				wg.Go(func() {
					for i := range next {
						a, err := st.Reserve(ctx, hres(fmt.Sprintf("s%d", i), members[i]))
						answers[i] = stock.Answer(a, err)
					}
				})
			}
			for i := range seats {
				next <- i
			}
			close(next)
			wg.Wait()
			tally := map[string]int{}
			for _, a := range answers {
				tally[a]++
			}
			if tally["accepted"] != seats {
				t.Errorf("answers %v, want %d accepted; bucket stocks %v", tally, seats, stocks(t, st))
			}
			if s := stocks(t, st); sum(s) != 0 {
				t.Errorf("stocks %v, want all 0", s)
			}
		})
	}
}

// TestBucketBorrow: members of one bucket take every seat of the concert,
// borrowing from the others; the next is sold out only when all are empty.
func TestBucketBorrow(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			ctx := context.Background()
			st := tg.open(t)
			loadBuckets(t, st, 8, 4)
			if s := stocks(t, st); fmt.Sprint(s) != "[2 2 2 2]" {
				t.Fatalf("split %v, want [2 2 2 2]", s)
			}
			// Members 4, 8, 12, ... all live in bucket 0.
			for i := int64(1); i <= 8; i++ {
				if h, _ := st.HomeBucket(ctx, hot, 4*i); h != 0 {
					t.Fatalf("member %d: home %d, want 0", 4*i, h)
				}
				a, err := st.Reserve(ctx, hres(fmt.Sprintf("b%d", i), 4*i))
				if ans := stock.Answer(a, err); ans != "accepted" {
					t.Fatalf("seat %d of 8: %s (%v), stocks %v", i, ans, err, stocks(t, st))
				}
			}
			if s := stocks(t, st); sum(s) != 0 {
				t.Fatalf("stocks %v, want all 0", s)
			}
			for _, m := range []int64{36, 37, 38, 39} { // one of each bucket
				if a, err := st.Reserve(ctx, hres(fmt.Sprintf("late%d", m), m)); stock.Answer(a, err) != "sold_out" {
					t.Errorf("member %d: %s, want sold_out", m, stock.Answer(a, err))
				}
			}
			// The per-member limit holds for a member admitted on borrowed stock.
			if a, err := st.Reserve(ctx, hres("again", 8)); stock.Answer(a, err) != "already_reserved" {
				t.Errorf("member 8 again: %s, want already_reserved", stock.Answer(a, err))
			}
		})
	}
}

// TestTransferSteps: each step of a transfer replayed changes nothing; a
// transfer stopped between its steps is counted as remaining and finished
// by CompleteTransfers; one stopped across a reload is refused, not added.
func TestTransferSteps(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			ctx := context.Background()
			st := tg.open(t)
			loadBuckets(t, st, 40, 2)
			k, epoch, err := st.TransferTake(ctx, hot, "x1", 0, 1)
			if err != nil || k != 5 { // a quarter of 20
				t.Fatalf("take: %d %v, want 5", k, err)
			}
			if k2, _, err := st.TransferTake(ctx, hot, "x1", 0, 1); err != nil || k2 != 5 {
				t.Fatalf("take replayed: %d %v, want the same 5", k2, err)
			}
			if s := stocks(t, st); fmt.Sprint(s) != "[15 20]" {
				t.Fatalf("after take (twice): %v, want [15 20]", s)
			}
			// The gateway died here: the seats are in no bucket, but counted.
			if n, _, err := st.Remaining(ctx, hot); err != nil || n != 40 {
				t.Fatalf("remaining with a transfer in the air: %d %v, want 40", n, err)
			}
			if n, err := st.CompleteTransfers(ctx, hot, time.Now().Add(-time.Hour)); err != nil || n != 0 {
				t.Fatalf("a young transfer finished: %d %v", n, err)
			}
			if n, err := st.CompleteTransfers(ctx, hot, time.Now().Add(time.Second)); err != nil || n != 1 {
				t.Fatalf("complete: %d %v, want 1", n, err)
			}
			if s := stocks(t, st); fmt.Sprint(s) != "[15 25]" {
				t.Fatalf("after completion: %v, want [15 25]", s)
			}
			if _, err := st.TransferFinish(ctx, hot, "x1", 0, 1, 5, epoch); err != nil {
				t.Fatal(err)
			}
			if k3, _, err := st.TransferTake(ctx, hot, "x1", 0, 1); err != nil || k3 != 0 {
				t.Fatalf("take replayed after done: %d %v, want 0", k3, err)
			}
			if s := stocks(t, st); fmt.Sprint(s) != "[15 25]" {
				t.Fatalf("after replays: %v, want [15 25]", s)
			}
			if n, err := st.CompleteTransfers(ctx, hot, time.Now().Add(time.Second)); err != nil || n != 0 {
				t.Fatalf("nothing left to complete: %d %v", n, err)
			}

			// Across a reload: the reload counts the seats itself.
			k, epoch, err = st.TransferTake(ctx, hot, "x2", 1, 0)
			if err != nil || k != 6 {
				t.Fatalf("take: %d %v, want 6", k, err)
			}
			if err := st.Load(ctx, stock.Loading{Concert: hot, Remaining: 40, Epoch: "e2"}); err != nil {
				t.Fatal(err)
			}
			if got, err := st.TransferFinish(ctx, hot, "x2", 1, 0, k, epoch); err != nil || got != 0 {
				t.Fatalf("a transfer from before the reload arrived: %d %v", got, err)
			}
			if s := stocks(t, st); fmt.Sprint(s) != "[20 20]" {
				t.Fatalf("after the reload: %v, want [20 20]", s)
			}
			if n, _, _ := st.Remaining(ctx, hot); n != 40 {
				t.Fatalf("remaining %d, want 40", n)
			}

			// From a donor of fewer than 8 seats, one: the borrower's own.
			if k, _, err := st.TransferTake(ctx, hot, "x3", 0, 1); err != nil || k != 5 {
				t.Fatalf("take from 20: %d %v, want 5", k, err)
			}
			loadBuckets(t, st, 14, 2)
			if k, _, err := st.TransferTake(ctx, hot, "x4", 0, 1); err != nil || k != 1 {
				t.Fatalf("take from 7: %d %v, want 1", k, err)
			}
		})
	}
}

// TestBucketLifecycle: the writer's and the lifecycle's calls find each
// reservation in its member's bucket and give seats back there.
func TestBucketLifecycle(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			ctx := context.Background()
			st := tg.open(t)
			loadBuckets(t, st, 40, 4)
			home := func(m int64) int {
				h, err := st.HomeBucket(ctx, hot, m)
				if err != nil {
					t.Fatal(err)
				}
				return h
			}
			at := func(m int64) int64 { return stocks(t, st)[home(m)] }
			held := func(id string, m int64) stock.Reservation {
				r := hres(id, m)
				r.ExpiresAt = time.Now().Add(time.Hour)
				return r
			}
			for m, r := range map[int64]stock.Reservation{1: hres("w1", 1), 2: hres("f2", 2), 3: held("c3", 3), 5: held("e5", 5), 6: hres("u6", 6)} {
				if a, err := st.Reserve(ctx, r); stock.Answer(a, err) != "accepted" {
					t.Fatalf("member %d: %s %v", m, stock.Answer(a, err), err)
				}
			}
			if s := stocks(t, st); fmt.Sprint(s) != "[10 8 8 9]" { // members 1,5 → 1; 2,6 → 2; 3 → 3
				t.Fatalf("stocks %v", s)
			}
			// The gateway's undo (Kafka said no) gives the seat back home.
			if u, err := st.Release(ctx, hres("u6", 6)); err != nil || u != stock.Released || at(6) != 9 {
				t.Fatalf("release: %v %v, home stock %d", u, err, at(6))
			}
			// The writer: claim, then clear; a failure gives back at home.
			if rs, err := st.Claim(ctx, hot, []string{"w1", "f2", "nobody", "u6"}); err != nil || fmt.Sprint(rs) != fmt.Sprint([]stock.ClaimResult{stock.ClaimedNow, stock.ClaimedNow, stock.Unknown, stock.Undone}) {
				t.Fatalf("claim: %v %v", rs, err)
			}
			if s, err := st.InFlightState(ctx, hot, "w1"); err != nil || s != stock.Claimed {
				t.Fatalf("state of w1: %q %v", s, err)
			}
			if rec, c, err := st.State(ctx, "f2"); err != nil || c != hot || rec.State != stock.Claimed {
				t.Fatalf("State(f2): %+v %d %v", rec, c, err)
			}
			if err := st.Done(ctx, hot, []string{"w1"}); err != nil {
				t.Fatal(err)
			}
			if n, err := st.Fail(ctx, hot, []stock.Seat{{ID: "f2", MemberID: 2}}); err != nil || n != 1 || at(2) != 10 { // u6 gave one back there before
				t.Fatalf("fail: %d %v, home stock %d", n, err, at(2))
			}
			if n, _ := st.InFlightCount(ctx, hot); n != 2 {
				t.Fatalf("in flight %d, want 2 (c3, e5)", n)
			}
			if n, _ := st.HoldCount(ctx, hot); n != 2 {
				t.Fatalf("holds %d, want 2", n)
			}
			// Cancel (member 3) and expiry (member 5), settled by the writer.
			if d, inRedis, err := st.Decide(ctx, hot, "c3", 3, event.Cancel, time.Now().Add(time.Minute)); err != nil || !inRedis || d != event.Cancel {
				t.Fatalf("decide: %v %v %v", d, inRedis, err)
			}
			due, err := st.ExpireDue(ctx, hot, time.Now().Add(2*time.Hour), 100, time.Now().Add(3*time.Hour))
			if err != nil || len(due) != 1 || due[0].ID != "e5" || due[0].MemberID != 5 {
				t.Fatalf("expire: %+v %v", due, err)
			}
			out, err := st.OutboxDue(ctx, hot, time.Now().Add(2*time.Minute), 100, time.Now().Add(time.Hour))
			if err != nil || len(out) != 1 || out[0].ID != "c3" {
				t.Fatalf("outbox: %+v %v", out, err)
			}
			before3, before5 := at(3), at(5)
			n, err := st.Settle(ctx, hot, []stock.Settlement{{ID: "c3", MemberID: 3, ReturnSeat: true}, {ID: "e5", MemberID: 5, ReturnSeat: true}})
			if err != nil || n != 2 || at(3) != before3+1 || at(5) != before5+1 {
				t.Fatalf("settle: %d %v; home stocks %d→%d, %d→%d", n, err, before3, at(3), before5, at(5))
			}
			if n, _, _ := st.Remaining(ctx, hot); n != 39 { // w1 written
				t.Fatalf("remaining %d, want 39", n)
			}
			// Members 3 and 5 are free again; 1 is not.
			for m, want := range map[int64]string{3: "accepted", 5: "accepted", 1: "already_reserved"} {
				if a, err := st.Reserve(ctx, hres(fmt.Sprintf("again%d", m), m)); stock.Answer(a, err) != want {
					t.Errorf("member %d again: %s, want %s", m, stock.Answer(a, err), want)
				}
			}
		})
	}
}

// TestBucketLayout: a plain concert stays plain; a layout changes only
// with Reset; a process whose copy of the layout is stale is not misled.
func TestBucketLayout(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := servicetest.Redis(t)
	a := stock.New(rdb, prefix, 2*time.Second)
	b := stock.New(rdb, prefix, 2*time.Second) // another process
	if err := a.Load(ctx, stock.Loading{Concert: hot, Remaining: 4, Epoch: "e1", Reset: true, Buckets: 1}); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Exists(ctx, prefix+":{c7}:stock", prefix+":{c7}:epoch").Result(); err != nil || n != 2 {
		t.Fatalf("a plain concert's keys: %d %v", n, err)
	}
	if n, _ := b.Buckets(ctx, hot); n != 1 {
		t.Fatalf("plain: %d buckets", n)
	}
	if err := a.Load(ctx, stock.Loading{Concert: hot, Remaining: 4, Epoch: "e2", Buckets: 2}); err == nil {
		t.Fatal("changing the buckets without Reset was accepted")
	}
	if err := a.Load(ctx, stock.Loading{Concert: hot, Remaining: 4, Epoch: "e2", Reset: true, Buckets: 2}); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Exists(ctx, prefix+":{c7}:stock", prefix+":{c7}:epoch").Result(); err != nil || n != 0 {
		t.Fatalf("a bucketed concert's own keys are left: %d %v", n, err)
	}
	// b still thinks the concert plain: it is told "not loaded" by the old
	// keys, reads the layout and admits in the member's bucket.
	if r, err := b.Reserve(ctx, hres("s1", 1)); stock.Answer(r, err) != "accepted" {
		t.Fatalf("stale process: %s %v", stock.Answer(r, err), err)
	}
	if r, err := a.Reserve(ctx, hres("s2", 1)); stock.Answer(r, err) != "already_reserved" {
		t.Fatalf("same member on the other process: %s %v", stock.Answer(r, err), err)
	}
	// Back to plain, over a reset.
	if err := a.Load(ctx, stock.Loading{Concert: hot, Remaining: 4, Epoch: "e3", Reset: true, Buckets: 1}); err != nil {
		t.Fatal(err)
	}
	if r, err := b.Reserve(ctx, hres("s3", 1)); stock.Answer(r, err) != "accepted" {
		t.Fatalf("back to plain, stale process: %s %v", stock.Answer(r, err), err)
	}
	if n, _, _ := a.Remaining(ctx, hot); n != 3 {
		t.Fatalf("remaining %d, want 3", n)
	}
	if keys, _ := rdb.Keys(ctx, prefix+":{c7/*").Result(); len(keys) != 0 {
		t.Fatalf("the buckets' keys are left: %v", keys)
	}
}

// TestBucketsSpread: on the cluster, N buckets land on min(N, masters)
// masters, and each bucket's keys are in its tag's slot.
func TestBucketsSpread(t *testing.T) {
	ctx := context.Background()
	st := clusterStore(t)
	cc := st.Client().(*redis.ClusterClient)
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	masterOf := func(key string) string {
		slot, err := cc.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range slots {
			if int64(r.Start) <= slot && slot <= int64(r.End) {
				return r.Nodes[0].Addr
			}
		}
		return ""
	}
	for _, n := range []int{3, 6} {
		loadBuckets(t, st, 60, n)
		tags, err := st.BucketTags(ctx, hot)
		if err != nil || len(tags) != n {
			t.Fatalf("%d buckets: tags %v %v", n, tags, err)
		}
		per := map[string]int{}
		for _, tag := range tags {
			per[masterOf(tag)]++
			if k := st.Prefix() + ":{" + tag + "}:{c7}:stock"; masterOf(k) != masterOf(tag) {
				t.Errorf("key %s is not in its bucket's slot", k)
			}
		}
		if len(per) != 3 {
			t.Errorf("%d buckets on %d masters (%v), want 3", n, len(per), per)
		}
		for m, k := range per {
			if k != n/3 {
				t.Errorf("%d buckets: %d on %s, want %d each", n, k, m, n/3)
			}
		}
	}
}
