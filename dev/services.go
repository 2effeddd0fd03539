package dev

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/dolthub/go-mysql-server/server"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/boxoffice/boxoffice/config"
)

// The embedded MySQL's database and account. The server listens on loopback
// only, so a fixed password protects nothing and is easy to type.
const (
	mysqlDatabase = "boxoffice"
	mysqlUser     = "boxoffice"
	mysqlPassword = "boxoffice"
)

// Embed says which services run in this process; the others are real
// servers named by the configuration.
type Embed struct {
	Redis bool
	Kafka bool
	MySQL bool
}

// Any reports whether at least one service is embedded.
func (e Embed) Any() bool { return e.Redis || e.Kafka || e.MySQL }

// Services are the embedded servers that are running. A nil field is a real
// service this process does not own.
type Services struct {
	Redis *miniredis.Miniredis
	Kafka *kfake.Cluster
	MySQL *server.Server
}

// Start starts the embedded servers that which asks for, each on a free
// loopback port, and returns cfg pointed at them. cfg.Embedded is set when
// MySQL is embedded: that is the part whose limits the gateway must know.
// On error nothing is left running.
func Start(cfg config.Config, which Embed, log *slog.Logger) (s *Services, _ config.Config, err error) {
	s = &Services{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if which.Redis {
		s.Redis = miniredis.NewMiniRedis()
		// miniredis is made for unit tests: TTLs only run down when the test
		// says so. Here they must follow the clock, or a crashed distlock
		// holder's lease (SET NX PX) never expires.
		s.Redis.ClockTTL(true)
		if err := s.Redis.StartAddr("127.0.0.1:0"); err != nil {
			return nil, cfg, fmt.Errorf("embedded redis: %w", err)
		}
		cfg.RedisAddr = s.Redis.Addr()
		log.Info("embedded redis (miniredis)", "addr", cfg.RedisAddr)
	}
	if which.Kafka {
		// One broker: replication factor 1 is what seed asks for, and the
		// consumer group coordinator and the producer ids live on it. kfake
		// listens on 127.0.0.1 with a free port when given none.
		if s.Kafka, err = kfake.NewCluster(kfake.NumBrokers(1)); err != nil {
			return nil, cfg, fmt.Errorf("embedded kafka: %w", err)
		}
		cfg.KafkaBrokers = s.Kafka.ListenAddrs()
		log.Info("embedded kafka (kfake)", "brokers", strings.Join(cfg.KafkaBrokers, ","))
	}
	if which.MySQL {
		var addr string
		if s.MySQL, addr, err = startMySQL(lockWait); err != nil {
			return nil, cfg, fmt.Errorf("embedded mysql: %w", err)
		}
		cfg.MySQLDSN = fmt.Sprintf("%s:%s@tcp(%s)/%s?parseTime=true", mysqlUser, mysqlPassword, addr, mysqlDatabase)
		cfg.Embedded = true
		log.Info("embedded mysql (go-mysql-server, in memory)", "addr", addr, "user", mysqlUser, "database", mysqlDatabase)
	}
	return s, cfg, nil
}

// Close stops the embedded servers, MySQL first (its clients are the
// gateway and the writer, already closed), Kafka last.
func (s *Services) Close() error {
	if s == nil {
		return nil
	}
	var errs []error
	if s.MySQL != nil {
		errs = append(errs, s.MySQL.Close())
	}
	if s.Redis != nil {
		s.Redis.Close()
	}
	if s.Kafka != nil {
		s.Kafka.Close()
	}
	return errors.Join(errs...)
}
