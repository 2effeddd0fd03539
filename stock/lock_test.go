package stock

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/servicetest"
)

// lockers returns n Lockers sharing one Redis prefix, as n gateways would.
func lockers(t *testing.T, n int, lease, wait time.Duration) ([]*Locker, *redis.Client) {
	t.Helper()
	rdb, prefix := servicetest.Redis(t)
	out := make([]*Locker, n)
	for i := range out {
		l, err := New(rdb, prefix, 2*time.Second).NewLocker(context.Background(), LockOptions{Lease: lease, Wait: wait})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		out[i] = l
	}
	return out, rdb
}

func mustLock(t *testing.T, l *Locker, concert int64) *Lease {
	t.Helper()
	ls, err := l.Lock(context.Background(), concert)
	if err != nil {
		t.Fatalf("lock concert %d: %v", concert, err)
	}
	return ls
}

type lockResult struct {
	lease  *Lease
	err    error
	waited time.Duration
}

// lockAsync starts a Lock and returns once the waiter is registered (so it
// has made or is making its first try).
func lockAsync(t *testing.T, l *Locker, concert int64) <-chan lockResult {
	t.Helper()
	out := make(chan lockResult, 1)
	start := time.Now()
	go func() {
		ls, err := l.Lock(context.Background(), concert)
		out <- lockResult{ls, err, time.Since(start)}
	}()
	channel := l.channel(concert)
	deadline := time.Now().Add(2 * time.Second)
	for {
		l.mu.Lock()
		n := len(l.waiters[channel])
		l.mu.Unlock()
		if n > 0 {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatal("waiter never registered")
		}
		time.Sleep(time.Millisecond)
	}
}

// A release wakes a waiter at once, across gateways: with a 10 s lease the
// waiter could not have got the lock by waiting for the lease.
func TestLockWaiterWokenByRelease(t *testing.T) {
	ls, _ := lockers(t, 2, 10*time.Second, 5*time.Second)
	holder := mustLock(t, ls[0], 1)
	res := lockAsync(t, ls[1], 1)
	time.Sleep(100 * time.Millisecond)
	released := time.Now()
	if err := holder.Unlock(context.Background()); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	r := <-res
	if r.err != nil {
		t.Fatalf("waiter: %v", r.err)
	}
	defer r.lease.Unlock(context.Background())
	after := time.Since(released)
	t.Logf("waited %s in all, %s after the release", r.waited, after)
	if r.waited < 100*time.Millisecond || r.waited > 500*time.Millisecond || after > 200*time.Millisecond {
		t.Fatalf("waiter got the lock after %s (%s after the release); want ~100 ms, woken by the release", r.waited, after)
	}
}

// A holder that dies without unlocking blocks others for its lease, no longer.
func TestLockCrashedHolderLeaseExpires(t *testing.T) {
	const lease = 500 * time.Millisecond
	ls, _ := lockers(t, 2, lease, 3*time.Second)
	crashed := mustLock(t, ls[0], 1)
	crashed.stopWatchdog() // the process died: no renewals, no unlock
	taken := time.Now()
	res := lockAsync(t, ls[1], 1)
	r := <-res
	if r.err != nil {
		t.Fatalf("waiter: %v", r.err)
	}
	defer r.lease.Unlock(context.Background())
	since := time.Since(taken)
	t.Logf("waiter got the lock %s after the holder took it (lease %s)", since, lease)
	if since < lease-50*time.Millisecond || since > lease+500*time.Millisecond {
		t.Fatalf("waiter got the lock %s after a crashed holder took it; want about the lease, %s", since, lease)
	}
	if err := crashed.Unlock(context.Background()); !errors.Is(err, errLockLost) {
		t.Fatalf("late unlock of the crashed holder: %v, want errLockLost", err)
	}
	if v := ls[1].s.rdb.Get(context.Background(), ls[1].key(1)).Val(); v != r.lease.token {
		t.Fatal("the crashed holder's late unlock released the new holder's lock")
	}
}

// Only the holder's token unlocks; a foreign unlock neither deletes the lock
// nor wakes anyone into taking it.
func TestLockUnlockByNonOwnerDoesNothing(t *testing.T) {
	ls, rdb := lockers(t, 1, 10*time.Second, 300*time.Millisecond)
	l := ls[0]
	holder := mustLock(t, l, 1)
	defer holder.Unlock(context.Background())
	res := lockAsync(t, l, 1)
	released, err := l.release(context.Background(), l.key(1), l.channel(1), "not-the-holders-token")
	if err != nil || released {
		t.Fatalf("foreign unlock: released=%v err=%v, want false", released, err)
	}
	if v := rdb.Get(context.Background(), l.key(1)).Val(); v != holder.token {
		t.Fatalf("lock is %q after a foreign unlock, want the holder's", v)
	}
	if r := <-res; !errors.Is(r.err, boxoffice.ErrLockTimeout) {
		t.Fatalf("waiter: %v, want ErrLockTimeout (the lock was never free)", r.err)
	}
}

func TestLockWaitTimesOut(t *testing.T) {
	const wait = 300 * time.Millisecond
	ls, _ := lockers(t, 1, 10*time.Second, wait)
	holder := mustLock(t, ls[0], 1)
	defer holder.Unlock(context.Background())
	r := <-lockAsync(t, ls[0], 1)
	if !errors.Is(r.err, boxoffice.ErrLockTimeout) {
		t.Fatalf("waiter: %v, want ErrLockTimeout", r.err)
	}
	if r.waited < wait || r.waited > wait+500*time.Millisecond {
		t.Fatalf("gave up after %s, want about %s", r.waited, wait)
	}
	// Other concerts are not affected.
	mustLock(t, ls[0], 2).Unlock(context.Background())
}

// The watchdog keeps a working holder's lock long past the first lease.
func TestLockWatchdogKeepsLeaseAlive(t *testing.T) {
	const lease = 450 * time.Millisecond
	ls, rdb := lockers(t, 2, lease, 200*time.Millisecond)
	holder := mustLock(t, ls[0], 1)
	time.Sleep(3 * lease)
	if v := rdb.Get(context.Background(), ls[0].key(1)).Val(); v != holder.token {
		t.Fatalf("after 3 leases the lock is %q, want still the holder's", v)
	}
	if r := <-lockAsync(t, ls[1], 1); !errors.Is(r.err, boxoffice.ErrLockTimeout) {
		t.Fatalf("another gateway's waiter: %v, want ErrLockTimeout", r.err)
	}
	if err := holder.Context().Err(); err != nil {
		t.Fatalf("holder's context ended: %v", context.Cause(holder.Context()))
	}
	if err := holder.Unlock(context.Background()); err != nil {
		t.Fatalf("unlock after 3 leases: %v", err)
	}
	if n := rdb.Exists(context.Background(), ls[0].key(1)).Val(); n != 0 {
		t.Fatal("unlock left the lock")
	}
}

// A holder whose lock was taken from it (its lease ran out while it was
// stalled) learns so from its context, and its unlock leaves the new lock.
func TestLockLostCancelsHolder(t *testing.T) {
	const lease = 300 * time.Millisecond
	ls, rdb := lockers(t, 1, lease, time.Second)
	holder := mustLock(t, ls[0], 1)
	rdb.Set(context.Background(), ls[0].key(1), "someone-else", 10*time.Second)
	select {
	case <-holder.Context().Done():
	case <-time.After(2 * lease):
		t.Fatal("holder's context still open after its lock was taken")
	}
	if cause := context.Cause(holder.Context()); !errors.Is(cause, errLockLost) {
		t.Fatalf("cause %v, want errLockLost", cause)
	}
	if err := holder.Unlock(context.Background()); !errors.Is(err, errLockLost) {
		t.Fatalf("unlock: %v, want errLockLost", err)
	}
	if v := rdb.Get(context.Background(), ls[0].key(1)).Val(); v != "someone-else" {
		t.Fatalf("lock is %q, want the new holder's", v)
	}
}

// Many waiters on two gateways: one holder at a time, and every one of them
// gets its turn, woken by releases.
func TestLockMutualExclusion(t *testing.T) {
	ls, _ := lockers(t, 2, 5*time.Second, 10*time.Second)
	const n = 60
	var inside, maxInside, done atomic.Int32
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			lease, err := ls[i%2].Lock(context.Background(), 1)
			if err != nil {
				t.Errorf("lock: %v", err)
				return
			}
			now := inside.Add(1)
			for {
				m := maxInside.Load()
				if now <= m || maxInside.CompareAndSwap(m, now) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
			inside.Add(-1)
			done.Add(1)
			if err := lease.Unlock(context.Background()); err != nil {
				t.Errorf("unlock: %v", err)
			}
		})
	}
	wg.Wait()
	t.Logf("%d holders one after another in %s", done.Load(), time.Since(start))
	if maxInside.Load() != 1 || done.Load() != n {
		t.Fatalf("%d holders at once at most, %d of %d done; want 1 and all", maxInside.Load(), done.Load(), n)
	}
}

func TestLockRedisDownIsUnavailable(t *testing.T) {
	ls, rdb := lockers(t, 1, time.Second, time.Second)
	rdb.Close()
	_, err := ls[0].Lock(context.Background(), 1)
	if !errors.Is(err, boxoffice.ErrUnavailable) {
		t.Fatalf("lock with Redis gone: %v, want ErrUnavailable", err)
	}
}
