#!/usr/bin/python3
"""psycopg2 and psycopg 3 through DocFusionDB: a scripted session per driver.

Usage: /usr/bin/python3 docfusion_psycopg.py psycopg2|psycopg3
Connection strings come from the environment variable DF_CONFIG, a JSON object:
  dsn           the proxy (SCRAM, session pooling), as the upstream admin
  direct_dsn    straight to Postgres (the oracle for differential checks)
  tx_dsn        a proxy in transaction pooling mode (pool size 3)
  scram_dsn     the proxy, as a SCRAM-stored role
  md5_dsn       a proxy with auth.method md5, as an md5-stored role
  password_dsn  a proxy with auth.method password (cleartext), as a SCRAM-stored role
  suffix        unique suffix for the tables and schemas this run creates

Prints `VERSION <text>` and one `RESULT <feature> PASS|FAIL [detail]` line per feature
(test/support/compat.ts parses them). Exits 0 when the script itself ran to the end, whatever
the results; the vitest file asserts each result.
"""

import datetime
import io
import json
import os
import select
import sys
import threading
import time
import traceback
import uuid
from decimal import Decimal

DRIVER = sys.argv[1] if len(sys.argv) > 1 else ""
if DRIVER not in ("psycopg2", "psycopg3"):
    print("usage: docfusion_psycopg.py psycopg2|psycopg3", file=sys.stderr)
    sys.exit(2)

CFG = json.loads(os.environ["DF_CONFIG"])
SUFFIX = CFG["suffix"]
T = f"df_{DRIVER}_{SUFFIX}"  # prefix of every table this run creates

if DRIVER == "psycopg2":
    import psycopg2
    import psycopg2.errors
    import psycopg2.extensions
    import psycopg2.extras

    psycopg2.extras.register_uuid()
    Error = psycopg2.Error
    errors = psycopg2.errors

    def connect(dsn, **kwargs):
        return psycopg2.connect(dsn, **kwargs)

    def jsonb(value):
        return psycopg2.extras.Json(value)

    print(f"VERSION psycopg2 {psycopg2.__version__.split(' ')[0]} (libpq {psycopg2.extensions.libpq_version()})")
else:
    import psycopg
    import psycopg.errors
    from psycopg.types.json import Jsonb

    Error = psycopg.Error
    errors = psycopg.errors

    def connect(dsn, **kwargs):
        return psycopg.connect(dsn, **kwargs)

    def jsonb(value):
        return Jsonb(value)

    print(f"VERSION psycopg {psycopg.__version__} ({psycopg.pq.__impl__} implementation, libpq {psycopg.pq.version()})")
sys.stdout.flush()


class Check(Exception):
    """A feature's observable behaviour differed from what Postgres does."""


def expect(actual, expected, what):
    if actual != expected:
        raise Check(f"{what}: expected {expected!r}, got {actual!r}")


def one_line(text):
    return " ".join(str(text).split())


RESULTS = []


def run(feature, fn):
    started = time.monotonic()
    try:
        detail = fn()
        line = f"RESULT {feature} PASS"
        if detail:
            line += f" {one_line(detail)}"
    except Exception as exc:  # every failure becomes a FAIL line naming the feature
        traceback.print_exc(file=sys.stderr)
        line = f"RESULT {feature} FAIL {type(exc).__name__}: {one_line(exc)}"
    print(f"{line}", flush=True)
    print(f"# {feature} took {time.monotonic() - started:.2f}s", file=sys.stderr, flush=True)
    RESULTS.append(line)


def query_all(conn, sql, params=None):
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        return cur.fetchall()
    finally:
        cur.close()


def autocommit_conn(dsn=None, **kwargs):
    conn = connect(dsn or CFG["dsn"], **kwargs)
    conn.autocommit = True
    return conn


# ---- values of many types ----------------------------------------------------------------------

UTC = datetime.timezone.utc
SAMPLE = [
    ("int4", 42),
    ("int4", -2147483648),
    ("int8", 2**40 + 7),
    ("int8", -(2**63)),
    ("numeric", Decimal("12345678901234567890.123456789")),
    ("numeric", Decimal("-0.000001")),
    ("float8", 3.25),
    ("float8", float("inf")),
    ("text", "héllo wörld ✓ 日本語 🎉 'quoted' \"dq\" \\ back"),
    ("text", ""),
    ("bytea", b"\x00\x01\xfe\xffbinary\x00"),
    ("bool", True),
    ("bool", False),
    ("date", datetime.date(2024, 2, 29)),
    ("timestamptz", datetime.datetime(2024, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)),
    ("uuid", uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
    ("jsonb", {"a": [1, 2, {"b": None}], "ü": "✓", "n": 1.5}),
    ("int4[]", [1, 2, 3]),
    ("text[]", ["a", "b c", None, "ü"]),
    ("int4", None),
]


def adapt_param(typ, value):
    return jsonb(value) if typ == "jsonb" and value is not None else value


def normalise(value):
    """Driver-specific result values to comparable Python values."""
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def check_sample_row(row, what):
    expect(len(row), len(SAMPLE), f"{what}: column count")
    for (typ, value), got in zip(SAMPLE, row):
        expect(normalise(got), value, f"{what}: {typ} value")


def sample_select():
    # CAST, not `%s::int8`: psycopg2 interpolates client-side, and `-9223372036854775808::int8`
    # parses as -(9223372036854775808::int8), which is out of range.
    return "SELECT " + ", ".join(f"CAST(%s AS {typ})" for typ, _ in SAMPLE)


def sample_params():
    return [adapt_param(typ, value) for typ, value in SAMPLE]


# ---- features common to both drivers ------------------------------------------------------------


def login(dsn_key, expected_user_key):
    def fn():
        conn = connect(CFG[dsn_key])
        try:
            user = query_all(conn, "SELECT current_user")[0][0]
            expect(user, CFG[expected_user_key], "current_user")
            return f"as {user}"
        finally:
            conn.close()

    return fn


def wrong_password():
    dsn = CFG["scram_dsn"] + " password=definitely-wrong"
    try:
        connect(dsn).close()
    except Error as exc:
        code = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
        message = str(exc)
        if "password authentication failed" not in message:
            raise Check(f"unexpected error: {message}") from exc
        return f"refused ({code or 'no sqlstate'}): {one_line(message)[:80]}"
    raise Check("login with a wrong password succeeded")


def simple_queries():
    conn = autocommit_conn()
    try:
        rows = query_all(conn, "SELECT 1 AS one, 'two'::text AS two, NULL::int AS three")
        expect(rows, [(1, "two", None)], "literal row")
        rows = query_all(conn, "SELECT g, g * 2 FROM generate_series(1, 1000) g")
        expect(len(rows), 1000, "generate_series row count")
        expect(rows[999], (1000, 2000), "last row")
        cur = conn.cursor()
        cur.execute(f"CREATE TABLE {T}_simple (id int PRIMARY KEY, note text)")
        cur.execute(f"INSERT INTO {T}_simple VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        expect(cur.rowcount, 3, "INSERT rowcount")
        cur.execute(f"UPDATE {T}_simple SET note = note || '!' WHERE id >= 2")
        expect(cur.rowcount, 2, "UPDATE rowcount")
        cur.execute(f"DELETE FROM {T}_simple WHERE id = 1 RETURNING note")
        expect(cur.fetchall(), [("a",)], "DELETE RETURNING")
        cur.execute(f"SELECT id, note FROM {T}_simple ORDER BY id")
        expect(cur.fetchall(), [(2, "b!"), (3, "c!")], "table contents")
        expect([d[0] for d in cur.description], ["id", "note"], "column names")
        cur.execute(f"DROP TABLE {T}_simple")
        cur.close()
    finally:
        conn.close()


def param_types():
    conn = autocommit_conn()
    try:
        cur = conn.cursor()
        cur.execute(sample_select(), sample_params())
        check_sample_row(cur.fetchone(), "SELECT params")
        cols = ", ".join(f"c{i} {typ}" for i, (typ, _) in enumerate(SAMPLE))
        cur.execute(f"CREATE TABLE {T}_types ({cols})")
        placeholders = ", ".join("%s" for _ in SAMPLE)
        cur.execute(f"INSERT INTO {T}_types VALUES ({placeholders})", sample_params())
        cur.execute(f"SELECT * FROM {T}_types")
        check_sample_row(cur.fetchone(), "table round trip")
        # The same row in Postgres's text form, straight and through the proxy.
        text_cols = ", ".join(f"c{i}::text" for i in range(len(SAMPLE)))
        cur.execute(f"SELECT {text_cols} FROM {T}_types")
        through_proxy = cur.fetchone()
        direct = connect(CFG["direct_dsn"])
        try:
            expect(query_all(direct, f"SELECT {text_cols} FROM {T}_types")[0], through_proxy, "text forms")
        finally:
            direct.close()
        cur.execute(f"DROP TABLE {T}_types")
        cur.close()
        return f"{len(SAMPLE)} values"
    finally:
        conn.close()


def transaction_rollback():
    conn = connect(CFG["dsn"])
    try:
        cur = conn.cursor()
        cur.execute(f"CREATE TABLE {T}_tx (id int PRIMARY KEY)")
        conn.commit()
        cur.execute(f"INSERT INTO {T}_tx VALUES (1)")
        conn.commit()
        cur.execute(f"INSERT INTO {T}_tx VALUES (2)")
        cur.execute(f"SELECT count(*) FROM {T}_tx")
        expect(cur.fetchone()[0], 2, "count inside the transaction")
        conn.rollback()
        cur.execute(f"SELECT array_agg(id ORDER BY id) FROM {T}_tx")
        expect(cur.fetchone()[0], [1], "rows after rollback")
        conn.rollback()
        cur.execute(f"DROP TABLE {T}_tx")
        conn.commit()
    finally:
        conn.close()


def error_recovery():
    conn = connect(CFG["dsn"])
    try:
        cur = conn.cursor()
        try:
            cur.execute("SELECT 1/0")
            raise Check("division by zero did not fail")
        except errors.DivisionByZero as exc:
            pass
        try:
            cur.execute("SELECT 1")
            raise Check("a statement in an aborted transaction succeeded")
        except errors.InFailedSqlTransaction:
            pass
        conn.rollback()
        cur.execute("SELECT 2")
        expect(cur.fetchone()[0], 2, "after rollback")
        try:
            cur.execute("SELEKT nonsense")
            raise Check("a syntax error was accepted")
        except errors.SyntaxError:
            pass
        conn.rollback()
        cur.execute(f"CREATE TABLE {T}_err (id int CONSTRAINT {T}_err_pk PRIMARY KEY)")
        cur.execute(f"INSERT INTO {T}_err VALUES (1)")
        conn.commit()
        try:
            cur.execute(f"INSERT INTO {T}_err VALUES (%s)", [1])
            raise Check("a duplicate key was accepted")
        except errors.UniqueViolation as exc:
            diag = exc.diag
            expect(diag.sqlstate, "23505", "sqlstate")
            expect(diag.constraint_name, f"{T}_err_pk", "constraint_name")
            expect(diag.table_name, f"{T}_err", "table_name")
            expect(diag.severity, "ERROR", "severity")
        conn.rollback()
        try:
            cur.execute("SELECT * FROM no_such_table_anywhere")
            raise Check("an unknown table was accepted")
        except errors.UndefinedTable as exc:
            expect(exc.diag.sqlstate, "42P01", "sqlstate")
        conn.rollback()
        conn.autocommit = True
        try:
            cur.execute("SELECT 1/0")
        except errors.DivisionByZero:
            pass
        cur.execute("SELECT 3")
        expect(cur.fetchone()[0], 3, "autocommit after error")
        cur.execute(f"DROP TABLE {T}_err")
    finally:
        conn.close()


def cancel():
    conn = connect(CFG["dsn"])
    try:
        cur = conn.cursor()
        timer = threading.Timer(0.5, conn.cancel)
        started = time.monotonic()
        timer.start()
        try:
            cur.execute("SELECT pg_sleep(10)")
            raise Check("pg_sleep(10) was not cancelled")
        except errors.QueryCanceled:
            pass
        finally:
            timer.cancel()
        elapsed = time.monotonic() - started
        if elapsed > 5:
            raise Check(f"cancel took {elapsed:.1f}s")
        conn.rollback()
        cur.execute("SELECT 'still usable'")
        expect(cur.fetchone()[0], "still usable", "after cancel")
        return f"cancelled after {elapsed:.2f}s"
    finally:
        conn.close()


def metadata():
    conn = autocommit_conn()
    try:
        cur = conn.cursor()
        cur.execute(f"CREATE TABLE {T}_meta (id bigint PRIMARY KEY, name varchar(40) NOT NULL, doc jsonb, made timestamptz DEFAULT now())")
        cur.execute(
            "SELECT table_schema, table_type FROM information_schema.tables WHERE table_name = %s",
            [f"{T}_meta"],
        )
        expect(cur.fetchall(), [("public", "BASE TABLE")], "information_schema.tables")
        cur.execute(
            """SELECT column_name, data_type, is_nullable, character_maximum_length
                 FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position""",
            [f"{T}_meta"],
        )
        expect(
            cur.fetchall(),
            [
                ("id", "bigint", "NO", None),
                ("name", "character varying", "NO", 40),
                ("doc", "jsonb", "YES", None),
                ("made", "timestamp with time zone", "YES", None),
            ],
            "information_schema.columns",
        )
        cur.execute(
            """SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull
                 FROM pg_catalog.pg_attribute a
                 JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relname = %s AND n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
                ORDER BY a.attnum""",
            [f"{T}_meta"],
        )
        expect(
            cur.fetchall(),
            [
                ("id", "bigint", True),
                ("name", "character varying(40)", True),
                ("doc", "jsonb", False),
                ("made", "timestamp with time zone", False),
            ],
            "pg_attribute",
        )
        cur.execute(
            """SELECT a.attname FROM pg_catalog.pg_index i
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                WHERE i.indrelid = %s::regclass AND i.indisprimary""",
            [f"{T}_meta"],
        )
        expect(cur.fetchall(), [("id",)], "primary key from pg_index")
        cur.execute("SELECT oid, typname FROM pg_catalog.pg_type WHERE typname IN ('jsonb', 'uuid') ORDER BY typname")
        expect(cur.fetchall(), [(3802, "jsonb"), (2950, "uuid")], "pg_type")
        cur.execute("SELECT current_database(), current_schema(), current_setting('server_version_num')::int >= 120000")
        db, schema, recent = cur.fetchone()
        expect(schema, "public", "current_schema")
        expect(recent, True, "server_version_num")
        cur.execute(
            "SELECT count(*) > 0 FROM pg_catalog.pg_database WHERE datname = current_database()"
        )
        expect(cur.fetchone()[0], True, "pg_database")
        cur.execute(f"DROP TABLE {T}_meta")
        return f"database {db}"
    finally:
        conn.close()


def startup_options():
    """Startup parameters (options=-c …, application_name) reach Postgres: the settings seen
    through the proxy equal those of the same connection made straight to Postgres."""
    schema = f"{T}_schema"
    setup = autocommit_conn()
    app = f"{DRIVER}-docfusion-suite"
    options = f"-c search_path={schema},public -c statement_timeout=12345 -c TimeZone=Asia/Tokyo -c extra_float_digits=1"
    settings_sql = (
        "SELECT current_setting('search_path'), current_setting('statement_timeout'),"
        " current_setting('application_name'), current_setting('TimeZone'),"
        " current_setting('extra_float_digits'), current_setting('DateStyle')"
    )

    def observe(dsn):
        conn = connect(dsn, options=options, application_name=app)
        try:
            settings = query_all(conn, settings_sql)[0]
            found = query_all(conn, "SELECT what FROM only_here")
            conn.rollback()
            if DRIVER == "psycopg3":
                status = tuple(conn.info.parameter_status(k) for k in ("application_name", "TimeZone", "DateStyle"))
            else:
                status = tuple(conn.get_parameter_status(k) for k in ("application_name", "TimeZone", "DateStyle"))
            return settings, found, status
        finally:
            conn.close()

    try:
        setup.cursor().execute(f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.only_here AS SELECT 'found'::text AS what")
        through_proxy = observe(CFG["dsn"])
        expected = observe(CFG["direct_dsn"])
        expect(through_proxy, expected, "settings, search_path lookup and ParameterStatus (proxy vs direct)")
        expect(through_proxy[0][:4], (f"{schema},public", "12345ms", app, "Asia/Tokyo"), "settings")
        expect(through_proxy[1], [("found",)], "unqualified table found via search_path")
        return "search_path, statement_timeout, TimeZone, extra_float_digits, application_name"
    finally:
        setup.cursor().execute(f"DROP SCHEMA {schema} CASCADE")
        setup.close()


def listen_notify_psycopg2():
    listener = autocommit_conn()
    notifier = autocommit_conn()
    try:
        channel = f"{T}_chan"
        listener.cursor().execute(f"LISTEN {channel}")
        notifier.cursor().execute(f"NOTIFY {channel}, 'hello ✓'")
        notifier.cursor().execute("SELECT pg_notify(%s, %s)", [channel, "second"])
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 2 and time.monotonic() < deadline:
            if select.select([listener], [], [], 1) == ([], [], []):
                continue
            listener.poll()
            while listener.notifies:
                got.append(listener.notifies.pop(0))
        expect([(n.channel, n.payload) for n in got], [(channel, "hello ✓"), (channel, "second")], "notifications")
    finally:
        listener.close()
        notifier.close()


def listen_notify_psycopg3():
    listener = autocommit_conn()
    notifier = autocommit_conn()
    channel = f"{T}_chan"
    try:
        listener.execute(f"LISTEN {channel}")
        # 1: delivered to a handler when the listener next talks to the server.
        handled = []
        listener.add_notify_handler(lambda n: handled.append((n.channel, n.payload)))
        notifier.execute(f"NOTIFY {channel}, 'hello ✓'")
        deadline = time.monotonic() + 10
        while not handled and time.monotonic() < deadline:
            time.sleep(0.1)
            listener.execute("SELECT 1")
        expect(handled, [(channel, "hello ✓")], "handler notifications")
        # 2: the notifies() generator, while the listener waits on its socket.
        def send():
            notifier.execute("SELECT pg_notify(%s, %s)", [channel, "from the generator"])

        threading.Timer(0.3, send).start()
        # A watchdog ends the wait if nothing arrives (psycopg 3.1's notifies() has no timeout).
        watchdog = threading.Timer(10, lambda: autocommit_conn().execute(f"NOTIFY {channel}, 'watchdog'"))
        watchdog.start()
        try:
            gen = listener.notifies()
            first = next(gen)
            gen.close()
        finally:
            watchdog.cancel()
        expect((first.channel, first.payload), (channel, "from the generator"), "generator notification")
    finally:
        listener.close()
        notifier.close()


def copy_rows():
    return [(i, f"row {i} ✓ tab\there", None if i % 7 == 0 else Decimal(i) / 8) for i in range(10_000)]


def copy_psycopg2():
    conn = connect(CFG["dsn"])
    try:
        cur = conn.cursor()
        cur.execute(f"CREATE TABLE {T}_copy (id int PRIMARY KEY, note text, v numeric)")
        rows = copy_rows()
        data = io.StringIO()
        for i, note, v in rows:
            note_text = note.replace("\\", "\\\\").replace("\t", "\\t")
            data.write("%d\t%s\t%s\n" % (i, note_text, "\\N" if v is None else v))
        data.seek(0)
        cur.copy_expert(f"COPY {T}_copy (id, note, v) FROM STDIN", data)
        expect(cur.rowcount, 10_000, "COPY FROM rowcount")
        conn.commit()
        out = io.StringIO()
        cur.copy_expert(f"COPY (SELECT id, note, v FROM {T}_copy ORDER BY id) TO STDOUT", out)
        expect(out.getvalue(), data.getvalue(), "COPY TO output")
        cur.execute(f"SELECT id, note, v FROM {T}_copy ORDER BY id")
        expect(cur.fetchall(), rows, "rows after COPY")
        # CSV with a header, and an error inside COPY FROM.
        out = io.StringIO()
        cur.copy_expert(f"COPY (SELECT id, note FROM {T}_copy WHERE id < 3 ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)", out)
        expect(out.getvalue(), "id,note\n0,row 0 ✓ tab\there\n1,row 1 ✓ tab\there\n2,row 2 ✓ tab\there\n", "CSV output")
        conn.commit()
        try:
            cur.copy_expert(f"COPY {T}_copy (id, note, v) FROM STDIN", io.StringIO("1\tdup\t1\n"))
            raise Check("a duplicate key in COPY was accepted")
        except errors.UniqueViolation:
            conn.rollback()
        cur.execute(f"SELECT count(*) FROM {T}_copy")
        expect(cur.fetchone()[0], 10_000, "count after failed COPY")
        cur.execute(f"DROP TABLE {T}_copy")
        conn.commit()
        return "10000 rows in and out"
    finally:
        conn.close()


def copy_psycopg3():
    conn = connect(CFG["dsn"])
    try:
        cur = conn.cursor()
        cur.execute(f"CREATE TABLE {T}_copy (id int PRIMARY KEY, note text, v numeric)")
        rows = copy_rows()
        with cur.copy(f"COPY {T}_copy (id, note, v) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        expect(cur.rowcount, 10_000, "COPY FROM rowcount")
        conn.commit()
        with cur.copy(f"COPY (SELECT id, note, v FROM {T}_copy ORDER BY id) TO STDOUT") as copy:
            copy.set_types(["int4", "text", "numeric"])
            back = list(copy.rows())
        expect(back, rows, "COPY TO rows")
        conn.commit()
        # Binary COPY both ways.
        cur.execute(f"CREATE TABLE {T}_copy2 (LIKE {T}_copy)")
        with cur.copy(f"COPY {T}_copy2 (id, note, v) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "text", "numeric"])
            for row in rows:
                copy.write_row(row)
        with cur.copy(f"COPY (SELECT id, note, v FROM {T}_copy2 ORDER BY id) TO STDOUT (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "text", "numeric"])
            binary_back = list(copy.rows())
        expect(binary_back, rows, "binary COPY rows")
        conn.commit()
        try:
            with cur.copy(f"COPY {T}_copy (id, note, v) FROM STDIN") as copy:
                copy.write_row((1, "dup", 1))
            raise Check("a duplicate key in COPY was accepted")
        except errors.UniqueViolation:
            conn.rollback()
        cur.execute(f"SELECT count(*) FROM {T}_copy")
        expect(cur.fetchone()[0], 10_000, "count after failed COPY")
        cur.execute(f"DROP TABLE {T}_copy, {T}_copy2")
        conn.commit()
        return "10000 rows in and out, text and binary"
    finally:
        conn.close()


def named_cursor():
    conn = connect(CFG["dsn"])
    try:
        cur = conn.cursor(name=f"{T}_cur")
        if DRIVER == "psycopg2":
            cur.itersize = 100
        cur.execute("SELECT g, repeat('x', g % 5) AS pad FROM generate_series(1, 1000) g ORDER BY g")
        first = cur.fetchmany(10)
        expect(first[0], (1, "x"), "first row")
        expect([d[0] for d in cur.description], ["g", "pad"], "description")
        rest = list(cur)
        expect(len(first) + len(rest), 1000, "rows through the cursor")
        expect(rest[-1], (1000, ""), "last row")
        cur.close()
        # A scrollable cursor.
        cur = conn.cursor(name=f"{T}_scroll", scrollable=True)
        cur.execute("SELECT g FROM generate_series(1, 100) g")
        cur.scroll(50, mode="absolute")
        expect(cur.fetchone(), (51,), "row after absolute scroll")
        cur.scroll(-11)
        expect(cur.fetchone(), (41,), "row after relative scroll")
        cur.close()
        conn.commit()
        # A WITH HOLD cursor survives the commit.
        cur = conn.cursor(name=f"{T}_hold", withhold=True)
        cur.execute("SELECT g FROM generate_series(1, 30) g")
        conn.commit()
        expect(len(cur.fetchall()), 30, "rows from a WITH HOLD cursor after commit")
        cur.close()
        conn.commit()
        return "1000 rows, scroll, WITH HOLD"
    finally:
        conn.close()


def sql_prepare():
    conn = autocommit_conn()
    try:
        cur = conn.cursor()
        cur.execute("PREPARE df_stmt(int, text) AS SELECT $1 * 2, upper($2)")
        for i in range(5):
            cur.execute("EXECUTE df_stmt(%s, %s)", [i, f"v{i}"])
            expect(cur.fetchone(), (i * 2, f"V{i}"), "EXECUTE result")
        cur.execute("SELECT name FROM pg_prepared_statements WHERE name = 'df_stmt'")
        expect(cur.fetchall(), [("df_stmt",)], "pg_prepared_statements")
        cur.execute("DEALLOCATE df_stmt")
        return "PREPARE/EXECUTE/DEALLOCATE (psycopg2 has no protocol-level prepare)"
    finally:
        conn.close()


def savepoint_psycopg2():
    conn = connect(CFG["dsn"])
    try:
        cur = conn.cursor()
        cur.execute(f"CREATE TABLE {T}_sp (id int PRIMARY KEY)")
        cur.execute(f"INSERT INTO {T}_sp VALUES (1)")
        cur.execute("SAVEPOINT a")
        cur.execute(f"INSERT INTO {T}_sp VALUES (2)")
        try:
            cur.execute(f"INSERT INTO {T}_sp VALUES (1)")
        except errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT a")
        cur.execute(f"INSERT INTO {T}_sp VALUES (3)")
        cur.execute("RELEASE SAVEPOINT a")
        conn.commit()
        cur.execute(f"SELECT array_agg(id ORDER BY id) FROM {T}_sp")
        expect(cur.fetchone()[0], [1, 3], "rows after savepoint rollback")
        cur.execute(f"DROP TABLE {T}_sp")
        conn.commit()
    finally:
        conn.close()


def savepoint_psycopg3():
    conn = connect(CFG["dsn"], autocommit=True)
    try:
        conn.execute(f"CREATE TABLE {T}_sp (id int PRIMARY KEY)")
        with conn.transaction():
            conn.execute(f"INSERT INTO {T}_sp VALUES (1)")
            try:
                with conn.transaction():
                    conn.execute(f"INSERT INTO {T}_sp VALUES (2)")
                    conn.execute(f"INSERT INTO {T}_sp VALUES (1)")
            except errors.UniqueViolation:
                pass
            with conn.transaction():
                conn.execute(f"INSERT INTO {T}_sp VALUES (3)")
                with conn.transaction() as inner:
                    conn.execute(f"INSERT INTO {T}_sp VALUES (4)")
                    raise psycopg.Rollback(inner)
        rows = conn.execute(f"SELECT array_agg(id ORDER BY id) FROM {T}_sp").fetchone()[0]
        expect(rows, [1, 3], "rows after nested transactions")
        conn.execute(f"DROP TABLE {T}_sp")
        return "nested conn.transaction() blocks"
    finally:
        conn.close()


# ---- psycopg 3 only -----------------------------------------------------------------------------


def binary_results():
    conn = autocommit_conn()
    try:
        cur = conn.cursor(binary=True)
        cur.execute(sample_select(), sample_params())
        check_sample_row(cur.fetchone(), "binary SELECT")
        expect(cur.pgresult.fformat(0), 1, "result format code")
        # Binary parameters too (%b), and a table read in binary.
        placeholders = ", ".join(f"%b::{typ}" for typ, _ in SAMPLE)
        cur.execute("SELECT " + placeholders, sample_params())
        check_sample_row(cur.fetchone(), "binary params")
        cur.execute("SELECT g, g::text, g::numeric / 3 FROM generate_series(1, 2000) g")
        rows = cur.fetchall()
        expect(len(rows), 2000, "binary rows")
        expect(rows[1][:2], (2, "2"), "binary row")
        expect(str(rows[2][2])[:6], "1.0000", "binary numeric")
        return "text and binary formats in one session"
    finally:
        conn.close()


def prepared_statement_workout(conn, tag):
    """Named statements as psycopg uses them: prepare=True, the automatic threshold, eviction past
    prepared_max (psycopg sends `DEALLOCATE _pg3_N`), and ROLLBACK (after which psycopg forgets its
    statements and sends `DEALLOCATE ALL` with the extended protocol, then prepares again)."""
    for i in range(10):
        row = conn.execute("SELECT %s::int * 2, %s::text || '!'", [i, f"p{i}"], prepare=True).fetchone()
        expect(row, (i * 2, f"p{i}!"), f"{tag}: prepared result")
    conn.prepare_threshold = 1
    for i in range(6):
        row = conn.execute("SELECT %s::bigint + 1", [i]).fetchone()
        expect(row, (i + 1,), f"{tag}: auto-prepared result")
    conn.prepared_max = 3
    for i in range(8):
        row = conn.execute(f"SELECT %s::int + {i % 5}", [i], prepare=True).fetchone()
        expect(row, (i + i % 5,), f"{tag}: result with evictions")
    for i in range(3):
        with conn.transaction():
            conn.execute("SELECT %s::int", [i], prepare=True)
            conn.execute("SELECT %s::text", [str(i)], prepare=True)
        conn.autocommit = False
        conn.execute("SELECT %s::int", [i], prepare=True)
        conn.rollback()
        conn.autocommit = True
        row = conn.execute("SELECT %s::int, %s::text", [i, "after rollback"], prepare=True).fetchone()
        expect(row, (i, "after rollback"), f"{tag}: prepared after ROLLBACK")


def prepared_statements():
    conn = connect(CFG["dsn"], autocommit=True)
    try:
        conn.execute("SELECT %s::int", [1], prepare=True)
        names = [r[0] for r in conn.execute("SELECT name FROM pg_prepared_statements").fetchall()]
        if not any(name.startswith("_pg3_") for name in names):
            raise Check(f"no psycopg named statement on the server: {names}")
        prepared_statement_workout(conn, "session pooling")
        return "prepare=True, threshold, eviction, re-prepare after ROLLBACK"
    finally:
        conn.close()


def pipeline_mode():
    conn = connect(CFG["dsn"], autocommit=True)
    direct = connect(CFG["direct_dsn"], autocommit=True)
    try:
        with conn.pipeline() as p:
            c1 = conn.execute("SELECT 1")
            c2 = conn.execute("SELECT %s::int + 1", [1])
            c3 = conn.cursor()
            c3.executemany("SELECT %s::text", [["a"], ["b"]], returning=True)
            p.sync()
            expect(c1.fetchone(), (1,), "pipelined 1")
            expect(c2.fetchone(), (2,), "pipelined 2")
            c4 = conn.execute("SELECT 4")
        expect(c4.fetchone(), (4,), "pipelined 4")

        def error_mid_pipeline(c):
            c.execute(f"DROP TABLE IF EXISTS {T}_pipe")
            c.execute(f"CREATE TABLE {T}_pipe (id int)")
            caught = None
            try:
                with c.pipeline():
                    c.execute(f"INSERT INTO {T}_pipe VALUES (1)")
                    c.execute("SELECT 1/0")
                    c.execute(f"INSERT INTO {T}_pipe VALUES (2)")
            except Error as exc:
                caught = type(exc).__name__
            rows = c.execute(f"SELECT coalesce(array_agg(id ORDER BY id), '{{}}') FROM {T}_pipe").fetchone()[0]
            with c.pipeline() as p:
                ok = c.execute("SELECT 'after'")
                p.sync()
                after = ok.fetchone()[0]
            c.execute(f"DROP TABLE {T}_pipe")
            return caught, rows, after

        through_proxy = error_mid_pipeline(conn)
        expected = error_mid_pipeline(direct)
        expect(through_proxy, expected, "error mid-pipeline (proxy vs direct)")
        # Pipelined inside a transaction block with an error: the block is rolled back.
        conn.execute(f"CREATE TABLE {T}_pipe2 (id int)")
        try:
            with conn.transaction():
                with conn.pipeline():
                    conn.execute(f"INSERT INTO {T}_pipe2 VALUES (1)")
                    conn.execute(f"INSERT INTO {T}_pipe2 VALUES ('x')")
        except errors.InvalidTextRepresentation:
            pass
        expect(conn.execute(f"SELECT count(*) FROM {T}_pipe2").fetchone()[0], 0, "rows after failed pipelined transaction")
        conn.execute(f"DROP TABLE {T}_pipe2")
        return f"error mid-pipeline -> {expected[0]}, rows {expected[1]}"
    finally:
        conn.close()
        direct.close()


# ---- transaction pooling -------------------------------------------------------------------------


def txpool_basic():
    conn = connect(CFG["tx_dsn"])
    try:
        cur = conn.cursor()
        cur.execute(f"CREATE TABLE {T}_txp (id int PRIMARY KEY, who text)")
        conn.commit()
        cur.execute(sample_select(), sample_params())
        check_sample_row(cur.fetchone(), "params through transaction pooling")
        conn.commit()
        cur.execute("SET LOCAL statement_timeout = '4321ms'")
        cur.execute(f"INSERT INTO {T}_txp VALUES (1, 'kept')")
        cur.execute("SELECT current_setting('statement_timeout')")
        expect(cur.fetchone()[0], "4321ms", "SET LOCAL inside the transaction")
        conn.commit()
        cur.execute(f"INSERT INTO {T}_txp VALUES (2, 'rolled back')")
        conn.rollback()
        cur.execute(f"SELECT array_agg(id ORDER BY id) FROM {T}_txp")
        expect(cur.fetchone()[0], [1], "rows after rollback")
        conn.commit()
        try:
            cur.execute("SELECT 1/0")
        except errors.DivisionByZero:
            conn.rollback()
        cur.execute("SELECT 'recovered'")
        expect(cur.fetchone()[0], "recovered", "after an error")
        cur.execute(f"DROP TABLE {T}_txp")
        conn.commit()
    finally:
        conn.close()


def txpool_concurrency():
    """More clients than the pool's 3 connections, each running transactions that must only ever
    see their own uncommitted rows."""
    setup = autocommit_conn(CFG["tx_dsn"])
    setup.cursor().execute(f"CREATE TABLE {T}_conc (client int, n int, PRIMARY KEY (client, n))")
    failures = []
    backends = set()
    lock = threading.Lock()

    def worker(client):
        try:
            conn = connect(CFG["tx_dsn"])
            try:
                cur = conn.cursor()
                for n in range(15):
                    kw = {"prepare": True} if DRIVER == "psycopg3" else {}
                    cur.execute(f"INSERT INTO {T}_conc VALUES (%s, %s)", [client, n], **kw)
                    cur.execute("SELECT pg_backend_pid()")
                    pid = cur.fetchone()[0]
                    cur.execute(f"SELECT count(*) FROM {T}_conc WHERE client = %s", [client], **kw)
                    seen = cur.fetchone()[0]
                    cur.execute("SELECT pg_backend_pid()")
                    if cur.fetchone()[0] != pid:
                        raise Check("the upstream connection changed inside a transaction")
                    if n % 3 == 2:
                        conn.rollback()
                        expected = n - n // 3
                    else:
                        conn.commit()
                        expected = n - n // 3 + 1
                    if seen != n - n // 3 + 1:
                        raise Check(f"client {client} saw {seen} rows, expected {n - n // 3 + 1}")
                    with lock:
                        backends.add(pid)
                cur.execute(f"SELECT count(*) FROM {T}_conc WHERE client = %s", [client])
                expect(cur.fetchone()[0], expected, f"client {client} committed rows")
                conn.commit()
            finally:
                conn.close()
        except Exception as exc:
            with lock:
                failures.append(f"client {client}: {type(exc).__name__}: {one_line(exc)}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    setup.cursor().execute(f"DROP TABLE {T}_conc")
    setup.close()
    if failures:
        raise Check("; ".join(failures))
    if len(backends) > 3:
        raise Check(f"{len(backends)} upstream backends served a pool of size 3")
    return f"6 clients x 15 transactions over {len(backends)} upstream connections"


def txpool_prepared():
    conn = connect(CFG["tx_dsn"], autocommit=True)
    try:
        conn.prepare_threshold = 0
        for i in range(20):
            row = conn.execute("SELECT %s::int + 100, %s::text", [i, f"s{i}"]).fetchone()
            expect(row, (i + 100, f"s{i}"), "prepared through transaction pooling")
            with conn.transaction():
                row = conn.execute("SELECT %s::int * 3", [i]).fetchone()
                expect(row, (i * 3,), "prepared inside a transaction")
        with conn.pipeline() as p:
            cursors = [conn.execute("SELECT %s::int - 1", [i]) for i in range(10)]
            p.sync()
            expect([c.fetchone()[0] for c in cursors], list(range(-1, 9)), "pipelined prepared")
        prepared_statement_workout(conn, "transaction pooling")
        return "autocommit, in transactions, pipelined, eviction, re-prepare after ROLLBACK"
    finally:
        conn.close()


# ---- the plan ------------------------------------------------------------------------------------

PLAN = [
    ("login-scram", login("scram_dsn", "scram_user")),
    ("login-md5", login("md5_dsn", "md5_user")),
    ("login-cleartext", login("password_dsn", "password_user")),
    ("login-wrong-password", wrong_password),
    ("simple-query", simple_queries),
    ("param-types", param_types),
]
if DRIVER == "psycopg3":
    PLAN += [
        ("binary-results", binary_results),
        ("prepared-statements", prepared_statements),
    ]
else:
    PLAN += [("sql-prepare", sql_prepare)]
PLAN += [
    ("transaction-rollback", transaction_rollback),
    ("savepoint", savepoint_psycopg3 if DRIVER == "psycopg3" else savepoint_psycopg2),
    ("error-recovery", error_recovery),
    ("copy", copy_psycopg3 if DRIVER == "psycopg3" else copy_psycopg2),
    ("cancel", cancel),
    ("named-cursor", named_cursor),
]
if DRIVER == "psycopg3":
    PLAN += [("pipeline", pipeline_mode)]
PLAN += [
    ("listen-notify", listen_notify_psycopg3 if DRIVER == "psycopg3" else listen_notify_psycopg2),
    ("metadata", metadata),
    ("startup-options", startup_options),
    ("txpool-basic", txpool_basic),
    ("txpool-concurrency", txpool_concurrency),
]
if DRIVER == "psycopg3":
    PLAN += [("txpool-prepared", txpool_prepared)]

only = set(os.environ.get("DF_ONLY", "").split(",")) - {""}
for feature, fn in PLAN:
    if not only or feature in only:
        run(feature, fn)
print(f"# {DRIVER}: {sum(' PASS' in r for r in RESULTS)}/{len(RESULTS)} passed", file=sys.stderr)
