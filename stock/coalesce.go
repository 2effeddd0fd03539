package stock

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Under a rush every request runs reserve.lua, and each round trip costs a
// write and a read syscall on both ends: the gateway's CPU profile at ~5k
// req/s showed 41% of it in Store.Reserve, mostly syscalls. The coalescer
// sends whatever calls are waiting as one pipeline. It never waits for more
// (an idle gateway sends each call alone), so it adds no latency.

// maxCoalesce bounds one pipeline.
const maxCoalesce = 128

type reserveCall struct {
	// ctx is the caller's: a call whose caller gave up before it was sent
	// is not sent at all.
	ctx context.Context
	// script is reserve.lua or hold.lua.
	script *redis.Script
	keys   []string
	args   []any
	reply  chan *redis.Cmd // buffered: a worker never blocks
}

// Coalesce routes Reserve through workers pipelines that share round trips.
// The returned stop ends them; call it before closing the client.
func (s *Store) Coalesce(workers int) (stop func()) {
	calls := make(chan *reserveCall, workers*maxCoalesce)
	s.calls = calls
	// Bucket stores made before now copied no coalescer: make them again.
	s.layouts.Clear()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.coalesce(calls)
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			close(calls)
			wg.Wait()
		})
	}
}

func (s *Store) coalesce(calls <-chan *reserveCall) {
	batch := make([]*reserveCall, 0, maxCoalesce)
	cmds := make([]*redis.Cmd, 0, maxCoalesce)
	for c := range calls {
		batch = append(batch[:0], c)
	drain:
		for len(batch) < maxCoalesce {
			select {
			case c, ok := <-calls:
				if !ok {
					break drain
				}
				batch = append(batch, c)
			default:
				break drain
			}
		}
		// Callers that gave up while queued are answered without running
		// their script: they were told it failed, and nothing would undo it.
		live := batch[:0]
		for _, c := range batch {
			if err := c.ctx.Err(); err != nil {
				cmd := redis.NewCmd(c.ctx)
				cmd.SetErr(fmt.Errorf("not sent: %w", err))
				c.reply <- cmd
				continue
			}
			live = append(live, c)
		}
		batch = live
		if len(batch) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		cmds = cmds[:0]
		s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, c := range batch {
				cmds = append(cmds, c.script.EvalSha(ctx, p, c.keys, c.args...))
			}
			return nil
		})
		for i, c := range batch {
			cmd := cmds[i]
			if err := cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
				// Redis lost its script cache: Run loads it again.
				cmd = c.script.Run(ctx, s.rdb, c.keys, c.args...)
			}
			c.reply <- cmd
		}
		cancel()
	}
}

// reserveCoalesced hands one call to the workers and waits for its reply.
// Once handed over it waits for the reply even if ctx ends (the worker
// answers within the Redis timeout): the caller must learn whether the
// script ran, or it could be told "failed" about a seat that was taken.
func (s *Store) reserveCoalesced(ctx context.Context, script *redis.Script, keys []string, args []any) (*redis.Cmd, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("reserve: %w", err)
	}
	c := &reserveCall{ctx: ctx, script: script, keys: keys, args: args, reply: make(chan *redis.Cmd, 1)}
	select {
	case s.calls <- c:
	case <-ctx.Done():
		return nil, fmt.Errorf("reserve: %w", ctx.Err())
	}
	return <-c.reply, nil
}
