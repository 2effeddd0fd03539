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

// The steps of a stock transfer, for tests that stop between them.

// HomeBucket returns a member's home bucket (-1 for a plain concert).
func (s *Store) HomeBucket(ctx context.Context, concert, member int64) (int, error) {
	l, err := s.layoutOf(ctx, concert)
	if err != nil || l == nil {
		return -1, err
	}
	return l.home(member), nil
}

// BucketStocks returns each bucket's stock counter.
func (s *Store) BucketStocks(ctx context.Context, concert int64) ([]int64, error) {
	l, err := s.layoutOf(ctx, concert)
	if err != nil || l == nil {
		return nil, err
	}
	var out []int64
	for _, sub := range l.subs {
		n, _, err := sub.Remaining(ctx, concert)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// TransferTake runs only the donor's step (a gateway that died after it)
// and returns the seats taken and the marker they were taken under.
func (s *Store) TransferTake(ctx context.Context, concert int64, id string, from, to int) (int64, string, error) {
	l, err := s.layoutOf(ctx, concert)
	if err != nil {
		return 0, "", err
	}
	p, err := s.take(ctx, l, concert, id, from, to)
	return p.seats, p.epoch, err
}

// TransferFinish runs the home bucket's step and the donor's settling of
// transfer id (a replay, or a gateway's second step).
func (s *Store) TransferFinish(ctx context.Context, concert int64, id string, from, to int, seats int64, epoch string) (int64, error) {
	l, err := s.layoutOf(ctx, concert)
	if err != nil {
		return 0, err
	}
	return s.finishTransfer(ctx, l, concert, pendingTransfer{id: id, from: from, to: to, seats: seats, epoch: epoch})
}

// BucketTags returns the hash tags of a concert's buckets.
func (s *Store) BucketTags(ctx context.Context, concert int64) ([]string, error) {
	l, err := s.layoutOf(ctx, concert)
	if err != nil || l == nil {
		return nil, err
	}
	return l.tags, nil
}

// TransfersSettled counts the transfers the donors of a concert settled.
func (s *Store) TransfersSettled(ctx context.Context, concert int64) (int64, error) {
	l, err := s.layoutOf(ctx, concert)
	if err != nil || l == nil {
		return 0, err
	}
	return l.sum(func(sub *Store) (int64, error) { return s.rdb.ZCard(ctx, sub.xferDoneKey(concert)).Result() })
}
