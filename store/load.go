package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// UseLoadData makes the fast path insert its rows with LOAD DATA LOCAL
// INFILE from memory instead of a prepared INSERT, if the server allows
// LOCAL (local_infile: on by default in MariaDB, off in MySQL 8 unless the
// server is started with --local-infile=ON, as docker-compose.yml does). It
// reports whether it is on; when it is not, the prepared INSERT stays.
//
// Why: it is the cheapest way to hand MariaDB rows. Measured here, 1,000
// rows a statement on one connection: 5.6–6.2 µs of MariaDB CPU a row,
// against 7.0–8.2 µs prepared (docs/performance.md, "The writer").
func (s *Store) UseLoadData(ctx context.Context) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var on int
	if err := s.db.GetContext(ctx, &on, `SELECT @@local_infile`); err != nil {
		return false, fmt.Errorf("local_infile: %w", err)
	}
	s.loadData.Store(on == 1)
	return on == 1, nil
}

// errLoadDataOff: the server refused LOCAL after all (local_infile turned
// off since UseLoadData looked); ApplyBatch runs the batch again with the
// prepared INSERT.
var errLoadDataOff = errors.New("LOAD DATA LOCAL refused by the server")

// loadDataRefused reports the server's "LOCAL is off": ER_NOT_ALLOWED_COMMAND
// (1148, MariaDB and older MySQL) and MySQL 8's
// ER_CLIENT_LOCAL_FILES_DISABLED (3948) and
// ER_LOAD_INFILE_CAPABILITY_DISABLED (3950).
func loadDataRefused(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1148 || me.Number == 3948 || me.Number == 3950)
}

// loadSQL is the statement; %s is the reader's name. IGNORE is what LOCAL
// does anyway (the server cannot stop the client's stream half way): a
// duplicate key skips its row with a warning instead of failing the
// statement, and a value that does not fit is cut with a warning. Said
// here so that MySQL and MariaDB read it alike; loadRows turns both back
// into the refusal the INSERT gave.
const loadSQL = `LOAD DATA LOCAL INFILE 'Reader::%s' IGNORE INTO TABLE reservations CHARACTER SET utf8mb4
	FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'
	(id, concert_id, member_id, status, created_at, updated_at, expires_at, reason)`

// loadNames makes each load's reader name unique: the driver's registry is
// global to the process.
var loadNames atomic.Uint64

// loadBuffers keep a batch's text (about 100 bytes a row) from one batch
// to the next.
var loadBuffers = sync.Pool{New: func() any { return new([]byte) }}

// loadRows inserts rows with one LOAD DATA LOCAL and reports whether every
// row went in as sent: the affected rows are all of them and the server
// left no warning (a duplicate key skipped, a value cut, a bad date).
// ok=false is the fast path's refusal: the transaction is rolled back and
// the careful path decides row by row, as when the INSERT was refused.
func loadRows(ctx context.Context, tx *sqlx.Tx, rows []row) (ok bool, err error) {
	buf := loadBuffers.Get().(*[]byte)
	defer loadBuffers.Put(buf)
	*buf = appendLoadRows((*buf)[:0], rows, time.Now().UTC())
	name := "boxoffice-" + strconv.FormatUint(loadNames.Add(1), 10)
	mysql.RegisterReaderHandler(name, func() io.Reader { return bytes.NewReader(*buf) })
	defer mysql.DeregisterReaderHandler(name)
	res, err := tx.ExecContext(ctx, fmt.Sprintf(loadSQL, name))
	if loadDataRefused(err) {
		return false, errLoadDataOff
	}
	if err != nil {
		return false, fmt.Errorf("load reservations: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("load reservations: %w", err)
	}
	if n != int64(len(rows)) {
		return false, nil // written before, or a member's second seat
	}
	// The driver drops the OK packet's warning count, so ask: one round
	// trip a batch. A note or warning here is a value the INSERT (strict
	// mode) would have refused.
	var warnings int
	if err := tx.GetContext(ctx, &warnings, `SELECT @@warning_count`); err != nil {
		return false, fmt.Errorf("load reservations: warnings: %w", err)
	}
	return warnings == 0, nil
}

// appendLoadRows writes rows in loadSQL's format: tab-separated fields,
// one line a row, \N for NULL, times as UTC DATETIME text with the
// microseconds the prepared INSERT sent.
func appendLoadRows(b []byte, rows []row, now time.Time) []byte {
	var updated [len(stampLayout)]byte
	appendStamp(updated[:0], now)
	for _, r := range rows {
		b = appendLoadField(b, r.ID)
		b = append(b, '\t')
		b = strconv.AppendInt(b, r.ConcertID, 10)
		b = append(b, '\t')
		b = strconv.AppendInt(b, r.MemberID, 10)
		b = append(b, '\t')
		b = appendLoadField(b, string(r.status))
		b = append(b, '\t')
		b = appendStamp(b, r.CreatedAt)
		b = append(b, '\t')
		b = append(b, updated[:]...)
		b = append(b, '\t')
		if r.expires != nil {
			b = appendStamp(b, *r.expires)
		} else {
			b = append(b, `\N`...)
		}
		b = append(b, '\t')
		if r.reason != "" {
			b = appendLoadField(b, r.reason)
		} else {
			b = append(b, `\N`...)
		}
		b = append(b, '\n')
	}
	return b
}

// appendLoadField escapes what loadSQL's format gives a meaning: the
// escape character itself, the field and line terminators, and NUL.
func appendLoadField(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '\t':
			b = append(b, `\t`...)
		case '\n':
			b = append(b, `\n`...)
		case 0:
			b = append(b, `\0`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// stampLayout is the DATETIME text appendStamp writes.
const stampLayout = "2006-01-02 15:04:05.000000"

// appendStamp is t.UTC().AppendFormat(b, stampLayout) for years 0–9999,
// digit by digit into a fixed array. Building a batch's text (three stamps
// a row) took 0.60 µs a row with AppendFormat's walk of the layout and 0.29
// with this, and no allocation (BenchmarkAppendLoadRows, interleaved, median
// of three on a busy machine): 6.5% of the writer's CPU was AppendFormat.
func appendStamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, stampLayout) // MySQL refuses it either way
	}
	hour, minute, sec := t.Clock()
	s := [len(stampLayout)]byte{4: '-', 7: '-', 10: ' ', 13: ':', 16: ':', 19: '.'}
	digits(s[0:4], year)
	digits(s[5:7], int(month))
	digits(s[8:10], day)
	digits(s[11:13], hour)
	digits(s[14:16], minute)
	digits(s[17:19], sec)
	digits(s[20:26], t.Nanosecond()/1000)
	return append(b, s[:]...)
}

// digits writes n (≥ 0) into d as exactly len(d) decimal digits.
func digits(d []byte, n int) {
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
}
