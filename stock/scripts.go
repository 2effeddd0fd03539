package stock

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Redis scripts that make every stock change atomic, and the Go names of
// their return codes. Nothing outside this package sees either: Store's
// methods turn each reply into a domain result or a boxoffice error. The
// scripts are embedded and become redis.Script values once; Script.Run sends
// EVALSHA and falls back to EVAL (which reloads the script) on NOSCRIPT.

var (
	//go:embed scripts/reserve.lua
	reserveSrc string
	//go:embed scripts/release.lua
	releaseSrc string
	//go:embed scripts/ack.lua
	ackSrc string
	//go:embed scripts/claim.lua
	claimSrc string
	//go:embed scripts/done.lua
	doneSrc string
	//go:embed scripts/fail.lua
	failSrc string
	//go:embed scripts/lock.lua
	lockSrc string
	//go:embed scripts/unlock.lua
	unlockSrc string
	//go:embed scripts/renew.lua
	renewSrc string
	//go:embed scripts/decide.lua
	decideSrc string
	//go:embed scripts/expire.lua
	expireSrc string
	//go:embed scripts/outbox.lua
	outboxSrc string
	//go:embed scripts/settle.lua
	settleSrc string
	//go:embed scripts/rank.lua
	rankSrc string
	//go:embed scripts/hold.lua
	holdSrc string
	//go:embed scripts/room_set.lua
	roomSetSrc string
	//go:embed scripts/room_join.lua
	roomJoinSrc string
	//go:embed scripts/room_draw.lua
	roomDrawSrc string
	//go:embed scripts/room_admit.lua
	roomAdmitSrc string
	//go:embed scripts/room_me.lua
	roomMeSrc string
	//go:embed scripts/room_notify.lua
	roomNotifySrc string
	// seatsSrc is the seat helpers, put before each script that uses them.
	//go:embed scripts/seats.lua
	seatsSrc string
)

// The scripts, each loaded once per process.
var (
	reserveScript = redis.NewScript(reserveSrc)
	releaseScript = redis.NewScript(seatsSrc + releaseSrc)
	ackScript     = redis.NewScript(ackSrc)
	claimScript   = redis.NewScript(claimSrc)
	doneScript    = redis.NewScript(doneSrc)
	failScript    = redis.NewScript(seatsSrc + failSrc)
	// holdScript is reserveScript for a concert with numbered seats.
	holdScript = redis.NewScript(seatsSrc + holdSrc)

	// The distlock comparison strategy's lock (not used by the async path).
	lockScript   = redis.NewScript(lockSrc)
	unlockScript = redis.NewScript(unlockSrc)
	renewScript  = redis.NewScript(renewSrc)

	// The hold lifecycle: confirm/cancel, expiry, the decisions' outbox,
	// and the writer's settling of applied decisions.
	decideScript = redis.NewScript(decideSrc)
	expireScript = redis.NewScript(expireSrc)
	outboxScript = redis.NewScript(outboxSrc)
	settleScript = redis.NewScript(seatsSrc + settleSrc)

	// The sales ranking (ranking.go), on the ranking's own client: not in
	// allScripts, so the reservation path neither loads it nor waits on it.
	rankScript = redis.NewScript(rankSrc)

	// The waiting room (room.go): not in allScripts either, since a
	// concert without a room never runs them; Run loads each on first use.
	roomSetScript    = redis.NewScript(roomSetSrc)
	roomJoinScript   = redis.NewScript(roomJoinSrc)
	roomDrawScript   = redis.NewScript(roomDrawSrc)
	roomAdmitScript  = redis.NewScript(roomAdmitSrc)
	roomMeScript     = redis.NewScript(roomMeSrc)
	roomNotifyScript = redis.NewScript(roomNotifySrc)
)

// The room scripts' result codes (the first element of each reply).
const (
	// roomNone: the concert has no room in Redis.
	roomNone = -1
	// roomJoined: room_join.lua gave a new ticket; roomHad: the member's own.
	roomJoined = 1
	roomHad    = 0
	// room_draw.lua: drew; had opened already; too early; the permutation
	// is not of the arrivals there are (the caller reads them again).
	roomDrew         = 1
	roomDrawnAlready = 0
	roomTooEarly     = -2
	roomStalePerm    = -3
	// room_me.lua: the member never joined.
	roomNotQueued = 0
	// room_admit.lua: positions were admitted.
	roomAdmitted = 1
)

// allScripts lists every script, for loading at start-up and for readiness.
var allScripts = []*redis.Script{reserveScript, holdScript, releaseScript, ackScript, claimScript, doneScript, failScript,
	lockScript, unlockScript, renewScript, decideScript, expireScript, outboxScript, settleScript}

// reserve.lua's result codes.
const (
	// reserveOK: stock taken, member recorded, reservation in flight.
	reserveOK = 1
	// reserveSoldOut: no stock left.
	reserveSoldOut = 2
	// reserveAlreadyReserved: the member holds a reservation for this
	// concert (one per member per concert).
	reserveAlreadyReserved = 3
	// reserveNoConcert: no stock key, the concert was never loaded.
	reserveNoConcert = 4
	// reserveReplay: the Idempotency-Key (or the reservation id) was seen
	// before; the reply carries the earlier reservation id and its state.
	reserveReplay = 5
	// reserveKeyMismatch: the Idempotency-Key was used by another member.
	reserveKeyMismatch = 6
	// reserveNotLoaded: a stock key without its marker (a partial restore,
	// or reconcile --fix at work): admit nobody until it is reconciled.
	reserveNotLoaded = 7
	// reserveSeated: the concert has numbered seats (its marker ends in
	// "/s"); Reserve runs hold.lua for the best available seat instead.
	reserveSeated = 8
)

// hold.lua's result codes: reserve.lua's 1-7, and these.
const (
	// holdNotSeated: seats named for a general-admission concert.
	holdNotSeated = 8
	// holdTaken: some of the seats named are taken; the reply names them,
	// and none was held.
	holdTaken = 9
	// holdUnknownSeat: the map has no such seat (or section); the reply
	// names it.
	holdUnknownSeat = 10
	// holdNoFit: best available found no seats that fit (not enough free
	// seats, or no run of adjacent ones), though the concert is not sold out.
	holdNoFit = 11
)

// release.lua's result codes.
const (
	// releaseDone: stock and member returned, tombstone written.
	releaseDone = 1
	// releasePersisted: no record and no tombstone; the writer stored it.
	releasePersisted = 2
	// releaseAlready: released before (a repeated undo).
	releaseAlready = 3
	// releaseKept: acknowledged or claimed; it will be written, so it stays.
	releaseKept = 4
)

// claim.lua's per-id result codes.
const (
	// claimReleased: the gateway undid it; the event must not become a row.
	claimReleased = 0
	// claimOK: in flight and now claimed by this writer.
	claimOK = 1
	// claimUnknown: no record (written and cleared before, or Redis lost
	// it); the row insert is idempotent, so the writer goes on.
	claimUnknown = 2
)

// decide.lua's result codes.
const (
	// decideNotHeld: no hold in the delay queue and no decision: never held
	// (confirmed on write), or decided, applied and forgotten; MySQL knows.
	decideNotHeld = 0
	// decideNow: this call removed the hold and recorded the decision.
	decideNow = 1
	// decideBefore: a decision was recorded earlier (the same or another).
	decideBefore = 2
)

// The decisions as the lifecycle scripts record them: one byte each, before
// "|<member>" in the decided hash.
const (
	decisionConfirm = "C"
	decisionCancel  = "X"
	decisionExpire  = "E"
)

// lock.lua's result codes, the first element of its reply.
const (
	// lockAcquired: the lock is the caller's for one lease.
	lockAcquired = 1
	// lockHeld: someone else holds it; the second element is the holder's
	// remaining lease in ms (how long a waiter may have to sleep at most, as
	// the holder may crash and never publish its release).
	lockHeld = 2
)

// unlock.lua's result codes.
const (
	// unlockNotOwner: the token does not hold the lock (its lease expired,
	// perhaps someone else took it); nothing deleted or published.
	unlockNotOwner = 0
	// unlockReleased: deleted, and the waiters told on the wake-up channel.
	unlockReleased = 1
)

// renew.lua's result codes.
const (
	// renewLost: the token no longer holds the lock; the watchdog stops and
	// the holder's work is cancelled.
	renewLost = 0
	// renewExtended: the lease runs for another full lease from now.
	renewExtended = 1
)

// rank.lua's result codes.
const (
	// rankDuplicate: this fact type was recorded for this reservation
	// before; a redelivery changes nothing.
	rankDuplicate = 0
	// rankAdded: the concert's buckets changed.
	rankAdded = 1
	// rankNothing: noted in the reservation's record, nothing to count: its
	// take is unknown yet or older than the buckets, or its seat came back.
	rankNothing = 2
)
