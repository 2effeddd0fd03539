// Package lua holds the Redis scripts that make every stock change atomic, and
// the Go names of their return codes. The scripts are embedded and become
// redis.Script values once; Script.Run sends EVALSHA and falls back to EVAL
// (which reloads the script) when Redis answers NOSCRIPT.
package lua

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed reserve.lua
	reserveSrc string
	//go:embed release.lua
	releaseSrc string
	//go:embed ack.lua
	ackSrc string
	//go:embed claim.lua
	claimSrc string
	//go:embed done.lua
	doneSrc string
	//go:embed fail.lua
	failSrc string
	//go:embed lock.lua
	lockSrc string
	//go:embed unlock.lua
	unlockSrc string
	//go:embed renew.lua
	renewSrc string
	//go:embed decide.lua
	decideSrc string
	//go:embed expire.lua
	expireSrc string
	//go:embed outbox.lua
	outboxSrc string
	//go:embed settle.lua
	settleSrc string
)

// The scripts, each loaded once per process.
var (
	Reserve = redis.NewScript(reserveSrc)
	Release = redis.NewScript(releaseSrc)
	Ack     = redis.NewScript(ackSrc)
	Claim   = redis.NewScript(claimSrc)
	Done    = redis.NewScript(doneSrc)
	Fail    = redis.NewScript(failSrc)

	// The distlock comparison strategy's lock (not used by the async path).
	Lock   = redis.NewScript(lockSrc)
	Unlock = redis.NewScript(unlockSrc)
	Renew  = redis.NewScript(renewSrc)

	// The hold lifecycle: confirm/cancel, expiry, the decisions' outbox,
	// and the writer's settling of applied decisions.
	Decide = redis.NewScript(decideSrc)
	Expire = redis.NewScript(expireSrc)
	Outbox = redis.NewScript(outboxSrc)
	Settle = redis.NewScript(settleSrc)
)

// All lists every script, for loading at start-up and for readiness checks.
var All = []*redis.Script{Reserve, Release, Ack, Claim, Done, Fail, Lock, Unlock, Renew, Decide, Expire, Outbox, Settle}

// Decide's result codes.
const (
	// DecideNotHeld: no hold in the delay queue and no decision: the
	// reservation was never held (confirmed on write) or its decision was
	// applied and forgotten; MySQL knows its status.
	DecideNotHeld = 0
	// DecideNow: this call removed the hold and recorded the decision.
	DecideNow = 1
	// DecideBefore: a decision was recorded earlier (the same or another).
	DecideBefore = 2
)

// Decisions recorded for a held reservation.
const (
	DecisionConfirm = "C"
	DecisionCancel  = "X"
	DecisionExpire  = "E"
)

// Reserve's result codes.
const (
	// ReserveOK: stock taken, member recorded, reservation in flight.
	ReserveOK = 1
	// ReserveSoldOut: no stock left.
	ReserveSoldOut = 2
	// ReserveAlreadyReserved: the member holds a reservation for this concert
	// (one per member per concert).
	ReserveAlreadyReserved = 3
	// ReserveNoConcert: no stock key, the concert was never loaded.
	ReserveNoConcert = 4
	// ReserveReplay: the Idempotency-Key (or the reservation id) was seen
	// before; the result carries the earlier reservation id and its state.
	ReserveReplay = 5
	// ReserveKeyMismatch: the Idempotency-Key was used by another member.
	ReserveKeyMismatch = 6
)

// In-flight states, the first byte of an in-flight record.
const (
	// StatePublishing: admitted; Kafka's ack not yet seen. Only now may the
	// gateway undo the reservation.
	StatePublishing = "P"
	// StateAcked: Kafka acknowledged the event (recorded for idempotent replays).
	StateAcked = "A"
	// StateClaimed: a writer is committing it; nothing may undo it now.
	StateClaimed = "C"
	// StateGone: no record; either written and cleared, or released.
	StateGone = ""
)

// Release's result codes.
const (
	// ReleaseDone: stock and member returned, tombstone written.
	ReleaseDone = 1
	// ReleasePersisted: no record and no tombstone; the writer already stored it.
	ReleasePersisted = 2
	// ReleaseAlready: released before (a repeated undo).
	ReleaseAlready = 3
	// ReleaseKept: acknowledged or claimed; it will be written, so it stays.
	ReleaseKept = 4
)

// Claim's per-id result codes.
const (
	// ClaimReleased: the gateway undid it; the event must not become a row.
	ClaimReleased = 0
	// ClaimOK: in flight and now claimed by this writer.
	ClaimOK = 1
	// ClaimUnknown: no record (written and cleared before, or Redis lost it);
	// the row insert is idempotent, so the writer goes on.
	ClaimUnknown = 2
)

// Lock's result codes, the first element of its reply.
const (
	// LockAcquired: the lock is the caller's for one lease.
	LockAcquired = 1
	// LockHeld: someone else holds it; the second element is the holder's
	// remaining lease in ms (how long a waiter may have to sleep at most, as
	// the holder may crash and never publish its release).
	LockHeld = 2
)

// Unlock's result codes.
const (
	// UnlockNotOwner: the token does not hold the lock (its lease expired, and
	// perhaps someone else took it); nothing was deleted or published.
	UnlockNotOwner = 0
	// UnlockReleased: deleted, and the waiters told on the wake-up channel.
	UnlockReleased = 1
)

// Renew's result codes.
const (
	// RenewLost: the token no longer holds the lock; the watchdog stops and
	// the holder's work is cancelled.
	RenewLost = 0
	// RenewExtended: the lease runs for another full lease from now.
	RenewExtended = 1
)
