#!/usr/bin/python3
"""A scripted psqlODBC session (unixODBC + pyodbc) through DocFusionDB.

Driven by test/clients/odbc.test.ts; run it with Debian's /usr/bin/python3 (python3-pyodbc).
Arguments are key=value pairs: host, port, database, user, password, prefix (unique table-name
prefix), pool (session|transaction), and optionally scramUser/scramPassword and
md5Port/md5User/md5Password.

Prints one "VERSION <psqlODBC version>" line and one "RESULT <feature> PASS|FAIL [detail]" line
per feature; the log goes to stderr. Exits 0 when every step ran (failed features are reported,
not raised), 1 when the setup itself failed.

The driver is the system's "PostgreSQL Unicode" (odbc-postgresql), registered here in a private
odbcinst.ini (ODBCSYSINI) that points at the same shared object with the communication log off, so
the run leaves no psqlodbc_*.log files behind; the isql features use a DSN from a private odbc.ini
(ODBCINI).
"""

import contextlib
import datetime
import decimal
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback

DRIVER = "PostgreSQL Unicode"
FEATURE_TIMEOUT_S = 90
ARGS = dict(arg.split("=", 1) for arg in sys.argv[1:] if "=" in arg)


def log(message):
    print(f"[odbc] {message}", file=sys.stderr, flush=True)


_out_lock = threading.Lock()


def result(feature, passed, detail=""):
    line = f"RESULT {feature} {'PASS' if passed else 'FAIL'}"
    detail = re.sub(r"\s+", " ", str(detail)).strip()
    if detail:
        line += " " + detail[:800]
    with _out_lock:
        print(line, flush=True)


class Check(Exception):
    """A failed expectation inside a feature."""


def check(condition, message):
    if not condition:
        raise Check(message)


def check_eq(expected, actual, what):
    if expected != actual:
        raise Check(f"{what}: expected {expected!r} but got {actual!r}")


def feature(name, body):
    """Runs one feature with a deadline, so a hung exchange fails only that feature."""
    outcome = {}

    def target():
        try:
            body()
            outcome["ok"] = True
        except BaseException as error:  # noqa: BLE001 - every failure is a result line
            outcome["error"] = error
            outcome["trace"] = traceback.format_exc()

    start = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(FEATURE_TIMEOUT_S)
    if thread.is_alive():
        result(name, False, f"timed out after {FEATURE_TIMEOUT_S}s")
    elif "ok" in outcome:
        result(name, True, f"{int((time.monotonic() - start) * 1000)}ms")
    else:
        log(f"{name} failed:\n{outcome['trace']}")
        error = outcome["error"]
        result(name, False, f"{type(error).__name__}: {error}")


# ---- private ODBC configuration (before pyodbc allocates its environment) -----------------------


def system_driver_section():
    """The [PostgreSQL Unicode] section of the system's odbcinst.ini, as key → value."""
    section, values = None, {}
    for path in ("/etc/odbcinst.ini",):
        try:
            with open(path, encoding="utf-8") as f:
                for raw in f:
                    line = raw.strip()
                    if line.startswith("[") and line.endswith("]"):
                        section = line[1:-1]
                    elif section == DRIVER and "=" in line:
                        key, value = line.split("=", 1)
                        values[key.strip()] = value.strip()
        except OSError:
            pass
    return values


ODBC_DIR = tempfile.mkdtemp(prefix="docfusion-odbc-")
_driver = system_driver_section()
if "Driver" not in _driver:
    print(f"RESULT setup FAIL driver [{DRIVER}] is not registered in /etc/odbcinst.ini", flush=True)
    sys.exit(1)
with open(os.path.join(ODBC_DIR, "odbcinst.ini"), "w", encoding="utf-8") as f:
    f.write(f"[{DRIVER}]\n")
    for key, value in _driver.items():
        if key not in ("CommLog", "Debug"):
            f.write(f"{key}={value}\n")
    f.write("CommLog=0\nDebug=0\n")
with open(os.path.join(ODBC_DIR, "odbc.ini"), "w", encoding="utf-8") as f:
    f.write(
        "[docfusion]\n"
        f"Driver={DRIVER}\n"
        f"Servername={ARGS.get('host', '127.0.0.1')}\n"
        f"Port={ARGS.get('port', '')}\n"
        f"Database={ARGS.get('database', '')}\n"
        "SSLmode=disable\nCommLog=0\nDebug=0\n"
    )
os.environ["ODBCSYSINI"] = ODBC_DIR
os.environ["ODBCINI"] = os.path.join(ODBC_DIR, "odbc.ini")

import pyodbc  # noqa: E402 - after the environment above

pyodbc.pooling = False

HOST = ARGS.get("host", "127.0.0.1")
PORT = ARGS["port"]
DATABASE = ARGS["database"]
USER = ARGS["user"]
PASSWORD = ARGS["password"]
PREFIX = ARGS["prefix"]
TRANSACTION_POOL = ARGS.get("pool", "session") == "transaction"


def conn_str(port=None, user=None, password=None, **options):
    parts = {
        "Driver": "{" + DRIVER + "}",
        "Server": HOST,
        "Port": port or PORT,
        "Database": DATABASE,
        "Uid": user or USER,
        "Pwd": password or PASSWORD,
        "SSLmode": "disable",
    }
    parts.update(options)

    def quote(value):
        value = str(value)
        if value.startswith("{") or not re.search(r"[;{}=\s]", value):
            return value
        return "{" + value.replace("}", "}}") + "}"

    return "".join(f"{key}={quote(value)};" for key, value in parts.items())


def connect(port=None, user=None, password=None, autocommit=True, **options):
    # psqlODBC has no SQL_ATTR_LOGIN_TIMEOUT (pyodbc's timeout=): libpq's connect_timeout instead.
    pqopt = options.pop("pqopt", "{}")
    options["pqopt"] = "{connect_timeout=20 " + pqopt[1:]
    cnxn = pyodbc.connect(conn_str(port, user, password, **options), autocommit=autocommit)
    return cnxn


@contextlib.contextmanager
def connection(port=None, user=None, password=None, autocommit=True, **options):
    """A connection that is closed on exit (pyodbc's own context manager only commits)."""
    cnxn = connect(port, user, password, autocommit, **options)
    try:
        yield cnxn
    finally:
        cnxn.close()


def t(name):
    return f"{PREFIX}_{name}"


def scalar(cnxn, sql, *params):
    row = cnxn.cursor().execute(sql, *params).fetchone()
    return None if row is None else row[0]


def sqlstate(error):
    """psqlODBC puts the SQLSTATE first in the message's args: ('42601', '[42601] ERROR: …')."""
    return error.args[0] if error.args else ""


def expect_error(cursor, sql, params, state, what):
    try:
        cursor.execute(sql, *params)
        cursor.fetchall() if cursor.description else None
    except pyodbc.Error as error:
        check(
            sqlstate(error) == state or f"[{state}]" in str(error) or state in str(error),
            f"{what}: expected SQLSTATE {state}, got {error}",
        )
        return error
    raise Check(f"{what}: no error")


# ---- setup ---------------------------------------------------------------------------------------


def teardown(cursor):
    for name in ("child", "parent", "types", "items"):
        cursor.execute(f"DROP TABLE IF EXISTS {t(name)}")


def setup():
    with connection() as cnxn:
        cursor = cnxn.cursor()
        teardown(cursor)
        cursor.execute(
            f"CREATE TABLE {t('items')} (id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0)"
        )
        cursor.execute(
            f"CREATE TABLE {t('types')} (id serial PRIMARY KEY, i4 int4, i8 int8, num numeric, txt text,"
            " bin bytea, b bool, ts timestamp, tstz timestamptz, d date, j jsonb, ia int4[], nul text)"
        )
        cursor.execute(f"CREATE TABLE {t('parent')} (id int PRIMARY KEY, label varchar(30))")
        cursor.execute(
            f"CREATE TABLE {t('child')} (id int PRIMARY KEY,"
            f" parent_id int NOT NULL REFERENCES {t('parent')} (id), note varchar(40))"
        )


# ---- features ------------------------------------------------------------------------------------


def login(port, user, password):
    with connection(port, user, password) as cnxn:
        check_eq(user, scalar(cnxn, "SELECT current_user"), "current_user")
        check(cnxn.getinfo(pyodbc.SQL_DBMS_NAME) == "PostgreSQL", "SQL_DBMS_NAME")
        check(cnxn.getinfo(pyodbc.SQL_DBMS_VER), "empty SQL_DBMS_VER")


def login_wrong_password():
    try:
        connect(user=ARGS["scramUser"], password="definitely-not-the-password").close()
    except pyodbc.Error as error:
        check(
            "password authentication failed" in str(error),
            f"wrong password error: {error}",
        )
        return
    raise Check("login with a wrong password succeeded")


def startup_parameters():
    # pqopt passes libpq parameters: they travel in the StartupMessage.
    opts = "{application_name=docfusion-odbc-suite options=-csearch_path=pg_catalog,public}"
    with connection(pqopt=opts) as cnxn:
        for _ in range(2):  # transaction pooling may run each statement on another connection
            check_eq("docfusion-odbc-suite", scalar(cnxn, "SELECT current_setting('application_name')"), "application_name")
            check_eq("pg_catalog,public", scalar(cnxn, "SHOW search_path"), "search_path")


def simple_query():
    with connection() as cnxn:
        cursor = cnxn.cursor()
        cursor.execute(f"INSERT INTO {t('items')} VALUES (1, 'one', 10), (2, 'two', 20)")
        check_eq(2, cursor.rowcount, "insert rowcount")
        cursor.execute(f"UPDATE {t('items')} SET qty = qty + 1 WHERE id = 1")
        check_eq(1, cursor.rowcount, "update rowcount")
        rows = cursor.execute(f"SELECT id, name, qty FROM {t('items')} WHERE id < 100 ORDER BY id").fetchall()
        check_eq([(1, "one", 11), (2, "two", 20)], [tuple(r) for r in rows], "rows")
        check_eq(["id", "name", "qty"], [d[0] for d in cursor.description], "column names")
        cursor.execute(f"DELETE FROM {t('items')} WHERE id = 2")
        check_eq(1, cursor.rowcount, "delete rowcount")
        check_eq("héllo 🐘", scalar(cnxn, "SELECT 'héllo 🐘'"), "unicode literal")
        check_eq(42, scalar(cnxn, "SELECT 42"), "int literal")


TS = datetime.datetime(2024, 2, 29, 23, 59, 58, 123456)
D = datetime.date(1999, 12, 31)
NUM = decimal.Decimal("-12345678901234567890.000000000123456789")
TXT = "héllo wörld — 你好 🐘 'single' \"double\" \\back\\slash\ttab\nnewline"
BIN = bytes(range(256))
JSON = '{"a": [1, 2.5, null, true], "ü": {"nested": "🐘"}}'


def check_types_row(row, context):
    i4, i8, num, txt, b_in, b, ts, tstz, d, j, ia, nul = row
    check_eq(-2147483648, i4, f"{context} int4")
    check_eq(9223372036854775807, i8, f"{context} int8")
    check_eq(NUM, num, f"{context} numeric")
    check_eq(TXT, txt, f"{context} text")
    check_eq(BIN, bytes(b_in), f"{context} bytea")
    check(b in (True, 1, "1"), f"{context} bool: got {b!r}")
    check_eq(TS, ts, f"{context} timestamp")
    check_eq(TS, tstz.replace(tzinfo=None) if tstz is not None else None, f"{context} timestamptz")
    check_eq(D, d, f"{context} date")
    check_eq(JSON, j, f"{context} jsonb")
    check_eq("{1,NULL,-3,2147483647}", ia, f"{context} int4[]")
    check_eq(None, nul, f"{context} NULL")


TYPE_COLUMNS = "i4, i8, num, txt, bin, b, ts, tstz, d, j, ia, nul"


def insert_types(cursor):
    cursor.execute(
        f"INSERT INTO {t('types')} ({TYPE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?::int4[], ?)"
        " RETURNING id",
        -2147483648,
        9223372036854775807,
        NUM,
        TXT,
        BIN,
        True,
        TS,
        TS,
        D,
        JSON,
        "{1,NULL,-3,2147483647}",
        None,
    )
    return cursor.fetchone()[0]


def parameterised_types():
    with connection() as cnxn:
        cursor = cnxn.cursor()
        row_id = insert_types(cursor)
        row = cursor.execute(f"SELECT {TYPE_COLUMNS} FROM {t('types')} WHERE id = ?", row_id).fetchone()
        check(row is not None, f"row {row_id} not found")
        check_types_row(row, "read back")
        # Echo parameters straight back.
        echo = cursor.execute(
            "SELECT ?::float8, ?::int2, CAST(? AS text) IS NULL, ?::interval, ?::uuid", -1.5e300, -32768, None, "1 day 02:03:04", "6f1c2a44-0b7e-4c1e-9a51-2f4d3c5b6a79"
        ).fetchone()
        check_eq(-1.5e300, echo[0], "float8")
        check_eq(-32768, echo[1], "int2")
        check(echo[2] in (True, 1, "1"), f"NULL parameter: {echo[2]!r}")
        check_eq("1 day 02:03:04", echo[3], "interval")
        check_eq("6f1c2a44-0b7e-4c1e-9a51-2f4d3c5b6a79", str(echo[4]).lower(), "uuid")


def transaction():
    with connection(autocommit=False) as cnxn:
        cursor = cnxn.cursor()
        cursor.execute(f"INSERT INTO {t('items')} (id, name) VALUES (?, ?)", 100, "rolled back")
        check_eq(1, scalar(cnxn, f"SELECT count(*) FROM {t('items')} WHERE id = 100"), "row inside its transaction")
        cnxn.rollback()
        check_eq(0, scalar(cnxn, f"SELECT count(*) FROM {t('items')} WHERE id = 100"), "row after rollback")
        cursor.execute(f"INSERT INTO {t('items')} (id, name) VALUES (?, ?)", 101, "committed")
        cnxn.commit()
    with connection() as other:
        check_eq(0, scalar(other, f"SELECT count(*) FROM {t('items')} WHERE id = 100"), "rolled-back row elsewhere")
        check_eq(1, scalar(other, f"SELECT count(*) FROM {t('items')} WHERE id = 101"), "committed row elsewhere")


def error_recovery():
    with connection() as cnxn:
        cursor = cnxn.cursor()
        expect_error(cursor, "SELEC 1", (), "42601", "syntax error")
        check_eq(1, scalar(cnxn, "SELECT 1"), "query after a syntax error")
        expect_error(cursor, f"SELECT * FROM {t('no_such_table')} WHERE id = ?", (1,), "42P01", "undefined table")
        expect_error(cursor, "SELECT 1 / ?", (0,), "22012", "division by zero")
        check_eq(2, scalar(cnxn, "SELECT 2"), "query after execution errors")


def statement_level_rollback():
    """Protocol=7.4-2: psqlODBC wraps statements in SAVEPOINT/RELEASE and rolls back only the
    failed statement, so the transaction goes on."""
    with connection(autocommit=False, Protocol="7.4-2") as cnxn:
        cursor = cnxn.cursor()
        cursor.execute(f"INSERT INTO {t('items')} (id, name) VALUES (?, ?)", 200, "before error")
        expect_error(cursor, f"INSERT INTO {t('items')} (id, name) VALUES (?, ?)", (200, "duplicate"), "23505", "duplicate key")
        cursor.execute(f"INSERT INTO {t('items')} (id, name) VALUES (?, ?)", 201, "after error")
        # (psqlODBC 13 covers execution errors with its savepoint; a syntax error rolls back the
        # whole transaction even against Postgres directly.)
        expect_error(cursor, "SELECT 1 / ?", (0,), "22012", "division by zero in transaction")
        cursor.execute(f"INSERT INTO {t('items')} (id, name) VALUES (?, ?)", 202, "after 2nd error")
        cnxn.commit()
        ids = [r[0] for r in cursor.execute(f"SELECT id FROM {t('items')} WHERE id BETWEEN 200 AND 299 ORDER BY id").fetchall()]
        check_eq([200, 201, 202], ids, "ids after statement-level rollbacks")
        cnxn.commit()


def transaction_level_rollback():
    """Protocol=7.4-1: an error rolls the whole transaction back; the connection goes on."""
    with connection(autocommit=False, Protocol="7.4-1") as cnxn:
        cursor = cnxn.cursor()
        cursor.execute(f"INSERT INTO {t('items')} (id, name) VALUES (?, ?)", 210, "lost")
        expect_error(cursor, "SELEC 3", (), "42601", "syntax error in transaction")
        cursor.execute(f"INSERT INTO {t('items')} (id, name) VALUES (?, ?)", 211, "kept")
        cnxn.commit()
        ids = [r[0] for r in cursor.execute(f"SELECT id FROM {t('items')} WHERE id BETWEEN 210 AND 219 ORDER BY id").fetchall()]
        check_eq([211], ids, "ids after a transaction-level rollback")
        cnxn.commit()


def executemany():
    with connection(autocommit=False) as cnxn:
        cursor = cnxn.cursor()
        rows = [(1000 + i, f"many-{i}", i) for i in range(200)]
        cursor.executemany(f"INSERT INTO {t('items')} (id, name, qty) VALUES (?, ?, ?)", rows)
        cnxn.commit()
        check_eq(200, scalar(cnxn, f"SELECT count(*) FROM {t('items')} WHERE id BETWEEN 1000 AND 1999"), "rows")
        check_eq(199 * 200 // 2, scalar(cnxn, f"SELECT sum(qty) FROM {t('items')} WHERE id BETWEEN 1000 AND 1999"), "sum")
        cnxn.commit()


def cancel():
    with connection() as cnxn:
        cursor = cnxn.cursor()

        def cancel_later():
            time.sleep(0.7)
            cursor.cancel()

        canceller = threading.Thread(target=cancel_later, daemon=True)
        start = time.monotonic()
        canceller.start()
        expect_error(cursor, "SELECT pg_sleep(10)", (), "57014", "cancelled statement")
        elapsed = time.monotonic() - start
        check(elapsed < 8, f"cancel took {elapsed:.1f}s")
        canceller.join(5)
        check_eq(6, scalar(cnxn, "SELECT 6"), "query after cancel")


def metadata_tables():
    with connection() as cnxn:
        cursor = cnxn.cursor()
        found = {(r.table_schem, r.table_name, r.table_type) for r in cursor.tables(table=f"{PREFIX}%", tableType="TABLE").fetchall()}
        for name in ("items", "types", "parent", "child"):
            check(("public", t(name), "TABLE") in found, f"tables() is missing {t(name)}: {sorted(found)}")
        exact = cursor.tables(table=t("items"), schema="public").fetchall()
        check_eq(1, len(exact), "tables(table=…, schema=public) rows")
        # What Excel/Power BI ask first: every table and view.
        everything = cursor.tables(tableType="TABLE,VIEW").fetchall()
        check(len(everything) >= 4, f"tables(TABLE,VIEW) returned {len(everything)} rows")


def metadata_columns():
    with connection() as cnxn:
        cursor = cnxn.cursor()
        cols = [(r.column_name, r.type_name) for r in cursor.columns(table=t("types")).fetchall()]
        names = [c[0] for c in cols]
        check_eq(["id", "i4", "i8", "num", "txt", "bin", "b", "ts", "tstz", "d", "j", "ia", "nul"], names, "columns() names")
        types = dict(cols)
        check_eq("int4", types["i4"], "int4 type name")
        check_eq("numeric", types["num"], "numeric type name")
        check_eq("bytea", types["bin"], "bytea type name")
        note = cursor.columns(table=t("child"), column="note").fetchall()
        check_eq(1, len(note), "columns(column=note) rows")
        check_eq(40, note[0].column_size, "varchar(40) column_size")


def metadata_primary_keys():
    with connection() as cnxn:
        cursor = cnxn.cursor()
        keys = cursor.primaryKeys(t("items"), schema="public").fetchall()
        check_eq(["id"], [k.column_name for k in keys], "primaryKeys() columns")
        check_eq(f"{t('items')}_pkey", keys[0].pk_name, "pk_name")


def metadata_foreign_keys():
    with connection() as cnxn:
        cursor = cnxn.cursor()
        keys = cursor.foreignKeys(foreignTable=t("child"), foreignSchema="public").fetchall()
        check_eq(1, len(keys), f"foreignKeys() rows: {keys}")
        check_eq(t("parent"), keys[0].pktable_name, "pktable_name")
        check_eq("parent_id", keys[0].fkcolumn_name, "fkcolumn_name")
        stats = cursor.statistics(t("child"), schema="public").fetchall()
        check(any(s.index_name == f"{t('child')}_pkey" for s in stats), f"statistics(): {stats}")


def metadata_type_info():
    with connection() as cnxn:
        cursor = cnxn.cursor()
        names = {r.type_name for r in cursor.getTypeInfo().fetchall()}
        for name in ("int4", "int8", "text", "numeric", "bytea", "bool", "date", "timestamptz"):
            check(name in names, f"getTypeInfo() lacks {name}: {sorted(names)}")
        varchar = cursor.getTypeInfo(pyodbc.SQL_VARCHAR).fetchall()
        check(len(varchar) >= 1, "getTypeInfo(SQL_VARCHAR) returned nothing")


def declare_fetch():
    """UseDeclareFetch=1: psqlODBC reads results through DECLARE … CURSOR and FETCH (Fetch rows at
    a time), inside a transaction it opens itself."""
    with connection(UseDeclareFetch="1", Fetch="10") as cnxn:
        cursor = cnxn.cursor()
        cursor.execute("SELECT g, 'row ' || g FROM generate_series(1, 95) g ORDER BY g")
        got = [tuple(r) for r in cursor.fetchall()]
        check_eq([(g, f"row {g}") for g in range(1, 96)], got, "rows through a cursor")
        cursor.execute(f"SELECT {TYPE_COLUMNS} FROM {t('types')} WHERE id = ?", insert_types(cnxn.cursor()))
        check_types_row(cursor.fetchone(), "through a cursor")
        # Two open result sets at once, each its own server cursor.
        a = cnxn.cursor().execute("SELECT g FROM generate_series(1, 30) g ORDER BY g")
        b = cnxn.cursor().execute("SELECT g FROM generate_series(101, 130) g ORDER BY g")
        firsts = [a.fetchone()[0], b.fetchone()[0]]
        if not TRANSACTION_POOL:  # one upstream connection: the driver's cursors are there
            open_cursors = scalar(cnxn, "SELECT count(*) FROM pg_cursors WHERE name LIKE 'SQL\\_CUR%'")
            check(open_cursors >= 2, f"{open_cursors} SQL_CUR cursors in pg_cursors")
        rest = len(a.fetchall()) + len(b.fetchall())
        check_eq([1, 101], firsts, "two interleaved cursors")
        check_eq(58, rest, "rows left in the interleaved cursors")
        check_eq(7, scalar(cnxn, "SELECT 7"), "query after cursors")
    with connection(autocommit=False, UseDeclareFetch="1", Fetch="10") as cnxn:
        cursor = cnxn.cursor()
        cursor.execute("SELECT g FROM generate_series(1, 25) g")
        check_eq(25, len(cursor.fetchall()), "rows through a cursor in an explicit transaction")
        cnxn.commit()


def server_side_prepare():
    """UseServerSidePrepare=1 (named protocol statements, dropped with SQL DEALLOCATE) with
    Protocol=7.4-2 (statement-level rollback: SAVEPOINT/RELEASE around statements)."""
    with connection(autocommit=False, UseServerSidePrepare="1", Protocol="7.4-2") as cnxn:
        cursor = cnxn.cursor()
        sql = f"SELECT {TYPE_COLUMNS} FROM {t('types')} WHERE id = ? AND i8 = ?"
        row_id = insert_types(cnxn.cursor())
        for i in range(10):
            row = cursor.execute(sql, row_id, 9223372036854775807).fetchone()
            check(row is not None, f"execution {i}: row not found")
            check_types_row(row, f"execution {i}")
        if not TRANSACTION_POOL:  # one upstream connection: the driver's named statement is there
            plans = scalar(cnxn, "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE '\\_PLAN%'")
            check(plans >= 1, f"{plans} _PLAN statements in pg_prepared_statements")
        # Statements on fresh cursors (each prepared, then dropped by the driver with DEALLOCATE).
        for i in range(5):
            fresh = cnxn.cursor()
            check_eq(i + 1, fresh.execute("SELECT ?::int + 1", i).fetchone()[0], f"fresh cursor {i}")
            fresh.close()
        if not TRANSACTION_POOL:
            left = scalar(cnxn, "SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT $1::int + 1'")
            check_eq(0, left, "statements left after the driver's DEALLOCATE")
        expect_error(cursor, "SELECT 1 / ?", (0,), "22012", "error in a prepared statement")
        check_eq(8, cursor.execute("SELECT ?::int", 8).fetchone()[0], "statement after an error in the transaction")
        cursor.execute(f"INSERT INTO {t('items')} (id, name) VALUES (?, ?)", 300, "prepared insert")
        cnxn.commit()
        check_eq(1, scalar(cnxn, f"SELECT count(*) FROM {t('items')} WHERE id = 300"), "committed prepared insert")
        cnxn.commit()


def pool_multiplexing():
    """Transaction pooling: twice poolSize client connections share the pool's upstream
    connections, so they see at most poolSize backend pids."""
    pool_size = int(ARGS["poolSize"])
    clients = [connect() for _ in range(pool_size * 2)]
    try:
        pids = set()
        for _ in range(3):
            for cnxn in clients:
                pids.add(scalar(cnxn, "SELECT pg_backend_pid()"))
        check(len(pids) <= pool_size, f"{len(clients)} clients used {len(pids)} backends: {sorted(pids)}")
    finally:
        for cnxn in clients:
            cnxn.close()


def isql_query(args, sql):
    isql = shutil.which("isql")
    check(isql is not None, "isql not found (install unixodbc)")
    run = subprocess.run(
        [isql, "-b", *args],
        input=sql,
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
        check=False,
    )
    log(f"isql {args[0]}: exit {run.returncode}\n{run.stdout}{run.stderr}")
    check_eq(0, run.returncode, f"isql exit code (stdout: {run.stdout!r} stderr: {run.stderr!r})")
    return run.stdout


def isql_dsn():
    out = isql_query(["docfusion", USER, PASSWORD], "SELECT 1 AS one, 'odbc' AS two\n")
    check(re.search(r"\|\s*1\s*\|\s*odbc\s*\|", out) is not None, f"isql output: {out!r}")
    check("1 rows fetched" in out, f"isql row count: {out!r}")


def isql_dsnless():
    out = isql_query(["-k", conn_str()], "SELECT 40 + 2 AS answer\n")
    check(re.search(r"\|\s*42\s*\|", out) is not None, f"isql -k output: {out!r}")


# ---- main ----------------------------------------------------------------------------------------


def main():
    try:
        with connection() as cnxn:
            version = cnxn.getinfo(pyodbc.SQL_DRIVER_VER)
            driver_name = cnxn.getinfo(pyodbc.SQL_DRIVER_NAME)
        print(f"VERSION {version} ({driver_name}, unixODBC, pyodbc {pyodbc.version})", flush=True)
        setup()
    except Exception as error:  # noqa: BLE001
        log(traceback.format_exc())
        result("setup", False, f"{type(error).__name__}: {error}")
        return 1

    if "scramUser" in ARGS:
        feature("login-scram", lambda: login(PORT, ARGS["scramUser"], ARGS["scramPassword"]))
        feature("login-wrong-password", login_wrong_password)
    if "md5Port" in ARGS:
        feature("login-md5", lambda: login(ARGS["md5Port"], ARGS["md5User"], ARGS["md5Password"]))
    feature("startup-parameters", startup_parameters)
    feature("simple-query", simple_query)
    feature("parameterised-types", parameterised_types)
    feature("transaction", transaction)
    feature("error-recovery", error_recovery)
    feature("statement-level-rollback", statement_level_rollback)
    feature("transaction-level-rollback", transaction_level_rollback)
    feature("executemany", executemany)
    feature("cancel", cancel)
    feature("metadata-tables", metadata_tables)
    feature("metadata-columns", metadata_columns)
    feature("metadata-primary-keys", metadata_primary_keys)
    feature("metadata-foreign-keys", metadata_foreign_keys)
    feature("metadata-type-info", metadata_type_info)
    feature("declare-fetch", declare_fetch)
    feature("server-side-prepare", server_side_prepare)
    feature("isql-dsn", isql_dsn)
    feature("isql-dsnless", isql_dsnless)
    if TRANSACTION_POOL:
        feature("pool-multiplexing", pool_multiplexing)

    try:
        with connection() as cnxn:
            teardown(cnxn.cursor())
    except Exception as error:  # noqa: BLE001
        log(f"teardown failed: {error}")
    return 0


if __name__ == "__main__":
    code = 1
    try:
        code = main()
    finally:
        shutil.rmtree(ODBC_DIR, ignore_errors=True)
    sys.stdout.flush()
    os._exit(code)
