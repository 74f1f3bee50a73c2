// pgx v4 through DocFusionDB: a scripted session (client 'pgx-v4').
//
// Connection URLs come from the environment variable DF_CONFIG, a JSON object:
//
//	url         the proxy without TLS (SCRAM, session pooling), as the upstream admin
//	tls_url     a proxy with TLS
//	tx_url      a proxy in transaction pooling mode (pool size 3)
//	direct_url  straight to Postgres (the oracle for differential checks)
//	suffix      unique suffix for the tables this run creates
//
// Prints `VERSION <text>` and one `RESULT <feature> PASS|FAIL [detail]` line per feature
// (test/support/compat.ts parses them). Exits 0 when it ran to the end, whatever the results;
// test/clients/go.test.ts asserts each result. Built in GOPATH mode against Debian's
// golang-github-jackc-pgx-v4-dev, without network.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
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

	"github.com/jackc/pgconn"
	"github.com/jackc/pgtype"
	"github.com/jackc/pgx/v4"
)

var cfg struct {
	URL       string `json:"url"`
	TLSURL    string `json:"tls_url"`
	TxURL     string `json:"tx_url"`
	DirectURL string `json:"direct_url"`
	Suffix    string `json:"suffix"`
}

var table string // prefix of every table this run creates

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

func ctxT(seconds int) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second)
}

func connect(url string) *pgx.Conn {
	ctx, cancel := ctxT(20)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	must(err, "connect")
	return conn
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := ctxT(5)
	defer cancel()
	_ = conn.Close(ctx)
}

func exec(conn *pgx.Conn, sql string, args ...interface{}) pgconn.CommandTag {
	ctx, cancel := ctxT(30)
	defer cancel()
	tag, err := conn.Exec(ctx, sql, args...)
	must(err, sql)
	return tag
}

// rowsOf runs a query and renders every row with %v, for comparisons.
func rowsOf(conn *pgx.Conn, sql string, args ...interface{}) []string {
	ctx, cancel := ctxT(30)
	defer cancel()
	rows, err := conn.Query(ctx, sql, args...)
	must(err, sql)
	defer rows.Close()
	var out []string
	for rows.Next() {
		values, err := rows.Values()
		must(err, "values")
		out = append(out, fmt.Sprintf("%v", values))
	}
	must(rows.Err(), sql)
	return out
}

func withURLParam(url, param string) string {
	if strings.Contains(url, "?") {
		return url + "&" + param
	}
	return url + "?" + param
}

// ---- features ------------------------------------------------------------------------------

func connectSSLMode(mode string) func() string {
	return func() string {
		conn := connect(withURLParam(cfg.URL, "sslmode="+mode))
		defer closeConn(conn)
		_, isTLS := conn.PgConn().Conn().(*tls.Conn)
		check(!isTLS, "a connection to a proxy without TLS uses TLS")
		var one int
		ctx, cancel := ctxT(10)
		defer cancel()
		must(conn.QueryRow(ctx, "SELECT 1").Scan(&one), "SELECT 1")
		check(one == 1, "SELECT 1 returned %d", one)
		if mode == "prefer" {
			return "SSLRequest answered 'N', pgx reconnected without TLS"
		}
		return "no SSLRequest"
	}
}

func connectTLS() string {
	for _, mode := range []string{"require", "prefer"} {
		conn := connect(withURLParam(cfg.TLSURL, "sslmode="+mode))
		state, isTLS := conn.PgConn().Conn().(*tls.Conn)
		check(isTLS, "sslmode=%s against the TLS proxy did not use TLS", mode)
		var ssl bool
		ctx, cancel := ctxT(10)
		must(conn.QueryRow(ctx, "SELECT $1::int = 7", 7).Scan(&ssl), "query over TLS")
		cancel()
		check(ssl, "query over TLS returned false")
		version := state.ConnectionState().Version
		closeConn(conn)
		check(version >= tls.VersionTLS12, "TLS version %x", version)
	}
	return "sslmode=require and prefer use TLS"
}

var grafanaQueries = []string{
	// $__timeGroupAlias(ts, 1m) as date_trunc, $__timeFilter(ts) expanded.
	`SELECT date_trunc('minute', ts) AS "time", avg(value) AS "avg", count(*) AS n
	   FROM %[1]s_metrics
	  WHERE ts BETWEEN '2024-01-01T00:00:00Z'::timestamptz AND '2024-01-01T06:00:00Z'::timestamptz
	  GROUP BY 1 ORDER BY 1`,
	// $__timeGroupAlias(ts, 5m) as Grafana expands it, with a metric column.
	`SELECT floor(extract(epoch from ts)/300)*300 AS "time", host AS metric, max(value) AS value
	   FROM %[1]s_metrics
	  WHERE ts BETWEEN '2024-01-01T01:00:00Z'::timestamptz AND '2024-01-01T03:00:00Z'::timestamptz
	  GROUP BY 1, 2 ORDER BY 1, 2`,
	// Gap filling over a generate_series of timestamps.
	`SELECT g AS "time", count(m.ts) AS samples, coalesce(round(avg(m.value)::numeric, 6), 0) AS avg
	   FROM generate_series('2024-01-01T05:00:00Z'::timestamptz, '2024-01-01T09:00:00Z'::timestamptz, '10 minutes') g
	   LEFT JOIN %[1]s_metrics m ON m.ts >= g AND m.ts < g + interval '10 minutes'
	  GROUP BY g ORDER BY 1`,
	// $__time(ts) raw series.
	`SELECT ts AS "time", value, host FROM %[1]s_metrics
	  WHERE ts BETWEEN '2024-01-01T00:00:00Z'::timestamptz AND '2024-01-01T00:10:00Z'::timestamptz
	  ORDER BY 1, 3`,
	// $__unixEpochGroupAlias and a window function.
	`SELECT (extract(epoch from date_trunc('hour', ts)))::bigint AS "time",
	        sum(value) OVER (ORDER BY date_trunc('hour', ts)) AS running
	   FROM %[1]s_metrics WHERE host = 'host-1' AND extract(minute from ts) = 0 AND extract(second from ts) = 0
	  ORDER BY 1`,
	// Grafana's table picker.
	`SELECT quote_ident(table_name) AS table_name FROM information_schema.tables
	  WHERE table_schema IN (SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
	                           FROM generate_series(array_lower(string_to_array(current_setting('search_path'), ','), 1),
	                                                array_upper(string_to_array(current_setting('search_path'), ','), 1)) AS i,
	                                string_to_array(current_setting('search_path'), ',') s)
	    AND table_name = '%[1]s_metrics'`,
	// Grafana's column picker.
	`SELECT quote_ident(column_name) AS column, data_type FROM information_schema.columns
	  WHERE table_name = '%[1]s_metrics' ORDER BY ordinal_position`,
}

func grafanaTimeseries() string {
	conn := connect(cfg.URL)
	defer closeConn(conn)
	direct := connect(cfg.DirectURL)
	defer closeConn(direct)
	exec(conn, fmt.Sprintf(`CREATE TABLE %s_metrics (ts timestamptz NOT NULL, host text NOT NULL, value double precision)`, table))
	exec(conn, fmt.Sprintf(`INSERT INTO %s_metrics
	  SELECT ts, 'host-' || (i %% 3), round((sin(i / 10.0) * 100)::numeric, 3)
	    FROM generate_series('2024-01-01T00:00:00Z'::timestamptz, '2024-01-01T07:59:30Z'::timestamptz, '30 seconds')
	         WITH ORDINALITY AS g(ts, i)`, table))
	rows := 0
	for i, q := range grafanaQueries {
		sql := fmt.Sprintf(q, table)
		through := rowsOf(conn, sql)
		expected := rowsOf(direct, sql)
		check(len(expected) > 0, "query %d returned no rows directly", i+1)
		check(reflect.DeepEqual(through, expected), "query %d differs from Postgres: %d vs %d rows; first %q vs %q",
			i+1, len(through), len(expected), first(through), first(expected))
		rows += len(through)
	}
	// The same range with time.Time parameters (binary timestamptz), as a dashboard variable.
	from := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	sql := fmt.Sprintf(`SELECT date_trunc('minute', ts) AS "time", count(*) FROM %s_metrics
	  WHERE ts >= $1 AND ts < $2 GROUP BY 1 ORDER BY 1`, table)
	byParams := rowsOf(conn, sql, from, to)
	check(len(byParams) == 60, "a one-hour range by parameters gave %d minutes", len(byParams))
	check(reflect.DeepEqual(byParams, rowsOf(direct, sql, from, to)), "parameterised range differs from Postgres")
	exec(conn, fmt.Sprintf("DROP TABLE %s_metrics", table))
	return fmt.Sprintf("%d queries, %d rows identical to Postgres", len(grafanaQueries)+1, rows+len(byParams))
}

func first(rows []string) string {
	if len(rows) == 0 {
		return ""
	}
	return rows[0]
}

func paramTypes() string {
	conn := connect(cfg.URL)
	defer closeConn(conn)
	return roundTripTypes(conn)
}

func roundTripTypes(conn *pgx.Conn) string {
	ctx, cancel := ctxT(30)
	defer cancel()
	ts := time.Date(2024, 3, 1, 12, 30, 45, 123456000, time.UTC)
	date := time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)
	id := [16]byte{0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11}
	doc := map[string]interface{}{"a": []interface{}{1.0, 2.0, map[string]interface{}{"b": nil}}, "ü": "✓"}
	blob := []byte{0, 1, 0xfe, 0xff, 'x', 0}
	text := "héllo wörld ✓ 日本語 🎉 'q' \"dq\" \\"
	var numIn pgtype.Numeric
	must(numIn.Set("12345678901234567890.123456789"), "numeric")

	var (
		i2      int16
		i4      int32
		i8      int64
		minI8   int64
		num     pgtype.Numeric
		f8      float64
		s       string
		b       []byte
		flag    bool
		d       time.Time
		tstz    time.Time
		u       [16]byte
		j       map[string]interface{}
		ints    []int32
		strs    []string
		null    *int32
		iv      time.Duration
		numText string
	)
	err := conn.QueryRow(ctx,
		`SELECT $1::int2, $2::int4, $3::int8, $4::int8, $5::numeric, $6::float8, $7::text, $8::bytea, $9::bool,
		        $10::date, $11::timestamptz, $12::uuid, $13::jsonb, $14::int4[], $15::text[], $16::int4, $17::interval,
		        $5::numeric::text`,
		int16(-32768), int32(42), int64(1)<<40+7, int64(-1)<<63, &numIn, 3.25, text, blob, true,
		date, ts, id, doc, []int32{1, 2, 3}, []string{"a", "b c", "ü"}, nil, 90*time.Minute,
	).Scan(&i2, &i4, &i8, &minI8, &num, &f8, &s, &b, &flag, &d, &tstz, &u, &j, &ints, &strs, &null, &iv, &numText)
	must(err, "typed round trip")
	check(i2 == -32768 && i4 == 42 && i8 == int64(1)<<40+7 && minI8 == int64(-1)<<63, "integers: %d %d %d %d", i2, i4, i8, minI8)
	check(numText == "12345678901234567890.123456789", "numeric text %q", numText)
	check(num.Exp == -9 && num.Int.String() == "12345678901234567890123456789", "numeric %v e%d", num.Int, num.Exp)
	check(f8 == 3.25, "float8 %v", f8)
	check(s == text, "text %q", s)
	check(bytes.Equal(b, blob), "bytea %x", b)
	check(flag, "bool")
	check(d.Equal(date), "date %v", d)
	check(tstz.Equal(ts), "timestamptz %v", tstz)
	check(u == id, "uuid %x", u)
	check(reflect.DeepEqual(j, doc), "jsonb %v", j)
	check(reflect.DeepEqual(ints, []int32{1, 2, 3}), "int4[] %v", ints)
	check(reflect.DeepEqual(strs, []string{"a", "b c", "ü"}), "text[] %v", strs)
	check(null == nil, "NULL %v", null)
	check(iv == 90*time.Minute, "interval %v", iv)
	// Result formats: pgx asks per column (a format-code list of length N): binary where it has
	// a binary decoder, text for text.
	rows, err := conn.Query(ctx, "SELECT 1::int4, 'x'::text, now()")
	must(err, "formats query")
	formats := []int16{}
	for _, fd := range rows.FieldDescriptions() {
		formats = append(formats, fd.Format)
	}
	rows.Close()
	check(reflect.DeepEqual(formats, []int16{1, 0, 1}), "result formats %v", formats)
	return "int2, int4, int8, numeric, float8, text, bytea, bool, date, timestamptz, uuid, jsonb, int4[], text[], NULL, interval (binary formats)"
}

func statementCache() string {
	conn := connect(cfg.URL)
	defer closeConn(conn)
	ctx, cancel := ctxT(30)
	defer cancel()
	for i := 0; i < 20; i++ {
		var got int64
		var label string
		must(conn.QueryRow(ctx, "SELECT $1::int8 * 2, $2::text", int64(i), fmt.Sprint("v", i)).Scan(&got, &label), "cached query")
		check(got == int64(i)*2 && label == fmt.Sprint("v", i), "cached query returned %d %q", got, label)
	}
	var cached int
	must(conn.QueryRow(ctx, "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'lrupsc%'").Scan(&cached), "pg_prepared_statements")
	check(cached >= 2, "%d pgx statements on the server", cached)
	// An explicitly prepared statement, and the describe cache mode.
	_, err := conn.Prepare(ctx, "df_named", "SELECT $1::text || '!'")
	must(err, "prepare")
	var out string
	must(conn.QueryRow(ctx, "df_named", "hi").Scan(&out), "named statement")
	check(out == "hi!", "named statement returned %q", out)
	must(conn.Deallocate(ctx, "df_named"), "deallocate")
	describe := connect(withURLParam(cfg.URL, "statement_cache_mode=describe"))
	defer closeConn(describe)
	for i := 0; i < 5; i++ {
		must(describe.QueryRow(ctx, "SELECT $1::int4 + 1", int32(i)).Scan(&cached), "describe-mode query")
		check(cached == i+1, "describe mode returned %d", cached)
	}
	simpleConfig, err := pgx.ParseConfig(cfg.URL)
	must(err, "parse config")
	simpleConfig.PreferSimpleProtocol = true
	simple, err := pgx.ConnectConfig(ctx, simpleConfig)
	must(err, "connect with the simple protocol")
	defer closeConn(simple)
	must(simple.QueryRow(ctx, "SELECT $1::text || $2::int4", "n", int32(5)).Scan(&out), "simple protocol")
	check(out == "n5", "simple protocol returned %q", out)
	return "LRU prepare cache, named statement, describe mode, simple protocol"
}

func batch() string {
	conn := connect(cfg.URL)
	defer closeConn(conn)
	return runBatch(conn, "batch")
}

func runBatch(conn *pgx.Conn, name string) string {
	ctx, cancel := ctxT(30)
	defer cancel()
	t := fmt.Sprintf("%s_%s", table, name)
	exec(conn, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, note text)", t))
	b := &pgx.Batch{}
	for i := 0; i < 10; i++ {
		b.Queue(fmt.Sprintf("INSERT INTO %s VALUES ($1, $2)", t), i, fmt.Sprint("note ", i))
	}
	b.Queue(fmt.Sprintf("SELECT count(*) FROM %s", t))
	b.Queue(fmt.Sprintf("SELECT id, note FROM %s WHERE id >= $1 ORDER BY id", t), 8)
	br := conn.SendBatch(ctx, b)
	for i := 0; i < 10; i++ {
		tag, err := br.Exec()
		must(err, "batched insert")
		check(tag.RowsAffected() == 1, "batched insert affected %d", tag.RowsAffected())
	}
	var count int
	must(br.QueryRow().Scan(&count), "batched count")
	check(count == 10, "batched count %d", count)
	rows, err := br.Query()
	must(err, "batched query")
	var ids []int
	for rows.Next() {
		var id int
		var note string
		must(rows.Scan(&id, &note), "scan")
		ids = append(ids, id)
	}
	rows.Close()
	check(reflect.DeepEqual(ids, []int{8, 9}), "batched query rows %v", ids)
	must(br.Close(), "close batch")
	// An error mid-batch: the batch is one implicit transaction, so nothing of it stays.
	b = &pgx.Batch{}
	b.Queue(fmt.Sprintf("INSERT INTO %s VALUES (100, 'x')", t))
	b.Queue("SELECT 1/0")
	b.Queue(fmt.Sprintf("INSERT INTO %s VALUES (101, 'y')", t))
	br = conn.SendBatch(ctx, b)
	_, err = br.Exec()
	must(err, "first statement of the failing batch")
	_, err = br.Exec()
	var pgErr *pgconn.PgError
	check(errors.As(err, &pgErr) && pgErr.Code == "22012", "mid-batch error: %v", err)
	_ = br.Close()
	must(conn.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s", t)).Scan(&count), "count after the failed batch")
	check(count == 10, "rows after the failed batch: %d", count)
	exec(conn, fmt.Sprintf("DROP TABLE %s", t))
	return "12 queued statements, error mid-batch rolled back"
}

func transactionRollback() string {
	conn := connect(cfg.URL)
	defer closeConn(conn)
	return runTransactions(conn, "tx")
}

func runTransactions(conn *pgx.Conn, name string) string {
	ctx, cancel := ctxT(30)
	defer cancel()
	t := fmt.Sprintf("%s_%s", table, name)
	exec(conn, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY)", t))
	tx, err := conn.Begin(ctx)
	must(err, "begin")
	_, err = tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES (1)", t))
	must(err, "insert")
	must(tx.Commit(ctx), "commit")
	tx, err = conn.Begin(ctx)
	must(err, "begin")
	_, err = tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES (2)", t))
	must(err, "insert")
	// A nested transaction is a savepoint.
	nested, err := tx.Begin(ctx)
	must(err, "savepoint")
	_, err = nested.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES (3)", t))
	must(err, "insert in savepoint")
	must(nested.Rollback(ctx), "rollback to savepoint")
	var n int
	must(tx.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s", t)).Scan(&n), "count")
	check(n == 2, "rows inside the transaction: %d", n)
	must(tx.Rollback(ctx), "rollback")
	err = conn.BeginFunc(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES (4)", t))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES (1)", t))
		return err
	})
	var pgErr *pgconn.PgError
	check(errors.As(err, &pgErr) && pgErr.Code == "23505", "duplicate key in BeginFunc: %v", err)
	var ids []int32
	must(conn.QueryRow(ctx, fmt.Sprintf("SELECT array_agg(id ORDER BY id) FROM %s", t)).Scan(&ids), "rows")
	check(reflect.DeepEqual(ids, []int32{1}), "rows after rollbacks: %v", ids)
	exec(conn, fmt.Sprintf("DROP TABLE %s", t))
	return "commit, rollback, savepoint, BeginFunc rollback on error"
}

func copyFrom() string {
	conn := connect(cfg.URL)
	defer closeConn(conn)
	return runCopy(conn, "copy")
}

func runCopy(conn *pgx.Conn, name string) string {
	ctx, cancel := ctxT(60)
	defer cancel()
	t := fmt.Sprintf("%s_%s", table, name)
	exec(conn, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, note text, v float8, at timestamptz)", t))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([][]interface{}, 10000)
	for i := range rows {
		var v interface{} = float64(i) / 8
		if i%7 == 0 {
			v = nil
		}
		rows[i] = []interface{}{int32(i), fmt.Sprintf("row %d ✓ tab\there", i), v, base.Add(time.Duration(i) * time.Second)}
	}
	n, err := conn.CopyFrom(ctx, pgx.Identifier{t}, []string{"id", "note", "v", "at"}, pgx.CopyFromRows(rows))
	must(err, "CopyFrom")
	check(n == 10000, "CopyFrom copied %d", n)
	got, err := conn.Query(ctx, fmt.Sprintf("SELECT id, note, v, at FROM %s ORDER BY id", t))
	must(err, "read back")
	i := 0
	for got.Next() {
		values, err := got.Values()
		must(err, "values")
		want := rows[i]
		check(values[0] == want[0] && values[1] == want[1] && values[2] == want[2] && values[3].(time.Time).Equal(want[3].(time.Time)),
			"row %d: %v != %v", i, values, want)
		i++
	}
	got.Close()
	check(i == 10000, "read back %d rows", i)
	var out bytes.Buffer
	tag, err := conn.PgConn().CopyTo(ctx, &out, fmt.Sprintf("COPY (SELECT id, note FROM %s WHERE id < 3 ORDER BY id) TO STDOUT", t))
	must(err, "CopyTo")
	check(tag.RowsAffected() == 3, "CopyTo tag %s", tag)
	check(out.String() == "0\trow 0 ✓ tab\\there\n1\trow 1 ✓ tab\\there\n2\trow 2 ✓ tab\\there\n", "CopyTo output %q", out.String())
	// A failing CopyFrom (duplicate key) leaves the table as it was and the connection usable.
	_, err = conn.CopyFrom(ctx, pgx.Identifier{t}, []string{"id", "note", "v", "at"},
		pgx.CopyFromRows([][]interface{}{{int32(10001), "new", nil, nil}, {int32(1), "dup", nil, nil}}))
	var pgErr *pgconn.PgError
	check(errors.As(err, &pgErr) && pgErr.Code == "23505", "duplicate in CopyFrom: %v", err)
	var count int
	must(conn.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s", t)).Scan(&count), "count")
	check(count == 10000, "rows after the failed copy: %d", count)
	exec(conn, fmt.Sprintf("DROP TABLE %s", t))
	return "10000 rows (binary COPY) identical on read back, CopyTo, failing copy"
}

func cancelContext() string {
	app := "df-pgx-cancel-" + cfg.Suffix
	conn := connect(withURLParam(cfg.URL, "application_name="+app))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	started := time.Now()
	_, err := conn.Exec(ctx, "SELECT pg_sleep(10)")
	elapsed := time.Since(started)
	check(err != nil, "pg_sleep(10) returned no error")
	check(elapsed < 3*time.Second, "the query returned after %v", elapsed)
	check(pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded), "error is not a timeout: %v", err)
	closeConn(conn) // pgx v4 closes a connection whose query was interrupted
	// pgx sent a CancelRequest: the statement must stop running upstream, not sleep on.
	direct := connect(cfg.DirectURL)
	defer closeConn(direct)
	deadline := time.Now().Add(4 * time.Second)
	var running int
	for {
		qctx, qcancel := ctxT(5)
		must(direct.QueryRow(qctx, "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(10)' AND state = 'active'").Scan(&running), "pg_stat_activity")
		qcancel()
		if running == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	check(running == 0, "pg_sleep(10) still runs upstream %.1fs after the client's cancel", time.Since(started).Seconds())
	// And a new connection works.
	again := connect(cfg.URL)
	defer closeConn(again)
	var ok bool
	qctx, qcancel := ctxT(5)
	defer qcancel()
	must(again.QueryRow(qctx, "SELECT true").Scan(&ok), "query after cancel")
	return fmt.Sprintf("error after %.2fs (%s), statement cancelled upstream", elapsed.Seconds(), oneLine(err.Error()))
}

func errorRecovery() string {
	conn := connect(cfg.URL)
	defer closeConn(conn)
	ctx, cancel := ctxT(30)
	defer cancel()
	var pgErr *pgconn.PgError
	_, err := conn.Exec(ctx, "SELECT 1/0")
	check(errors.As(err, &pgErr) && pgErr.Code == "22012" && pgErr.Severity == "ERROR", "division by zero: %v", err)
	var n int
	must(conn.QueryRow(ctx, "SELECT $1::int", 5).Scan(&n), "query after an error")
	_, err = conn.Exec(ctx, "SELEKT")
	check(errors.As(err, &pgErr) && pgErr.Code == "42601" && pgErr.Position == 1, "syntax error: %v", err)
	t := table + "_err"
	exec(conn, fmt.Sprintf("CREATE TABLE %s (id int CONSTRAINT %s_pk PRIMARY KEY)", t, t))
	exec(conn, fmt.Sprintf("INSERT INTO %s VALUES (1)", t))
	_, err = conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES ($1)", t), 1)
	check(errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == t+"_pk" && pgErr.TableName == t,
		"unique violation: %v (%+v)", err, pgErr)
	tx, err := conn.Begin(ctx)
	must(err, "begin")
	_, err = tx.Exec(ctx, "SELECT * FROM no_such_table")
	check(errors.As(err, &pgErr) && pgErr.Code == "42P01", "undefined table: %v", err)
	_, err = tx.Exec(ctx, "SELECT 1")
	check(errors.As(err, &pgErr) && pgErr.Code == "25P02", "statement in an aborted transaction: %v", err)
	must(tx.Rollback(ctx), "rollback")
	// A parameter the server cannot take: an error from Bind.
	_, err = conn.Exec(ctx, "SELECT $1::int", "not a number")
	check(errors.As(err, &pgErr) && pgErr.Code == "22P02", "bad parameter: %v", err)
	must(conn.QueryRow(ctx, "SELECT $1::int + 1", 6).Scan(&n), "query after recovery")
	check(n == 7, "query after recovery returned %d", n)
	exec(conn, fmt.Sprintf("DROP TABLE %s", t))
	return "22012, 42601, 23505 with constraint, 42P01, 25P02, 22P02"
}

func listenNotify() string {
	listener := connect(cfg.URL)
	defer closeConn(listener)
	notifier := connect(cfg.URL)
	defer closeConn(notifier)
	channel := table + "_chan"
	exec(listener, "LISTEN "+channel)
	exec(notifier, fmt.Sprintf("NOTIFY %s, 'hello ✓'", channel))
	ctx, cancel := ctxT(10)
	defer cancel()
	n, err := listener.WaitForNotification(ctx)
	must(err, "WaitForNotification")
	check(n.Channel == channel && n.Payload == "hello ✓", "notification %+v", n)
	go func() {
		time.Sleep(300 * time.Millisecond)
		exec(notifier, "SELECT pg_notify($1, $2)", channel, "while waiting")
	}()
	n, err = listener.WaitForNotification(ctx)
	must(err, "WaitForNotification while waiting")
	check(n.Payload == "while waiting", "second notification %+v", n)
	short, shortCancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer shortCancel()
	exec(listener, "UNLISTEN "+channel)
	exec(notifier, fmt.Sprintf("NOTIFY %s, 'ignored'", channel))
	_, err = listener.WaitForNotification(short)
	check(err != nil, "a notification arrived after UNLISTEN")
	return "NOTIFY, pg_notify while waiting, UNLISTEN"
}

func txpool() string {
	conn := connect(cfg.TxURL)
	defer closeConn(conn)
	roundTripTypes(conn)
	statements := 0
	ctx, cancel := ctxT(30)
	defer cancel()
	for i := 0; i < 30; i++ {
		var got int64
		must(conn.QueryRow(ctx, fmt.Sprintf("SELECT $1::int8 + %d", i%4), int64(i)).Scan(&got), "cached statement")
		check(got == int64(i+i%4), "cached statement returned %d", got)
		statements++
	}
	runBatch(conn, "txbatch")
	runTransactions(conn, "txtx")
	runCopy(conn, "txcopy")
	return fmt.Sprintf("types, %d cached statements, batch, transactions, CopyFrom", statements)
}

func txpoolConcurrency() string {
	setup := connect(cfg.TxURL)
	defer closeConn(setup)
	t := table + "_conc"
	exec(setup, fmt.Sprintf("CREATE TABLE %s (client int, n int, PRIMARY KEY (client, n))", t))
	var mu sync.Mutex
	var failures []string
	pids := map[uint32]bool{}
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func(client int) {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("client %d: %v", client, r))
					mu.Unlock()
				}
			}()
			conn := connect(cfg.TxURL)
			defer closeConn(conn)
			ctx, cancel := ctxT(60)
			defer cancel()
			committed := 0
			for n := 0; n < 12; n++ {
				tx, err := conn.Begin(ctx)
				must(err, "begin")
				_, err = tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES ($1, $2)", t), client, n)
				must(err, "insert")
				var seen int
				var pid uint32
				must(tx.QueryRow(ctx, fmt.Sprintf("SELECT count(*), pg_backend_pid() FROM %s WHERE client = $1", t), client).Scan(&seen, &pid), "count")
				check(seen == committed+1, "client %d saw %d rows, expected %d", client, seen, committed+1)
				if n%4 == 3 {
					must(tx.Rollback(ctx), "rollback")
				} else {
					must(tx.Commit(ctx), "commit")
					committed++
				}
				mu.Lock()
				pids[pid] = true
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	exec(setup, fmt.Sprintf("DROP TABLE %s", t))
	check(len(failures) == 0, "%s", strings.Join(failures, "; "))
	check(len(pids) <= 3, "%d upstream backends served a pool of size 3", len(pids))
	return fmt.Sprintf("8 clients x 12 transactions over %d upstream connections", len(pids))
}

func main() {
	raw := os.Getenv("DF_CONFIG")
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "DF_CONFIG:", err)
		os.Exit(2)
	}
	table = "df_pgx_" + cfg.Suffix
	// GOPATH builds carry no module versions: the test passes the Debian package's (DF_VERSION).
	fmt.Printf("VERSION pgx %s (%s)\n", os.Getenv("DF_VERSION"), runtime.Version())
	plan := []struct {
		name string
		fn   func() string
	}{
		{"connect-sslmode-prefer", connectSSLMode("prefer")},
		{"connect-sslmode-disable", connectSSLMode("disable")},
		{"connect-tls", connectTLS},
		{"grafana-timeseries", grafanaTimeseries},
		{"param-types", paramTypes},
		{"statement-cache", statementCache},
		{"batch", batch},
		{"transaction-rollback", transactionRollback},
		{"copy-from", copyFrom},
		{"cancel-context", cancelContext},
		{"error-recovery", errorRecovery},
		{"listen-notify", listenNotify},
		{"txpool", txpool},
		{"txpool-concurrency", txpoolConcurrency},
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
	fmt.Fprintf(os.Stderr, "# pgx: %d/%d passed\n", passed, total)
}
