package faults

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// scenario is one fault injected in the middle of a rush.
type scenario struct {
	name  string
	fault string // what is done, in a few words (the table's note starts with it)
	// gateways and writers run as processes of the binary (a writer group
	// of one or two).
	gateways, writers int
	// aof runs Redis with appendonly yes, appendfsync everysec.
	aof bool
	// inject runs the fault; it calls r.faultEnded when the fault is over
	// (the restart is issued; for a kill with no restart, the kill), from
	// which recovery counts, and returns when the system has been put back
	// together (the restart done).
	inject func(ctx context.Context, r *run) error
	// reconcile, when set, runs after the load and the fault; recovery is
	// measured only once it succeeded.
	reconcile func(ctx context.Context, r *run) error
	// replicaLag (the cluster set's Redis master kill): the promoted
	// replica may have missed its master's last admissions; the audit
	// bounds what that costs instead of failing on it.
	replicaLag bool
}

// scenarios, in the order they run.
var scenarios = []scenario{
	{
		name: "gateway-kill", fault: "kill -9 one of two gateways (not restarted)", gateways: 2, writers: 1,
		inject: func(ctx context.Context, r *run) error {
			g := r.c.liveGateways()[1] // the harness probes through the first
			g.kill()
			r.faultEnded()
			return nil
		},
	},
	{
		name: "writer-kill", fault: "kill -9 the writer, start a new one 1 s later", gateways: 1, writers: 1,
		inject: func(ctx context.Context, r *run) error {
			r.c.writers[0].kill()
			if err := sleep(ctx, time.Second); err != nil {
				return err
			}
			r.faultEnded()
			_, err := r.c.startWriter(ctx)
			return err
		},
	},
	{
		name: "kafka-stop", fault: "stop the Kafka broker, start it again", gateways: 1, writers: 1,
		inject: func(ctx context.Context, r *run) error {
			if err := r.c.kafka(ctx, "stop"); err != nil {
				return err
			}
			if err := sleep(ctx, r.o.KafkaDown); err != nil {
				return err
			}
			r.faultEnded()
			return r.c.kafka(ctx, "start")
		},
	},
	{
		name: "mariadb-restart", fault: "restart MariaDB (SIGTERM, start again)", gateways: 1, writers: 1,
		inject: func(ctx context.Context, r *run) error {
			if err := r.c.stopMySQL(ctx); err != nil {
				return err
			}
			r.faultEnded()
			return r.c.services(ctx, "start")
		},
	},
	{
		name: "redis-wipe", fault: "kill -9 Redis, start it again empty, reconcile", gateways: 1, writers: 1,
		inject: func(ctx context.Context, r *run) error {
			r.c.killRedis()
			if err := r.c.wipeRedis(); err != nil {
				return err
			}
			r.faultEnded()
			return r.c.startRedis(ctx)
		},
		reconcile: reconcile,
	},
	{
		name: "writer-pair-kill", fault: "two writers in one group, kill -9 one mid-batch (not restarted)", gateways: 1, writers: 2,
		inject: func(ctx context.Context, r *run) error {
			r.c.writers[0].kill()
			r.faultEnded()
			return nil
		},
	},
	{
		name: "redis-aof-kill", fault: "kill -9 Redis (appendonly yes), restart from its AOF", gateways: 1, writers: 1, aof: true,
		inject: func(ctx context.Context, r *run) error {
			// How often an fsync was still running when the next write
			// was due: Redis then answers before it writes the AOF, the
			// one case in which even a process kill can lose a reply.
			if info, err := redisInfo(r.c.redisAddr(), "persistence"); err == nil {
				r.note("before the kill: aof_delayed_fsync=%s, aof_last_write_status=%s", info["aof_delayed_fsync"], info["aof_last_write_status"])
			}
			r.c.killRedis()
			r.faultEnded()
			return r.c.startRedis(ctx)
		},
	},
}

// reconcile rebuilds Redis from MySQL for scenario redis-wipe, once the
// writer has consumed what Kafka held (reconcile --fix waits for that, and
// refuses if it does not come); the load is over and the fault ended when it
// is called. Until then the wiped concert answered 503 stock_not_loaded.
func reconcile(ctx context.Context, r *run) error {
	return r.c.runBin(ctx, "reconcile", "--fix")
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// scenarioNamed finds a scenario of the set o runs by name.
func (o Options) scenarioNamed(name string) (scenario, error) {
	for _, s := range o.scenarioSet() {
		if s.name == name {
			return s, nil
		}
	}
	return scenario{}, fmt.Errorf("unknown scenario %q (the %s set has %s)", name, o.setName(), strings.Join(names(o.scenarioSet()), ", "))
}

func (o Options) setName() string {
	if o.Cluster {
		return "--cluster"
	}
	return "single-node"
}
