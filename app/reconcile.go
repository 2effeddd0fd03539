package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/reconcile"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// newReconciler wires a Reconciler to the services; closeAll ends its clients.
func newReconciler(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *reconcile.Reconciler, closeAll func(), err error) {
	db, err := openMySQL(ctx, cfg, 2)
	if err != nil {
		return nil, nil, err
	}
	st, err := openRedis(ctx, cfg)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return reconciler(cfg, st, db, log), func() { st.Close(); db.Close() }, nil
}

// reconciler is a Reconciler on clients the caller owns (seed's, or
// newReconciler's).
func reconciler(cfg config.Config, st *stock.Store, db *store.Store, log *slog.Logger) *reconcile.Reconciler {
	return &reconcile.Reconciler{Seats: st, Rows: db, Grace: cfg.InflightGrace,
		Settle: cfg.ProduceTimeout + time.Second, Wait: cfg.FixWait, Log: log, Lag: writerLag(cfg)}
}

// writerLag reads the writer group's lag on the reservations topic. A topic
// created a moment ago (by seed) has partitions with no leader to answer
// offsets for yet, so it is waited for as the services are.
func writerLag(cfg config.Config) func(context.Context) (kafka.Lag, error) {
	return func(ctx context.Context) (l kafka.Lag, err error) {
		err = waitFor(ctx, "kafka offsets", func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			l, err = kafka.GroupLag(ctx, cfg.KafkaBrokers, cfg.Group, cfg.Topic)
			return err
		})
		return l, err
	}
}

// Reconcile is `boxoffice reconcile`: the report, and with --fix the rebuild.
// It fails when a difference remains, so scripts can tell.
func Reconcile(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	return ReconcileTo(ctx, cfg, log, os.Stdout)
}

// ReconcileTo is Reconcile writing to out.
func ReconcileTo(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) error {
	r, closeAll, err := newReconciler(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeAll()
	var only []int64
	if cfg.ReconcileConcert > 0 {
		only = []int64{cfg.ReconcileConcert}
	}
	var rep reconcile.Report
	if cfg.Fix {
		rep, err = r.Fix(ctx, only)
	} else {
		rep, err = r.Check(ctx, only)
	}
	if cfg.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(rep); jerr != nil {
			return jerr
		}
	} else {
		printReport(out, rep)
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("Redis and MySQL disagree; see the report (--fix rebuilds Redis from MySQL)")
	}
	return nil
}

func printReport(out io.Writer, rep reconcile.Report) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "concert\tcapacity\tdb remaining\tactive rows\theld rows\tredis stock\tmembers\tholds\tin flight\tdecisions\t")
	for _, c := range rep.Concerts {
		stockCol := "-"
		if c.Loaded {
			stockCol = fmt.Sprint(c.RedisStock)
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t\n", c.ID, c.Capacity, c.DBRemaining, c.ActiveRows, c.HeldRows,
			stockCol, c.Members, c.Holds, c.InFlight, c.Decisions)
	}
	tw.Flush()
	fmt.Fprintf(out, "writer lag: %d events\n", rep.Lag)
	for _, c := range rep.Concerts {
		for _, d := range c.Differences {
			fmt.Fprintf(out, "concert %d: %s (%d): %s\n", c.ID, d.Kind, d.Count, d.Detail)
		}
	}
	if len(rep.Fixed) > 0 {
		fmt.Fprintf(out, "rebuilt from MySQL: concerts %v\n", rep.Fixed)
	}
	if rep.OK() {
		fmt.Fprintln(out, "Redis and MySQL agree")
	}
}
