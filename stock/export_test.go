package stock

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client exposes the client to this package's tests (SCRIPT FLUSH and the like).
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// TombstonesTTL is the time to live of a concert's undo tombstones.
func (s *Store) TombstonesTTL(ctx context.Context, concert int64) (time.Duration, error) {
	return s.rdb.PTTL(ctx, s.releasedKey(concert)).Result()
}
