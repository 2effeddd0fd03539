package stock

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice/servicetest"
)

// The distlock scripts, one step at a time against the real Redis.

func lockScripts(t *testing.T) (context.Context, *redis.Client, string, string) {
	t.Helper()
	rdb, prefix := servicetest.Redis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx, rdb, prefix + ":{c1}:lock", prefix + ":{c1}:lock:released"
}

func runLock(t *testing.T, ctx context.Context, rdb *redis.Client, key, token string, leaseMS int64) (code, pttl int64) {
	t.Helper()
	vals, err := lockScript.Run(ctx, rdb, []string{key}, token, leaseMS).Int64Slice()
	if err != nil || len(vals) != 2 {
		t.Fatalf("lock.lua: %v %v", vals, err)
	}
	return vals[0], vals[1]
}

func TestLockScriptTakesFreeLockAndReportsHoldersLease(t *testing.T) {
	ctx, rdb, key, _ := lockScripts(t)
	if code, _ := runLock(t, ctx, rdb, key, "a", 5000); code != lockAcquired {
		t.Fatalf("free lock: code %d, want lockAcquired", code)
	}
	if v := rdb.Get(ctx, key).Val(); v != "a" {
		t.Fatalf("lock value %q, want the token", v)
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 4*time.Second || ttl > 5*time.Second {
		t.Fatalf("lock ttl %s, want the 5s lease", ttl)
	}
	code, pttl := runLock(t, ctx, rdb, key, "b", 5000)
	if code != lockHeld || pttl <= 4000 || pttl > 5000 {
		t.Fatalf("held lock: code %d pttl %d, want LockHeld and the holder's ~5000 ms", code, pttl)
	}
	if v := rdb.Get(ctx, key).Val(); v != "a" {
		t.Fatalf("a failed try changed the lock to %q", v)
	}
}

func TestUnlockScriptDeletesOnlyItsOwnLockAndPublishesOnlyThen(t *testing.T) {
	ctx, rdb, key, channel := lockScripts(t)
	sub := rdb.Subscribe(ctx, channel)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription is active
		t.Fatal(err)
	}
	runLock(t, ctx, rdb, key, "owner", 5000)

	code, err := unlockScript.Run(ctx, rdb, []string{key}, "intruder", channel).Int()
	if err != nil || code != unlockNotOwner {
		t.Fatalf("unlock by another token: %d %v, want UnlockNotOwner", code, err)
	}
	if v := rdb.Get(ctx, key).Val(); v != "owner" {
		t.Fatalf("after a foreign unlock the lock is %q, want still the owner's", v)
	}
	if msg, err := sub.ReceiveTimeout(ctx, 200*time.Millisecond); err == nil {
		t.Fatalf("a foreign unlock published %v", msg)
	}

	code, err = unlockScript.Run(ctx, rdb, []string{key}, "owner", channel).Int()
	if err != nil || code != unlockReleased {
		t.Fatalf("unlock by the owner: %d %v, want UnlockReleased", code, err)
	}
	if n := rdb.Exists(ctx, key).Val(); n != 0 {
		t.Fatal("the owner's unlock left the lock")
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil || msg.Channel != channel {
		t.Fatalf("release not published: %v %v", msg, err)
	}

	// A second unlock (a retry) finds nothing to release and publishes nothing.
	if code, _ := unlockScript.Run(ctx, rdb, []string{key}, "owner", channel).Int(); code != unlockNotOwner {
		t.Fatalf("second unlock: code %d, want UnlockNotOwner", code)
	}
}

func TestRenewScriptExtendsOnlyTheOwnersLease(t *testing.T) {
	ctx, rdb, key, _ := lockScripts(t)
	runLock(t, ctx, rdb, key, "owner", 1000)

	if code, err := renewScript.Run(ctx, rdb, []string{key}, "intruder", 60000).Int(); err != nil || code != renewLost {
		t.Fatalf("renew by another token: %d %v, want RenewLost", code, err)
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl > time.Second {
		t.Fatalf("a foreign renew extended the lease to %s", ttl)
	}
	if code, err := renewScript.Run(ctx, rdb, []string{key}, "owner", 60000).Int(); err != nil || code != renewExtended {
		t.Fatalf("renew by the owner: %d %v, want RenewExtended", code, err)
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl < 59*time.Second {
		t.Fatalf("renewed lease %s, want ~60s", ttl)
	}
	rdb.Del(ctx, key)
	if code, _ := renewScript.Run(ctx, rdb, []string{key}, "owner", 60000).Int(); code != renewLost {
		t.Fatalf("renew of a lock that is gone: code %d, want RenewLost", code)
	}
	if n := rdb.Exists(ctx, key).Val(); n != 0 {
		t.Fatal("renew recreated a lock that was gone")
	}
}
