package dev

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"sync"
	"time"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	"github.com/sirupsen/logrus"
)

// lockWait is how long a statement waits for its turn before it fails with
// MySQL's own lock wait timeout (1205), which the writer retries. It is
// longer than any transaction of ours holds the turn (their DB timeout).
const lockWait = 10 * time.Second

// startMySQL serves an empty in-memory database over the MySQL protocol on a
// free loopback port; a statement waits at most wait for its turn.
func startMySQL(wait time.Duration) (*server.Server, string, error) {
	// go-mysql-server logs every connection through logrus at info level;
	// only its errors belong in our log (it also warns that secure_file_priv
	// is empty, which no LOAD DATA of ours uses).
	logrus.SetLevel(logrus.ErrorLevel)

	// Primary keys are deliberately not exposed as indexes
	// (db.EnablePrimaryKeyIndexes): with them, MAX(id) over an empty table
	// returns no row instead of one NULL row, which breaks
	// `SELECT COALESCE(MAX(id), 0) FROM members` in store.SeedMembers. The
	// price is a table scan per primary key lookup, nothing at dev sizes.
	db := memory.NewDatabase(mysqlDatabase)
	pro := memory.NewDBProvider(db)
	engine := sqle.NewDefault(pro)

	users := engine.Analyzer.Catalog.MySQLDb
	ed := users.Editor()
	users.AddSuperUser(ed, mysqlUser, "%", mysqlPassword)
	ed.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv, err := server.NewServerWithHandler(server.Config{Protocol: "tcp", Listener: ln}, engine, sql.NewContext, memory.NewSessionBuilder(pro), nil,
		func(h mysql.Handler) (mysql.Handler, error) { return newSerial(h, wait), nil })
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	go srv.Start() // returns when Close is called
	return srv, ln.Addr().String(), nil
}

// serial lets one transaction at a time into the memory engine: a statement
// outside a transaction runs alone, and a transaction keeps the turn from
// START TRANSACTION (or BEGIN) to COMMIT or ROLLBACK.
//
// go-mysql-server's memory engine is not safe for concurrent connections: a
// statement, even a SELECT, works on its session's snapshot of each table it
// touches and puts that snapshot back as the table when it commits, so
// whatever another connection committed in between is silently undone. We
// measured it, with no error anywhere:
//   - one connection committing 1,600 single-row INSERT transactions while
//     eight others ran SELECTs kept 1,310 rows;
//   - eight connections each running 100 transactions of
//     SELECT ... FOR UPDATE + UPDATE counter = read + 1 left the counter at 215.
//
// Taking turns makes every interleaving one MySQL would also allow, so the
// writer, the gateway's reads and distlock (many transactions, each alone)
// are right. It is a global lock, though, not MySQL's row locks: numbers
// measured in dev say nothing about pessimistic locking in MySQL, and the
// race of the unsafe strategy cannot happen; the gateway refuses both.
//
// Autocommit switched off with SET autocommit = 0 is not tracked (nothing of
// ours does it).
type serial struct {
	mysql.Handler
	turn chan struct{} // holds a token while a statement or transaction runs
	wait time.Duration

	mu   sync.Mutex
	inTx map[uint32]bool // connections holding the turn between statements
}

func newSerial(h mysql.Handler, wait time.Duration) *serial {
	return &serial{Handler: h, turn: make(chan struct{}, 1), wait: wait, inTx: map[uint32]bool{}}
}

// errLockWait is MySQL's answer when a lock is not granted in time; the
// store treats 1205 as transient.
func errLockWait() error {
	return mysql.NewSQLError(mysql.ERLockWaitTimeout, "HY000", "Lock wait timeout exceeded; try restarting transaction")
}

// enter waits for c's turn; a connection inside a transaction already has it.
func (h *serial) enter(c *mysql.Conn) error {
	h.mu.Lock()
	holding := h.inTx[c.ConnectionID]
	h.mu.Unlock()
	if holding {
		return nil
	}
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.turn <- struct{}{}:
		return nil
	case <-t.C:
		return errLockWait()
	}
}

// leave ends c's turn unless the statement just run leaves c inside a
// transaction.
func (h *serial) leave(c *mysql.Conn, query string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch txVerb(query) {
	case txBegin:
		if err == nil {
			h.inTx[c.ConnectionID] = true
		}
	case txEnd:
		delete(h.inTx, c.ConnectionID)
	}
	if !h.inTx[c.ConnectionID] {
		<-h.turn
	}
}

// erCheckConstraintViolated is MySQL's number for a row refused by a CHECK
// constraint (ER_CHECK_CONSTRAINT_VIOLATED).
const erCheckConstraintViolated = 3819

// checkViolated is how go-mysql-server words a CHECK refusal, which it sends
// as the catch-all 1105 (ER_UNKNOWN_ERROR).
var checkViolated = regexp.MustCompile(`^Check constraint "(.*)" violated$`)

// mysqlNumber gives an engine error the number MySQL would send, where our
// code tells errors apart by number: the writer's insert-first path
// (store.applyFresh) falls back to deciding row by row on a CHECK refusal
// (3819), and took 1105 for a failure (TestApplyBatch, a redelivery once
// seats are short).
func mysqlNumber(err error) error {
	var se *mysql.SQLError
	if !errors.As(err, &se) || se.Num != mysql.ERUnknownError {
		return err
	}
	if m := checkViolated.FindStringSubmatch(se.Message); m != nil {
		return mysql.NewSQLError(erCheckConstraintViolated, "HY000", "Check constraint '%s' is violated.", m[1])
	}
	return err
}

type verb int

const (
	txNone verb = iota
	txBegin
	txEnd
)

// txVerb tells whether a statement starts or ends a transaction.
func txVerb(query string) verb {
	q := strings.ToUpper(strings.TrimSpace(query))
	for strings.HasPrefix(q, "/*") { // leading comments, as some drivers send
		end := strings.Index(q, "*/")
		if end < 0 {
			return txNone
		}
		q = strings.TrimSpace(q[end+2:])
	}
	word := func(w string) bool {
		if !strings.HasPrefix(q, w) {
			return false
		}
		rest := q[len(w):]
		return rest == "" || rest[0] == ' ' || rest[0] == ';' || rest[0] == '\t' || rest[0] == '\n'
	}
	switch {
	case word("START TRANSACTION"), word("BEGIN"):
		return txBegin
	case word("COMMIT"), word("ROLLBACK") && !strings.Contains(q, " TO "):
		return txEnd
	}
	return txNone
}

func (h *serial) ComInitDB(c *mysql.Conn, schema string) error {
	if err := h.enter(c); err != nil {
		return err
	}
	err := h.Handler.ComInitDB(c, schema)
	h.leave(c, "", err)
	return err
}

func (h *serial) ComQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) error {
	if err := h.enter(c); err != nil {
		return err
	}
	err := h.Handler.ComQuery(ctx, c, query, callback)
	h.leave(c, query, err)
	return mysqlNumber(err)
}

func (h *serial) ComMultiQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) (string, error) {
	if err := h.enter(c); err != nil {
		return "", err
	}
	rest, err := h.Handler.ComMultiQuery(ctx, c, query, callback)
	h.leave(c, query, err) // the verb of the first statement, the one just run
	return rest, mysqlNumber(err)
}

func (h *serial) ComPrepare(ctx context.Context, c *mysql.Conn, query string, prepare *mysql.PrepareData) ([]*querypb.Field, error) {
	if err := h.enter(c); err != nil {
		return nil, err
	}
	fields, err := h.Handler.ComPrepare(ctx, c, query, prepare)
	h.leave(c, "", err) // preparing starts no transaction
	return fields, err
}

func (h *serial) ComStmtExecute(ctx context.Context, c *mysql.Conn, prepare *mysql.PrepareData, callback func(*sqltypes.Result) error) error {
	if err := h.enter(c); err != nil {
		return err
	}
	err := h.Handler.ComStmtExecute(ctx, c, prepare, callback)
	h.leave(c, prepare.PrepareStmt, err)
	return mysqlNumber(err)
}

func (h *serial) ComResetConnection(c *mysql.Conn) error {
	if err := h.enter(c); err != nil {
		return err
	}
	err := h.Handler.ComResetConnection(c)
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.inTx, c.ConnectionID) // a reset rolls back
	<-h.turn
	return err
}

// ConnectionClosed gives the turn back if c died inside a transaction. Closing
// a session rolls back (drops the session's snapshots) and changes no table,
// so it needs no turn of its own.
func (h *serial) ConnectionClosed(c *mysql.Conn) {
	h.Handler.ConnectionClosed(c)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.inTx[c.ConnectionID] {
		delete(h.inTx, c.ConnectionID)
		<-h.turn
	}
}
