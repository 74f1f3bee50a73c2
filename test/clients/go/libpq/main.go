// lib/pq through DocFusionDB with database/sql: a scripted session (client 'lib-pq').
//
// Connection URLs come from the environment variable DF_CONFIG, a JSON object:
//
//	url         the proxy without TLS (SCRAM, session pooling), as the upstream admin
//	tls_url     a proxy with TLS (self-signed certificate)
//	tx_url      a proxy in transaction pooling mode (pool size 3)
//	direct_url  straight to Postgres (the oracle for differential checks)
//	suffix      unique suffix for the tables this run creates
//
// URLs carry no sslmode: each feature sets the one it tests (lib/pq's default is require).
// Prints `VERSION <text>` and one `RESULT <feature> PASS|FAIL [detail]` line per feature
// (test/support/compat.ts parses them). Exits 0 when it ran to the end, whatever the results.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
)

var cfg struct {
	URL       string `json:"url"`
	TLSURL    string `json:"tls_url"`
	TxURL     string `json:"tx_url"`
	DirectURL string `json:"direct_url"`
	Suffix    string `json:"suffix"`
}

var table string

func check(ok bool, format string, args ...interface{}) {
	if !ok {
		panic(fmt.Errorf(format, args...))
	}
}

func must(err error, what string) {
	if err != nil {
		panic(fmt.Errorf("%s: %w", what, err))
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

var passed, total int

func run(feature string, fn func() string) {
	started := time.Now()
	line := ""
	func() {
		defer func() {
			if r := recover(); r != nil {
				line = fmt.Sprintf("RESULT %s FAIL %s", feature, oneLine(fmt.Sprint(r)))
				fmt.Fprintf(os.Stderr, "%s: %v\n%s\n", feature, r, debug.Stack())
			}
		}()
		detail := fn()
		line = "RESULT " + feature + " PASS"
		if detail != "" {
			line += " " + oneLine(detail)
		}
		passed++
	}()
	total++
	fmt.Println(line)
	fmt.Fprintf(os.Stderr, "# %s took %.2fs\n", feature, time.Since(started).Seconds())
}

func withParam(url, param string) string {
	if strings.Contains(url, "?") {
		return url + "&" + param
	}
	return url + "?" + param
}

func open(url string) *sql.DB {
	db, err := sql.Open("postgres", url)
	must(err, "open")
	db.SetConnMaxIdleTime(time.Minute)
	return db
}

func ctxT(seconds int) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second)
}

func plain(url string) string { return withParam(url, "sslmode=disable") }

// ---- features ------------------------------------------------------------------------------

// sslmodeDefault: lib/pq's default sslmode is require. Against a server without TLS (the proxy
// answers 'N' to SSLRequest, as Postgres without ssl does) the connection must fail cleanly
// with lib/pq's "SSL is not enabled on the server", exactly as it does straight to Postgres.
func sslmodeDefault() string {
	attempt := func(url string) error {
		db := open(url)
		defer db.Close()
		ctx, cancel := ctxT(10)
		defer cancel()
		return db.PingContext(ctx)
	}
	err := attempt(cfg.URL)
	check(err != nil, "connecting without TLS under sslmode=require succeeded")
	direct := attempt(cfg.DirectURL)
	check(errors.Is(err, pq.ErrSSLNotSupported), "unexpected error: %v", err)
	if direct != nil {
		check(err.Error() == direct.Error(), "proxy error %q differs from Postgres's %q", err, direct)
	}
	return fmt.Sprintf("refused with %q, like Postgres without TLS", err.Error())
}

func sslmodeDisable() string {
	db := open(plain(cfg.URL))
	defer db.Close()
	var ssl string
	ctx, cancel := ctxT(10)
	defer cancel()
	must(db.QueryRowContext(ctx, "SELECT 'plain'").Scan(&ssl), "query")
	return ""
}

func sslmodeRequireTLS() string {
	db := open(cfg.TLSURL) // no sslmode: lib/pq's default, require
	defer db.Close()
	ctx, cancel := ctxT(10)
	defer cancel()
	var n int
	must(db.QueryRowContext(ctx, "SELECT $1::int * 2", 21).Scan(&n), "query over TLS")
	check(n == 42, "query over TLS returned %d", n)
	return "default sslmode (require) against the TLS proxy"
}

func params() string {
	db := open(plain(cfg.URL))
	defer db.Close()
	return runParams(db)
}

func runParams(db *sql.DB) string {
	ctx, cancel := ctxT(30)
	defer cancel()
	ts := time.Date(2024, 3, 1, 12, 30, 45, 123456000, time.UTC)
	text := "héllo wörld ✓ 日本語 🎉 'q' \"dq\" \\"
	blob := []byte{0, 1, 0xfe, 0xff}
	var (
		i8   int64
		f8   float64
		s    string
		b    []byte
		flag bool
		tstz time.Time
		num  string
		uuid string
		doc  string
		arr  pq.Int64Array
		strs pq.StringArray
		null sql.NullInt64
	)
	err := db.QueryRowContext(ctx,
		`SELECT $1::int8, $2::float8, $3::text, $4::bytea, $5::bool, $6::timestamptz, $7::numeric,
		        $8::uuid, $9::jsonb, $10::int8[], $11::text[], $12::int4`,
		int64(1)<<40, 3.25, text, blob, true, ts, "12345678901234567890.123456789",
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", `{"a": [1, 2, {"b": null}], "ü": "✓"}`,
		pq.Array([]int64{1, 2, 3}), pq.Array([]string{"a", "b c", "ü"}), nil,
	).Scan(&i8, &f8, &s, &b, &flag, &tstz, &num, &uuid, &doc, &arr, &strs, &null)
	must(err, "typed round trip")
	check(i8 == int64(1)<<40 && f8 == 3.25 && s == text && reflect.DeepEqual(b, blob) && flag, "scalars: %v %v %q %x %v", i8, f8, s, b, flag)
	check(tstz.Equal(ts), "timestamptz %v", tstz)
	check(num == "12345678901234567890.123456789", "numeric %q", num)
	check(uuid == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "uuid %q", uuid)
	var parsed map[string]interface{}
	must(json.Unmarshal([]byte(doc), &parsed), "jsonb")
	check(parsed["ü"] == "✓", "jsonb %q", doc)
	check(reflect.DeepEqual([]int64(arr), []int64{1, 2, 3}), "int8[] %v", arr)
	check(reflect.DeepEqual([]string(strs), []string{"a", "b c", "ü"}), "text[] %v", strs)
	check(!null.Valid, "NULL %v", null)
	// A prepared statement (lib/pq names it) reused with different parameters.
	stmt, err := db.PrepareContext(ctx, "SELECT $1::int + $2::int, $3::text")
	must(err, "prepare")
	defer stmt.Close()
	for i := 0; i < 10; i++ {
		var sum int
		var label string
		must(stmt.QueryRowContext(ctx, i, 1, fmt.Sprint("l", i)).Scan(&sum, &label), "prepared query")
		check(sum == i+1 && label == fmt.Sprint("l", i), "prepared query returned %d %q", sum, label)
	}
	// Many rows.
	rows, err := db.QueryContext(ctx, "SELECT g, md5(g::text) FROM generate_series(1, 5000) g WHERE g > $1", 0)
	must(err, "many rows")
	count := 0
	for rows.Next() {
		count++
	}
	must(rows.Err(), "rows")
	rows.Close()
	check(count == 5000, "%d rows", count)
	return "int8, float8, text, bytea, bool, timestamptz, numeric, uuid, jsonb, arrays, NULL; prepared statement; 5000 rows"
}

func transaction() string {
	db := open(plain(cfg.URL))
	defer db.Close()
	return runTransaction(db, "tx")
}

func runTransaction(db *sql.DB, name string) string {
	ctx, cancel := ctxT(30)
	defer cancel()
	t := table + "_" + name
	_, err := db.ExecContext(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY)", t))
	must(err, "create")
	tx, err := db.BeginTx(ctx, nil)
	must(err, "begin")
	_, err = tx.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s VALUES ($1)", t), 1)
	must(err, "insert")
	must(tx.Commit(), "commit")
	tx, err = db.BeginTx(ctx, nil)
	must(err, "begin")
	_, err = tx.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s VALUES ($1)", t), 2)
	must(err, "insert")
	var n int
	must(tx.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s", t)).Scan(&n), "count")
	check(n == 2, "rows inside the transaction: %d", n)
	must(tx.Rollback(), "rollback")
	tx, err = db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable, ReadOnly: true})
	must(err, "begin serializable read only")
	var level string
	must(tx.QueryRowContext(ctx, "SHOW transaction_isolation").Scan(&level), "isolation")
	check(level == "serializable", "isolation %q", level)
	_, err = tx.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s VALUES (3)", t))
	var pqErr *pq.Error
	check(errors.As(err, &pqErr) && pqErr.Code == "25006", "write in a read-only transaction: %v", err)
	must(tx.Rollback(), "rollback")
	must(db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s", t)).Scan(&n), "count")
	check(n == 1, "rows after rollback: %d", n)
	_, err = db.ExecContext(ctx, fmt.Sprintf("DROP TABLE %s", t))
	must(err, "drop")
	return "commit, rollback, serializable read-only"
}

func errorRecovery() string {
	db := open(plain(cfg.URL))
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx, cancel := ctxT(30)
	defer cancel()
	var pqErr *pq.Error
	_, err := db.ExecContext(ctx, "SELECT 1/0")
	check(errors.As(err, &pqErr) && pqErr.Code == "22012", "division by zero: %v", err)
	_, err = db.ExecContext(ctx, "SELECT $1::int", "x")
	check(errors.As(err, &pqErr) && pqErr.Code == "22P02", "bad parameter: %v", err)
	_, err = db.QueryContext(ctx, "SELEKT")
	check(errors.As(err, &pqErr) && pqErr.Code == "42601" && pqErr.Position == "1", "syntax error: %v", err)
	tx, err := db.BeginTx(ctx, nil)
	must(err, "begin")
	_, err = tx.ExecContext(ctx, "SELECT * FROM no_such_table")
	check(errors.As(err, &pqErr) && pqErr.Code == "42P01", "undefined table: %v", err)
	_, err = tx.ExecContext(ctx, "SELECT 1")
	check(errors.As(err, &pqErr) && pqErr.Code == "25P02", "in failed transaction: %v", err)
	must(tx.Rollback(), "rollback")
	var n int
	must(db.QueryRowContext(ctx, "SELECT $1::int + 1", 1).Scan(&n), "after errors")
	check(n == 2, "after errors: %d", n)
	return "22012, 22P02, 42601, 42P01, 25P02, then queries work"
}

func copyIn() string {
	db := open(plain(cfg.URL))
	defer db.Close()
	return runCopyIn(db, "copy")
}

func runCopyIn(db *sql.DB, name string) string {
	ctx, cancel := ctxT(60)
	defer cancel()
	t := table + "_" + name
	_, err := db.ExecContext(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, note text, at timestamptz)", t))
	must(err, "create")
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tx, err := db.BeginTx(ctx, nil)
	must(err, "begin")
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn(t, "id", "note", "at"))
	must(err, "CopyIn")
	for i := 0; i < 10000; i++ {
		var note interface{} = fmt.Sprintf("row %d ✓ tab\there \\ back", i)
		if i%9 == 0 {
			note = nil
		}
		_, err = stmt.ExecContext(ctx, i, note, base.Add(time.Duration(i)*time.Minute))
		must(err, "copy row")
	}
	_, err = stmt.ExecContext(ctx)
	must(err, "copy flush")
	must(stmt.Close(), "copy close")
	must(tx.Commit(), "commit")
	rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT id, note, at FROM %s ORDER BY id", t))
	must(err, "read back")
	i := 0
	for rows.Next() {
		var id int
		var note sql.NullString
		var at time.Time
		must(rows.Scan(&id, &note, &at), "scan")
		want := fmt.Sprintf("row %d ✓ tab\there \\ back", i)
		check(id == i && note.Valid == (i%9 != 0) && (!note.Valid || note.String == want) && at.Equal(base.Add(time.Duration(i)*time.Minute)),
			"row %d: %d %v %v", i, id, note, at)
		i++
	}
	must(rows.Err(), "rows")
	rows.Close()
	check(i == 10000, "read back %d rows", i)
	// A failing COPY (duplicate key) rolls back and the pool keeps working.
	tx, err = db.BeginTx(ctx, nil)
	must(err, "begin")
	stmt, err = tx.PrepareContext(ctx, pq.CopyIn(t, "id", "note", "at"))
	must(err, "CopyIn")
	_, err = stmt.ExecContext(ctx, 1, "dup", base)
	must(err, "buffered row")
	_, err = stmt.ExecContext(ctx)
	var pqErr *pq.Error
	check(errors.As(err, &pqErr) && pqErr.Code == "23505", "duplicate in COPY: %v", err)
	_ = stmt.Close()
	_ = tx.Rollback()
	var n int
	must(db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s", t)).Scan(&n), "count")
	check(n == 10000, "rows after the failed COPY: %d", n)
	_, err = db.ExecContext(ctx, fmt.Sprintf("DROP TABLE %s", t))
	must(err, "drop")
	return "10000 rows via pq.CopyIn identical on read back; failing COPY"
}

func cancelQuery() string {
	db := open(plain(cfg.URL))
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	started := time.Now()
	_, err := db.ExecContext(ctx, "SELECT pg_sleep(10)")
	elapsed := time.Since(started)
	check(err != nil, "pg_sleep(10) was not cancelled")
	check(elapsed < 3*time.Second, "cancel took %v", elapsed)
	var pqErr *pq.Error
	check(errors.As(err, &pqErr) && pqErr.Code == "57014" || errors.Is(err, context.DeadlineExceeded), "error: %v", err)
	qctx, qcancel := ctxT(10)
	defer qcancel()
	var ok bool
	must(db.QueryRowContext(qctx, "SELECT true").Scan(&ok), "query after cancel")
	return fmt.Sprintf("cancelled after %.2fs: %s", elapsed.Seconds(), oneLine(err.Error()))
}

func listener() string {
	db := open(plain(cfg.URL))
	defer db.Close()
	channel := table + "_chan"
	events := make(chan string, 8)
	l := pq.NewListener(plain(cfg.URL), 100*time.Millisecond, time.Second, func(ev pq.ListenerEventType, err error) {
		if err != nil {
			events <- err.Error()
		}
	})
	defer l.Close()
	must(l.Listen(channel), "listen")
	ctx, cancel := ctxT(10)
	defer cancel()
	_, err := db.ExecContext(ctx, "SELECT pg_notify($1, $2)", channel, "hello ✓")
	must(err, "notify")
	select {
	case n := <-l.Notify:
		check(n != nil && n.Channel == channel && n.Extra == "hello ✓", "notification %+v", n)
	case e := <-events:
		panic(fmt.Errorf("listener error: %s", e))
	case <-time.After(10 * time.Second):
		panic(errors.New("no notification within 10s"))
	}
	must(l.Ping(), "listener ping")
	must(l.Unlisten(channel), "unlisten")
	return "pq.Listener: LISTEN, notification, Ping, UNLISTEN"
}

func txpool() string {
	db := open(plain(cfg.TxURL))
	defer db.Close()
	db.SetMaxOpenConns(8)
	runParams(db)
	runTransaction(db, "txtx")
	runCopyIn(db, "txcopy")
	// Many database/sql connections over the pool's 3 upstream connections.
	ctx, cancel := ctxT(60)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				tx, err := db.BeginTx(ctx, nil)
				if err == nil {
					var got int
					err = tx.QueryRowContext(ctx, "SELECT $1::int * 2", c*100+i).Scan(&got)
					if err == nil && got != (c*100+i)*2 {
						err = fmt.Errorf("got %d", got)
					}
					if err == nil {
						err = tx.Commit()
					} else {
						_ = tx.Rollback()
					}
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("worker %d: %v", c, err))
					mu.Unlock()
					return
				}
			}
		}(c)
	}
	wg.Wait()
	check(len(failures) == 0, "%s", strings.Join(failures, "; "))
	return "params, prepared statement, transactions, CopyIn, 8 concurrent workers"
}

func main() {
	if err := json.Unmarshal([]byte(os.Getenv("DF_CONFIG")), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "DF_CONFIG:", err)
		os.Exit(2)
	}
	table = "df_libpq_" + cfg.Suffix
	// GOPATH builds carry no module versions: the test passes the Debian package's (DF_VERSION).
	fmt.Printf("VERSION lib/pq %s (%s)\n", os.Getenv("DF_VERSION"), runtime.Version())
	plan := []struct {
		name string
		fn   func() string
	}{
		{"sslmode-default-without-tls", sslmodeDefault},
		{"sslmode-disable", sslmodeDisable},
		{"sslmode-require-tls", sslmodeRequireTLS},
		{"params", params},
		{"transaction", transaction},
		{"error-recovery", errorRecovery},
		{"copy-in", copyIn},
		{"cancel", cancelQuery},
		{"listener", listener},
		{"txpool", txpool},
	}
	only := map[string]bool{}
	for _, name := range strings.Split(os.Getenv("DF_ONLY"), ",") {
		if name != "" {
			only[name] = true
		}
	}
	for _, feature := range plan {
		if len(only) == 0 || only[feature.name] {
			run(feature.name, feature.fn)
		}
	}
	fmt.Fprintf(os.Stderr, "# lib/pq: %d/%d passed\n", passed, total)
}
