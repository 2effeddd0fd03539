package stock

import "github.com/redis/go-redis/v9"

// Client exposes the client to this package's tests (SCRIPT FLUSH and the like).
func (s *Store) Client() redis.UniversalClient { return s.rdb }
