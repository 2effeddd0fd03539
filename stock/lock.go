package stock

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice"
)

// The Redis half of the distlock comparison strategy (gateway.DistLock): a
// Redisson-style lock per concert.

// LockOptions configure a Locker. A concert's lock is <prefix>:{c<id>}:lock,
// in the slot of the concert's stock keys; each Redis call is bounded by the
// Store's timeout.
type LockOptions struct {
	// Lease is how long a lock lives unless its holder's watchdog extends it;
	// it bounds how long a crashed holder blocks everyone (--lock-lease).
	Lease time.Duration
	// Wait is the longest a request waits for a lock (--lock-wait).
	Wait time.Duration
	Log  *slog.Logger
}

// errLockLost ends a Lease's context when its lock expired or changed hands
// while the holder worked.
var errLockLost = errors.New("distlock: lock lost (lease expired before the holder finished)")

// Locker hands out Redisson-style locks, one per concert: SET NX PX with a
// random token, a pub/sub wake-up on release, a bounded wait, a watchdog
// that extends the lease while the holder works and a compare-and-delete
// release.
//
// Waiting costs no Redis traffic: a waiter sleeps until a release is
// published or the holder's lease may have run out (a crashed holder never
// publishes). All waiters of a gateway share one pattern subscription; its
// messages are fanned out in process, waking the oldest waiter of the concert
// (each gateway wakes one of its own, so a release starts a race of one
// waiter per gateway, not of every waiter).
type Locker struct {
	s   *Store
	rdb redis.UniversalClient
	o   LockOptions
	// timeout bounds each Redis call (the Store's).
	timeout time.Duration
	ps      *redis.PubSub
	fanned  chan struct{} // closed when the fan-out ends

	mu      sync.Mutex
	waiters map[string][]*waiter // by wake-up channel, oldest first
}

type waiter struct {
	// wake holds at most one pending wake-up: "the lock may be free, try again".
	wake chan struct{}
}

// NewLocker subscribes to the release channels of every concert under the
// Store's prefix and returns once the subscription is active. Close releases it.
func (s *Store) NewLocker(ctx context.Context, o LockOptions) (*Locker, error) {
	// The watchdog renews every Lease/3, and PX counts in milliseconds.
	if o.Lease < 3*time.Millisecond || o.Wait <= 0 || s.timeout <= 0 {
		return nil, fmt.Errorf("distlock: lease (%s) must be at least 3ms, wait (%s) and timeout (%s) positive", o.Lease, o.Wait, s.timeout)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	l := &Locker{s: s, o: o, fanned: make(chan struct{}), waiters: map[string][]*waiter{}}
	pattern := s.prefix + ":{c*}:lock:released"
	ps := s.rdb.PSubscribe(ctx, pattern)
	// PSubscribe only sends the command; the confirmation says the
	// subscription is active, so no release published from now on is missed.
	if _, err := ps.ReceiveTimeout(ctx, s.timeout); err != nil {
		ps.Close()
		return nil, fmt.Errorf("distlock: subscribe %s: %w", pattern, err)
	}
	l.ps = ps
	go l.fanOut(ps.ChannelWithSubscriptions())
	return l, nil
}

// Close ends the subscription. Waiters still waiting fall back to the
// holders' lease expiry.
func (l *Locker) Close() error {
	err := l.ps.Close()
	<-l.fanned
	return err
}

func (l *Locker) key(concert int64) string { return l.s.tag(concert) + "lock" }

// channel is where a concert's releases are published. It carries the
// concert's hash tag too, ready for sharded pub/sub on a Redis Cluster.
func (l *Locker) channel(concert int64) string { return l.key(concert) + ":released" }

func (l *Locker) fanOut(msgs <-chan any) {
	defer close(l.fanned)
	for m := range msgs {
		switch m := m.(type) {
		case *redis.Message:
			l.wakeOne(m.Channel)
		case *redis.Subscription:
			// The first confirmation was read in NewLocker, so this is a
			// re-subscription after a reconnect: releases published
			// meanwhile are lost, so every waiter looks again.
			l.wakeAll()
		}
	}
}

// join registers a waiter of a concert's channel.
func (l *Locker) join(channel string) *waiter {
	w := &waiter{wake: make(chan struct{}, 1)}
	l.mu.Lock()
	l.waiters[channel] = append(l.waiters[channel], w)
	l.mu.Unlock()
	return w
}

// leave unregisters a waiter. One that leaves without the lock may have
// swallowed a wake-up (taken it, then timed out or failed), so it passes one
// on; a spurious wake-up costs the next waiter one try.
func (l *Locker) leave(channel string, w *waiter, acquired bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ws := l.waiters[channel]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(l.waiters, channel)
		return
	}
	l.waiters[channel] = ws
	if !acquired {
		wakeOneLocked(ws)
	}
}

func (l *Locker) wakeOne(channel string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	wakeOneLocked(l.waiters[channel])
}

// wakeOneLocked wakes the oldest waiter that has no wake-up pending.
func wakeOneLocked(ws []*waiter) {
	for _, w := range ws {
		select {
		case w.wake <- struct{}{}:
			return
		default:
		}
	}
}

func (l *Locker) wakeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ws := range l.waiters {
		for _, w := range ws {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// Lock waits up to LockOptions.Wait for a concert's lock. It fails with
// ErrLockTimeout when the wait runs out and ErrUnavailable when Redis fails
// or ctx ends. The Lease must be unlocked.
func (l *Locker) Lock(ctx context.Context, concert int64) (*Lease, error) {
	key, channel := l.key(concert), l.channel(concert)
	token := rand.Text()
	deadline := time.Now().Add(l.o.Wait)
	// Join before the first try: a release published between a failed try
	// and the wait below then leaves its wake-up pending instead of lost.
	w := l.join(channel)
	acquired := false
	defer func() { l.leave(channel, w, acquired) }()
	timer := time.NewTimer(l.o.Wait)
	defer timer.Stop()
	for {
		held, ttl, err := l.try(ctx, key, token)
		if err != nil {
			// The SET may have happened with its reply lost: give the lock back.
			l.release(ctx, key, channel, token)
			return nil, fmt.Errorf("distlock: lock concert %d: %w: %w", concert, boxoffice.ErrUnavailable, err)
		}
		if !held {
			acquired = true
			return l.newLease(ctx, key, channel, token), nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("concert %d: no lock within %s: %w", concert, l.o.Wait, boxoffice.ErrLockTimeout)
		}
		// Sleep until woken, or until the holder's lease may have run out.
		sleep := left
		if ttl >= 0 {
			sleep = min(max(ttl, time.Millisecond), left)
		}
		timer.Reset(sleep)
		select {
		case <-w.wake:
		case <-timer.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("distlock: lock concert %d: %w: %w", concert, boxoffice.ErrUnavailable, ctx.Err())
		}
	}
}

// try runs lock.lua once: held reports that someone else has the lock, for
// ttl more (-1: no expiry set, which only a foreign writer of the key causes).
func (l *Locker) try(ctx context.Context, key, token string) (held bool, ttl time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, l.s.timeout)
	defer cancel()
	vals, err := lockScript.Run(ctx, l.s.rdb, []string{key}, token, l.o.Lease.Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, err
	}
	if len(vals) != 2 {
		return false, 0, fmt.Errorf("lock.lua: unexpected reply %v", vals)
	}
	switch vals[0] {
	case lockAcquired:
		return false, 0, nil
	case lockHeld:
		if vals[1] < 0 {
			return true, -1, nil
		}
		return true, time.Duration(vals[1]) * time.Millisecond, nil
	}
	return false, 0, fmt.Errorf("lock.lua: unknown code %d", vals[0])
}

// release runs unlock.lua: deletes the lock if token holds it and publishes
// the release.
func (l *Locker) release(ctx context.Context, key, channel, token string) (released bool, err error) {
	// A release must happen even when the request's context has ended.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.s.timeout)
	defer cancel()
	code, err := unlockScript.Run(ctx, l.s.rdb, []string{key}, token, channel).Int()
	if err != nil {
		return false, err
	}
	return code == unlockReleased, nil
}

// renew runs renew.lua: extends the lease if token still holds the lock.
func (l *Locker) renew(ctx context.Context, key, token string) (kept bool, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.s.timeout)
	defer cancel()
	code, err := renewScript.Run(ctx, l.s.rdb, []string{key}, token, l.o.Lease.Milliseconds()).Int()
	if err != nil {
		return false, err
	}
	return code == renewExtended, nil
}

// Lease is a held lock. A watchdog extends it every Lease/3 until Unlock.
type Lease struct {
	l                   *Locker
	key, channel, token string
	ctx                 context.Context
	cancel              context.CancelCauseFunc
	stop                chan struct{}
	done                chan struct{}
	stopOnce            sync.Once
}

func (l *Locker) newLease(ctx context.Context, key, channel, token string) *Lease {
	lctx, cancel := context.WithCancelCause(ctx)
	ls := &Lease{l: l, key: key, channel: channel, token: token, ctx: lctx, cancel: cancel,
		stop: make(chan struct{}), done: make(chan struct{})}
	go ls.watchdog()
	return ls
}

// Context is the holder's context for its work: it ends when the lock is
// lost (context.Cause is then errLockLost), unlocked, or the caller's ends.
func (ls *Lease) Context() context.Context { return ls.ctx }

func (ls *Lease) watchdog() {
	defer close(ls.done)
	t := time.NewTicker(ls.l.o.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ls.stop:
			return
		case <-t.C:
		}
		kept, err := ls.l.renew(ls.ctx, ls.key, ls.token)
		switch {
		case err != nil:
			// Two more ticks before the lease runs out.
			ls.l.o.Log.Warn("distlock: lease not renewed, retrying", "key", ls.key, "err", err)
		case !kept:
			ls.cancel(errLockLost)
			return
		}
	}
}

// stopWatchdog stops renewing and waits until no renewal is in progress.
func (ls *Lease) stopWatchdog() {
	ls.stopOnce.Do(func() { close(ls.stop) })
	<-ls.done
}

// Unlock stops the watchdog, releases the lock if it is still this lease's
// and wakes the waiters. It reports a lock lost before the release.
func (ls *Lease) Unlock(ctx context.Context) error {
	ls.stopWatchdog()
	defer ls.cancel(context.Canceled)
	released, err := ls.l.release(ctx, ls.key, ls.channel, ls.token)
	if err != nil {
		return fmt.Errorf("distlock: unlock %s (it expires with its lease): %w", ls.key, err)
	}
	if !released {
		return fmt.Errorf("unlock %s: %w", ls.key, errLockLost)
	}
	return nil
}
