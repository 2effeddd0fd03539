package servicetest

import (
	"context"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/store"
)

// Store opens a fresh, migrated database of the test's own (pool connections)
// holding concerts 1..concerts of capacity seats each.
func Store(t testing.TB, pool, concerts, capacity int) *store.Store {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, MySQLDSN(t), pool, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.SeedConcerts(ctx, concerts, capacity, false); err != nil {
		t.Fatal(err)
	}
	return db
}
