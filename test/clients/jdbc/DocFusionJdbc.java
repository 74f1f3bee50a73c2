import java.io.StringReader;
import java.io.StringWriter;
import java.math.BigDecimal;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.sql.Types;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.postgresql.PGConnection;
import org.postgresql.PGResultSetMetaData;
import org.postgresql.PGStatement;
import org.postgresql.copy.CopyManager;
import org.postgresql.util.PGobject;

/**
 * A scripted pgjdbc session through DocFusionDB, driven by test/clients/jdbc.test.ts.
 *
 * <p>Arguments are key=value pairs: url (jdbc:postgresql://host:port/db), user, password, prefix
 * (unique table-name prefix), pool (session|transaction), and optionally scramUser/scramPassword,
 * md5Url/md5User/md5Password, cleartextUrl/cleartextUser/cleartextPassword.
 *
 * <p>Prints one "VERSION <pgjdbc version>" line and one "RESULT <feature> PASS|FAIL [detail]" line
 * per feature; everything else goes to stderr. Exits 0 when every step ran (failed features are
 * reported, not thrown), 1 when the setup itself failed.
 */
public final class DocFusionJdbc {
  private static final Map<String, String> ARGS = new HashMap<>();
  private static final ExecutorService RUNNER =
      Executors.newCachedThreadPool(
          r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
          });
  private static final long FEATURE_TIMEOUT_S = 90;

  private static String url;
  private static String user;
  private static String password;
  private static String prefix;
  private static boolean transactionPool;

  /** A failed expectation inside a feature. */
  static final class Check extends Exception {
    Check(String message) {
      super(message);
    }
  }

  interface Body {
    void run() throws Exception;
  }

  public static void main(String[] argv) throws Exception {
    for (String arg : argv) {
      int eq = arg.indexOf('=');
      if (eq > 0) ARGS.put(arg.substring(0, eq), arg.substring(eq + 1));
    }
    url = need("url");
    user = need("user");
    password = need("password");
    prefix = need("prefix");
    transactionPool = "transaction".equals(ARGS.getOrDefault("pool", "session"));

    org.postgresql.Driver driver = new org.postgresql.Driver();
    System.out.println(
        "VERSION "
            + org.postgresql.util.DriverInfo.DRIVER_VERSION
            + " (JDBC "
            + driver.getMajorVersion()
            + "."
            + driver.getMinorVersion()
            + ", Java "
            + System.getProperty("java.version")
            + ")");
    log("pgjdbc " + org.postgresql.util.DriverInfo.DRIVER_FULL_NAME + " against " + url + " pool=" + ARGS.get("pool"));

    try {
      setup();
    } catch (Exception e) {
      result("setup", false, describe(e));
      System.exit(1);
    }

    if (ARGS.containsKey("scramUser")) {
      feature("login-scram", () -> login(url, ARGS.get("scramUser"), ARGS.get("scramPassword")));
      feature("login-wrong-password", DocFusionJdbc::loginWrongPassword);
    }
    if (ARGS.containsKey("md5Url")) {
      feature("login-md5", () -> login(ARGS.get("md5Url"), ARGS.get("md5User"), ARGS.get("md5Password")));
    }
    if (ARGS.containsKey("cleartextUrl")) {
      feature(
          "login-cleartext",
          () -> login(ARGS.get("cleartextUrl"), ARGS.get("cleartextUser"), ARGS.get("cleartextPassword")));
    }
    feature("startup-parameters", DocFusionJdbc::startupParameters);
    feature("simple-statements", DocFusionJdbc::simpleStatements);
    feature("simple-query-mode", DocFusionJdbc::simpleQueryMode);
    feature("prepared-types", DocFusionJdbc::preparedTypes);
    feature("prepare-threshold-binary", DocFusionJdbc::prepareThresholdBinary);
    feature("transaction-rollback", DocFusionJdbc::transactionRollback);
    feature("savepoint", DocFusionJdbc::savepoint);
    feature("error-recovery", DocFusionJdbc::errorRecovery);
    feature("error-in-transaction", DocFusionJdbc::errorInTransaction);
    feature("batch-insert", DocFusionJdbc::batchInsert);
    feature("batch-rewrite", DocFusionJdbc::batchRewrite);
    feature("copy-in", DocFusionJdbc::copyIn);
    feature("copy-out", DocFusionJdbc::copyOut);
    feature("cancel", DocFusionJdbc::cancel);
    feature("metadata-tables", DocFusionJdbc::metadataTables);
    feature("metadata-columns", DocFusionJdbc::metadataColumns);
    feature("metadata-primary-keys", DocFusionJdbc::metadataPrimaryKeys);
    feature("metadata-schemas", DocFusionJdbc::metadataSchemas);
    feature("metadata-type-info", DocFusionJdbc::metadataTypeInfo);
    feature("metadata-keys-indexes", DocFusionJdbc::metadataKeysIndexes);
    feature("pipelined-begin", DocFusionJdbc::pipelinedBegin);
    feature("extended-cache-everything", DocFusionJdbc::extendedCacheEverything);
    feature("fetch-size-portal", DocFusionJdbc::fetchSizePortal);
    feature("callable-statement", DocFusionJdbc::callableStatement);
    feature("large-values", DocFusionJdbc::largeValues);
    feature("notices", DocFusionJdbc::notices);
    feature("listen-notify", DocFusionJdbc::listenNotify);
    feature("concurrent-named-statements", DocFusionJdbc::concurrentNamedStatements);
    if (transactionPool) feature("pool-multiplexing", DocFusionJdbc::poolMultiplexing);

    try {
      teardown();
    } catch (Exception e) {
      log("teardown failed: " + describe(e));
    }
    System.out.flush();
    System.exit(0);
  }

  // ---- harness --------------------------------------------------------------------------------

  private static String need(String key) {
    String value = ARGS.get(key);
    if (value == null) throw new IllegalArgumentException("missing argument " + key + "=…");
    return value;
  }

  private static void log(String message) {
    System.err.println("[jdbc] " + message);
  }

  private static synchronized void result(String feature, boolean pass, String detail) {
    String line = "RESULT " + feature + " " + (pass ? "PASS" : "FAIL");
    if (detail != null && !detail.isEmpty()) line += " " + detail.replaceAll("\\s+", " ").trim();
    System.out.println(line);
    System.out.flush();
  }

  private static String describe(Throwable e) {
    StringBuilder sb = new StringBuilder();
    Throwable t = e;
    while (t != null && sb.length() < 600) {
      if (sb.length() > 0) sb.append(" <- ");
      sb.append(t.getClass().getSimpleName());
      if (t instanceof SQLException sql && sql.getSQLState() != null) {
        sb.append('[').append(sql.getSQLState()).append(']');
      }
      sb.append(": ").append(t.getMessage());
      t = t.getCause();
    }
    return sb.toString();
  }

  /** Runs one feature with a deadline, so a hung protocol exchange fails only that feature. */
  private static void feature(String name, Body body) {
    long start = System.nanoTime();
    Future<?> future =
        RUNNER.submit(
            () -> {
              body.run();
              return null;
            });
    try {
      future.get(FEATURE_TIMEOUT_S, TimeUnit.SECONDS);
      result(name, true, (System.nanoTime() - start) / 1_000_000 + "ms");
    } catch (TimeoutException e) {
      future.cancel(true);
      result(name, false, "timed out after " + FEATURE_TIMEOUT_S + "s");
    } catch (java.util.concurrent.ExecutionException e) {
      Throwable cause = e.getCause() == null ? e : e.getCause();
      log(name + " failed:");
      cause.printStackTrace(System.err);
      result(name, false, describe(cause));
    } catch (InterruptedException e) {
      result(name, false, "interrupted");
      Thread.currentThread().interrupt();
    }
  }

  private static void check(boolean condition, String message) throws Check {
    if (!condition) throw new Check(message);
  }

  private static void checkEq(Object expected, Object actual, String what) throws Check {
    if (!Objects.equals(expected, actual)) {
      throw new Check(what + ": expected <" + expected + "> but got <" + actual + ">");
    }
  }

  private static Connection connectAs(String jdbcUrl, String u, String p, String... extra)
      throws SQLException {
    Properties props = new Properties();
    props.setProperty("user", u);
    props.setProperty("password", p);
    props.setProperty("connectTimeout", "10");
    props.setProperty("loginTimeout", "20");
    props.setProperty("socketTimeout", "60");
    props.setProperty("sslmode", "disable");
    for (String kv : extra) {
      int eq = kv.indexOf('=');
      props.setProperty(kv.substring(0, eq), kv.substring(eq + 1));
    }
    return DriverManager.getConnection(jdbcUrl, props);
  }

  private static Connection connect(String... extra) throws SQLException {
    return connectAs(url, user, password, extra);
  }

  private static String t(String name) {
    return prefix + "_" + name;
  }

  private static long count(Connection c, String sql) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private static String scalar(Connection c, String sql) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getString(1);
    }
  }

  // ---- setup ----------------------------------------------------------------------------------

  private static void setup() throws SQLException {
    try (Connection c = connect();
        Statement s = c.createStatement()) {
      teardown(s);
      s.execute(
          "CREATE TABLE "
              + t("items")
              + " (id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0)");
      s.execute(
          "CREATE TABLE "
              + t("types")
              + " (id serial PRIMARY KEY, i4 int4, i8 int8, num numeric, txt text, bin bytea,"
              + " b bool, ts timestamptz, d date, j jsonb, ia int4[], ta text[], nul text)");
      s.execute("CREATE TABLE " + t("parent") + " (id int PRIMARY KEY, label text)");
      s.execute(
          "CREATE TABLE "
              + t("child")
              + " (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES "
              + t("parent")
              + " (id), note varchar(40))");
      s.execute("CREATE INDEX " + t("child_parent_idx") + " ON " + t("child") + " (parent_id)");
    }
  }

  private static void teardown() throws SQLException {
    try (Connection c = connect();
        Statement s = c.createStatement()) {
      teardown(s);
    }
  }

  private static void teardown(Statement s) throws SQLException {
    for (String name : new String[] {"child", "parent", "types", "items"}) {
      s.execute("DROP TABLE IF EXISTS " + t(name));
    }
  }

  // ---- features -------------------------------------------------------------------------------

  private static void login(String jdbcUrl, String u, String p) throws Exception {
    try (Connection c = connectAs(jdbcUrl, u, p)) {
      checkEq(u, scalar(c, "SELECT current_user"), "current_user");
      checkEq("UTF8", scalar(c, "SHOW client_encoding"), "client_encoding");
      check(!c.getMetaData().getDatabaseProductVersion().isEmpty(), "empty server version");
    }
  }

  private static void loginWrongPassword() throws Exception {
    try (Connection c = connectAs(url, ARGS.get("scramUser"), "definitely-not-the-password")) {
      throw new Check("login with a wrong password succeeded");
    } catch (SQLException e) {
      checkEq("28P01", e.getSQLState(), "SQLState of a wrong password (" + e.getMessage() + ")");
    }
  }

  /** ApplicationName and currentSchema (search_path) travel in the StartupMessage. */
  private static void startupParameters() throws Exception {
    try (Connection c =
        connect("ApplicationName=docfusion-jdbc-suite", "currentSchema=pg_catalog,public")) {
      // Run twice: in transaction pooling each statement may land on another upstream connection.
      for (int i = 0; i < 2; i++) {
        checkEq("docfusion-jdbc-suite", scalar(c, "SELECT current_setting('application_name')"), "application_name");
        // Postgres keeps a startup parameter's text as sent (no space after the comma).
        checkEq("pg_catalog,public", scalar(c, "SHOW search_path"), "search_path");
        checkEq("{pg_catalog,public}", scalar(c, "SELECT current_schemas(false)::text"), "current_schemas");
        checkEq("pg_catalog", c.getSchema(), "getSchema()");
      }
    }
  }

  private static void simpleStatements() throws Exception {
    try (Connection c = connect();
        Statement s = c.createStatement()) {
      checkEq(
          2,
          s.executeUpdate("INSERT INTO " + t("items") + " VALUES (1, 'one', 10), (2, 'two', 20)"),
          "insert count");
      checkEq(1, s.executeUpdate("UPDATE " + t("items") + " SET qty = qty + 1 WHERE id = 1"), "update count");
      List<String> rows = new ArrayList<>();
      try (ResultSet rs = s.executeQuery("SELECT id, name, qty FROM " + t("items") + " WHERE id < 100 ORDER BY id")) {
        while (rs.next()) rows.add(rs.getInt(1) + ":" + rs.getString(2) + ":" + rs.getInt(3));
      }
      checkEq(List.of("1:one:11", "2:two:20"), rows, "rows");
      checkEq(1, s.executeUpdate("DELETE FROM " + t("items") + " WHERE id = 2"), "delete count");
      // Several statements in one execute: pgjdbc sends them as one batch of protocol messages.
      check(s.execute("SELECT 1 AS a; SELECT 'two' AS b; UPDATE " + t("items") + " SET qty = 0 WHERE id = 1"), "first result is not a result set");
      try (ResultSet rs = s.getResultSet()) {
        rs.next();
        checkEq(1, rs.getInt(1), "multi-statement result 1");
      }
      check(s.getMoreResults(), "no second result set");
      try (ResultSet rs = s.getResultSet()) {
        rs.next();
        checkEq("two", rs.getString(1), "multi-statement result 2");
      }
      check(!s.getMoreResults(), "third result should be an update count");
      checkEq(1, s.getUpdateCount(), "multi-statement update count");
      checkEq(0L, count(c, "SELECT sum(qty) FROM " + t("items") + " WHERE id < 100"), "qty after update");
      s.execute("");
      checkEq("42", scalar(c, "SELECT 42"), "after empty query");
    }
  }

  /** preferQueryMode=simple: pgjdbc inlines the parameters and sends simple Query messages. */
  private static void simpleQueryMode() throws Exception {
    try (Connection c = connect("preferQueryMode=simple");
        PreparedStatement ps = c.prepareStatement("SELECT ?::int + 1, ?::text, ?::date, ?::numeric")) {
      for (int i = 0; i < 3; i++) {
        ps.setInt(1, 41 + i);
        ps.setString(2, "it's ü 🐘 \\ done");
        ps.setObject(3, Expected.D);
        ps.setBigDecimal(4, Expected.NUM);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          checkEq(42 + i, rs.getInt(1), "int param");
          checkEq("it's ü 🐘 \\ done", rs.getString(2), "text param");
          checkEq(Expected.D, rs.getObject(3, LocalDate.class), "date param");
          checkEq(0, Expected.NUM.compareTo(rs.getBigDecimal(4)), "numeric param");
        }
      }
      try (Statement s = c.createStatement()) {
        check(s.execute("SELECT 1; SELECT 2"), "multi-statement simple query");
        check(s.getMoreResults(), "second result of a simple multi-statement query");
      }
      checkEq("7", scalar(c, "SELECT 7"), "query after multi-statement");
    }
  }

  /** The values every typed test writes and expects back. */
  static final class Expected {
    static final int I4 = Integer.MIN_VALUE;
    static final long I8 = Long.MAX_VALUE;
    static final BigDecimal NUM = new BigDecimal("-12345678901234567890.000000000123456789");
    static final String TXT = "héllo wörld — 你好 🐘 'single' \"double\" \\back\\slash\ttab\nnewline";
    static final byte[] BIN = bytes();
    static final OffsetDateTime TS = OffsetDateTime.of(2024, 2, 29, 23, 59, 58, 123456000, ZoneOffset.ofHours(5));
    static final LocalDate D = LocalDate.of(1999, 12, 31);
    static final String J = "{\"a\": [1, 2.5, null, true], \"ü\": {\"nested\": \"🐘\"}}";
    static final Integer[] IA = {1, null, -3, Integer.MAX_VALUE};
    static final String[] TA = {"a", "b c", "ü,\"x\"", null, "NULL"};

    private static byte[] bytes() {
      byte[] b = new byte[256];
      for (int i = 0; i < b.length; i++) b[i] = (byte) i;
      return b;
    }
  }

  private static int insertTypes(Connection c) throws Exception {
    String sql =
        "INSERT INTO "
            + t("types")
            + " (i4, i8, num, txt, bin, b, ts, d, j, ia, ta, nul) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            + " RETURNING id";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setInt(1, Expected.I4);
      ps.setLong(2, Expected.I8);
      ps.setBigDecimal(3, Expected.NUM);
      ps.setString(4, Expected.TXT);
      ps.setBytes(5, Expected.BIN);
      ps.setBoolean(6, true);
      ps.setObject(7, Expected.TS);
      ps.setObject(8, Expected.D);
      PGobject json = new PGobject();
      json.setType("jsonb");
      json.setValue(Expected.J);
      ps.setObject(9, json);
      ps.setArray(10, c.createArrayOf("int4", Expected.IA));
      ps.setArray(11, c.createArrayOf("text", Expected.TA));
      ps.setNull(12, Types.VARCHAR);
      try (ResultSet rs = ps.executeQuery()) {
        check(rs.next(), "INSERT … RETURNING returned no row");
        return rs.getInt(1);
      }
    }
  }

  private static void checkTypesRow(ResultSet rs, String context) throws Exception {
    checkEq(Expected.I4, rs.getInt("i4"), context + " int4");
    checkEq(Expected.I8, rs.getLong("i8"), context + " int8");
    BigDecimal num = rs.getBigDecimal("num");
    check(num != null && num.compareTo(Expected.NUM) == 0, context + " numeric: got " + num);
    checkEq(Expected.TXT, rs.getString("txt"), context + " text");
    check(Arrays.equals(Expected.BIN, rs.getBytes("bin")), context + " bytea: got " + Arrays.toString(rs.getBytes("bin")));
    checkEq(true, rs.getBoolean("b"), context + " bool");
    OffsetDateTime ts = rs.getObject("ts", OffsetDateTime.class);
    check(ts != null && ts.toInstant().equals(Expected.TS.toInstant()), context + " timestamptz: got " + ts);
    checkEq(Expected.D, rs.getObject("d", LocalDate.class), context + " date");
    checkEq("{\"a\": [1, 2.5, null, true], \"ü\": {\"nested\": \"🐘\"}}", rs.getString("j"), context + " jsonb");
    Array ia = rs.getArray("ia");
    checkEq(Arrays.asList(Expected.IA), Arrays.asList((Integer[]) ia.getArray()), context + " int4[]");
    Array ta = rs.getArray("ta");
    checkEq(Arrays.asList(Expected.TA), Arrays.asList((String[]) ta.getArray()), context + " text[]");
    checkEq(null, rs.getString("nul"), context + " NULL");
    check(rs.wasNull(), context + " wasNull() after NULL");
  }

  private static final String SELECT_TYPES = "SELECT i4, i8, num, txt, bin, b, ts, d, j, ia, ta, nul FROM ";

  private static void preparedTypes() throws Exception {
    try (Connection c = connect()) {
      int id = insertTypes(c);
      try (PreparedStatement ps = c.prepareStatement(SELECT_TYPES + t("types") + " WHERE id = ?")) {
        ps.setInt(1, id);
        try (ResultSet rs = ps.executeQuery()) {
          check(rs.next(), "row " + id + " not found");
          checkTypesRow(rs, "text format");
        }
      }
      // Parameters of more types, echoed straight back.
      UUID uuid = UUID.fromString("6f1c2a44-0b7e-4c1e-9a51-2f4d3c5b6a79");
      try (PreparedStatement ps =
          c.prepareStatement("SELECT ?::float8, ?::uuid, ?::int2, ?::text IS NULL, ?::interval, ?::numeric")) {
        ps.setDouble(1, -1.5e300);
        ps.setObject(2, uuid);
        ps.setShort(3, Short.MIN_VALUE);
        ps.setNull(4, Types.VARCHAR);
        ps.setString(5, "1 day 02:03:04");
        ps.setBigDecimal(6, new BigDecimal("0.000001"));
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          checkEq(-1.5e300, rs.getDouble(1), "float8");
          checkEq(uuid, rs.getObject(2, UUID.class), "uuid");
          checkEq(Short.MIN_VALUE, rs.getShort(3), "int2");
          checkEq(true, rs.getBoolean(4), "NULL parameter");
          checkEq("1 day 02:03:04", rs.getString(5), "interval");
          checkEq(new BigDecimal("0.000001"), rs.getBigDecimal(6), "small numeric");
        }
      }
    }
  }

  private static void prepareThresholdBinary() throws Exception {
    try (Connection c = connect("prepareThreshold=3", "binaryTransfer=true")) {
      int id = insertTypes(c);
      try (PreparedStatement ps = c.prepareStatement(SELECT_TYPES + t("types") + " WHERE id = ? AND i8 = ?")) {
        PGStatement pgs = ps.unwrap(PGStatement.class);
        checkEq(3, pgs.getPrepareThreshold(), "prepareThreshold");
        for (int i = 1; i <= 10; i++) {
          ps.setInt(1, id); // pgjdbc sends int4 and int8 parameters in binary
          ps.setLong(2, Expected.I8);
          try (ResultSet rs = ps.executeQuery()) {
            check(rs.next(), "execution " + i + ": row " + id + " not found");
            checkTypesRow(rs, "execution " + i);
            check(!rs.next(), "execution " + i + ": more than one row");
            if (i == 10) {
              PGResultSetMetaData md = rs.getMetaData().unwrap(PGResultSetMetaData.class);
              checkEq(1, md.getFormat(1), "result format of int4 after prepareThreshold (1 = binary)");
              checkEq(1, md.getFormat(2), "result format of int8 after prepareThreshold (1 = binary)");
            }
          }
        }
        check(pgs.isUseServerPrepare(), "statement is not server-prepared after 10 executions");
        if (!transactionPool) {
          // Session pooling keeps one upstream connection: the named statement lives there.
          long named =
              count(
                  c,
                  "SELECT count(*) FROM pg_prepared_statements WHERE name <> '' AND statement LIKE '%"
                      + t("types")
                      + " WHERE id = $1 AND i8 = $2%'");
          check(named >= 1, "no named server statement in pg_prepared_statements");
        }
      }
    }
  }

  private static void transactionRollback() throws Exception {
    try (Connection c = connect()) {
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + t("items") + " (id, name) VALUES (?, ?)")) {
        ps.setInt(1, 100);
        ps.setString(2, "rolled back");
        ps.executeUpdate();
        checkEq(1L, count(c, "SELECT count(*) FROM " + t("items") + " WHERE id = 100"), "row visible in its transaction");
        c.rollback();
        checkEq(0L, count(c, "SELECT count(*) FROM " + t("items") + " WHERE id = 100"), "row after rollback");
        c.commit();
        ps.setInt(1, 101);
        ps.setString(2, "committed");
        ps.executeUpdate();
        c.commit();
      }
      c.setAutoCommit(true);
    }
    try (Connection other = connect()) {
      checkEq(0L, count(other, "SELECT count(*) FROM " + t("items") + " WHERE id = 100"), "rolled-back row seen elsewhere");
      checkEq(1L, count(other, "SELECT count(*) FROM " + t("items") + " WHERE id = 101"), "committed row seen elsewhere");
    }
  }

  private static void savepoint() throws Exception {
    try (Connection c = connect()) {
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.executeUpdate("INSERT INTO " + t("items") + " (id, name) VALUES (200, 'before')");
        Savepoint sp = c.setSavepoint("sp_one");
        s.executeUpdate("INSERT INTO " + t("items") + " (id, name) VALUES (201, 'undone')");
        c.rollback(sp);
        Savepoint sp2 = c.setSavepoint();
        s.executeUpdate("INSERT INTO " + t("items") + " (id, name) VALUES (202, 'kept')");
        c.releaseSavepoint(sp2);
        // An error inside a savepoint, rolled back to it: the transaction goes on.
        Savepoint sp3 = c.setSavepoint("sp_error");
        try {
          s.executeUpdate("INSERT INTO " + t("items") + " (id, name) VALUES (200, 'duplicate')");
          throw new Check("duplicate key was accepted");
        } catch (SQLException e) {
          checkEq("23505", e.getSQLState(), "duplicate key SQLState");
        }
        c.rollback(sp3);
        s.executeUpdate("INSERT INTO " + t("items") + " (id, name) VALUES (203, 'after error')");
        c.commit();
      }
      c.setAutoCommit(true);
      List<Integer> ids = new ArrayList<>();
      try (Statement s = c.createStatement();
          ResultSet rs = s.executeQuery("SELECT id FROM " + t("items") + " WHERE id BETWEEN 200 AND 299 ORDER BY id")) {
        while (rs.next()) ids.add(rs.getInt(1));
      }
      checkEq(List.of(200, 202, 203), ids, "ids after savepoints");
    }
  }

  private static void errorRecovery() throws Exception {
    try (Connection c = connect();
        Statement s = c.createStatement()) {
      try {
        s.executeQuery("SELEC 1");
        throw new Check("bad SQL was accepted");
      } catch (SQLException e) {
        checkEq("42601", e.getSQLState(), "syntax error SQLState");
      }
      checkEq("1", scalar(c, "SELECT 1"), "query after a syntax error");
      try (PreparedStatement ps = c.prepareStatement("SELECT * FROM " + t("no_such_table") + " WHERE id = ?")) {
        ps.setInt(1, 1);
        ps.executeQuery();
        throw new Check("a missing table was accepted");
      } catch (SQLException e) {
        checkEq("42P01", e.getSQLState(), "undefined table SQLState");
      }
      try (PreparedStatement ps = c.prepareStatement("SELECT 1 / ?")) {
        ps.setInt(1, 0);
        ps.executeQuery();
        throw new Check("division by zero was accepted");
      } catch (SQLException e) {
        checkEq("22012", e.getSQLState(), "division by zero SQLState");
      }
      checkEq("2", scalar(c, "SELECT 2"), "query after execution errors");
      check(c.isValid(5), "connection not valid after errors");
    }
  }

  /** pgjdbc pipelines BEGIN with the failing statement; the transaction is then aborted (25P02). */
  private static void errorInTransaction() throws Exception {
    try (Connection c = connect()) {
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        try {
          s.executeQuery("SELECT * FROM " + t("no_such_table"));
          throw new Check("a missing table was accepted");
        } catch (SQLException e) {
          checkEq("42P01", e.getSQLState(), "first statement error");
        }
        try {
          s.executeQuery("SELECT 1");
          throw new Check("a statement in an aborted transaction was accepted");
        } catch (SQLException e) {
          checkEq("25P02", e.getSQLState(), "aborted transaction SQLState");
        }
        c.rollback();
        checkEq("3", scalar(c, "SELECT 3"), "query after rollback");
        c.commit();
      }
      c.setAutoCommit(true);
      checkEq("4", scalar(c, "SELECT 4"), "autocommit query after the aborted transaction");
    }
  }

  private static void batchInsert() throws Exception {
    try (Connection c = connect()) {
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + t("items") + " (id, name, qty) VALUES (?, ?, ?)")) {
        for (int i = 0; i < 250; i++) {
          ps.setInt(1, 1000 + i);
          ps.setString(2, "batch-" + i);
          ps.setInt(3, i);
          ps.addBatch();
        }
        int[] counts = ps.executeBatch();
        checkEq(250, counts.length, "batch result count");
        for (int n : counts) check(n == 1 || n == Statement.SUCCESS_NO_INFO, "batch update count " + n);
      }
      try (Statement s = c.createStatement()) {
        s.addBatch("UPDATE " + t("items") + " SET qty = qty + 1 WHERE id BETWEEN 1000 AND 1099");
        s.addBatch("DELETE FROM " + t("items") + " WHERE id BETWEEN 1200 AND 1249");
        int[] counts = s.executeBatch();
        checkEq("[100, 50]", Arrays.toString(counts), "statement batch counts");
      }
      c.commit();
      c.setAutoCommit(true);
      checkEq(200L, count(c, "SELECT count(*) FROM " + t("items") + " WHERE id BETWEEN 1000 AND 1999"), "rows after batch");
      checkEq(
          (long) (199 * 200 / 2 + 100),
          count(c, "SELECT sum(qty) FROM " + t("items") + " WHERE id BETWEEN 1000 AND 1999"),
          "qty sum after batch");
    }
  }

  private static void batchRewrite() throws Exception {
    try (Connection c = connect("reWriteBatchedInserts=true");
        PreparedStatement ps = c.prepareStatement("INSERT INTO " + t("items") + " (id, name, qty) VALUES (?, ?, ?)")) {
      for (int i = 0; i < 300; i++) {
        ps.setInt(1, 2000 + i);
        ps.setString(2, "rewritten-" + i);
        ps.setInt(3, 1);
        ps.addBatch();
      }
      ps.executeBatch();
      checkEq(300L, count(c, "SELECT count(*) FROM " + t("items") + " WHERE id BETWEEN 2000 AND 2999"), "rows after rewritten batch");
    }
  }

  private static void copyIn() throws Exception {
    try (Connection c = connect()) {
      CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
      StringBuilder csv = new StringBuilder();
      for (int i = 0; i < 1000; i++) {
        csv.append(5000 + i).append(",\"copy, ").append(i).append(" ü\"").append(',').append(i % 7).append('\n');
      }
      long rows = copy.copyIn("COPY " + t("items") + " (id, name, qty) FROM STDIN WITH (FORMAT csv)", new StringReader(csv.toString()));
      checkEq(1000L, rows, "COPY FROM STDIN row count");
      checkEq(1000L, count(c, "SELECT count(*) FROM " + t("items") + " WHERE id BETWEEN 5000 AND 5999"), "rows after COPY");
      checkEq("copy, 42 ü", scalar(c, "SELECT name FROM " + t("items") + " WHERE id = 5042"), "copied text");
      // A COPY that fails midway (bad data): the error comes back and the connection recovers.
      try {
        copy.copyIn("COPY " + t("items") + " (id, name, qty) FROM STDIN WITH (FORMAT csv)", new StringReader("6000,ok,1\nnot-a-number,bad,2\n"));
        throw new Check("COPY of bad data was accepted");
      } catch (SQLException e) {
        checkEq("22P02", e.getSQLState(), "bad COPY data SQLState");
      }
      checkEq(0L, count(c, "SELECT count(*) FROM " + t("items") + " WHERE id = 6000"), "rows after failed COPY");
    }
  }

  private static void copyOut() throws Exception {
    try (Connection c = connect()) {
      try (Statement s = c.createStatement()) {
        s.executeUpdate("INSERT INTO " + t("items") + " (id, name, qty) SELECT g, 'out-' || g, g FROM generate_series(7000, 7499) g");
      }
      CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
      StringWriter out = new StringWriter();
      long rows =
          copy.copyOut(
              "COPY (SELECT id, name, qty FROM " + t("items") + " WHERE id BETWEEN 7000 AND 7499 ORDER BY id) TO STDOUT WITH (FORMAT csv)",
              out);
      checkEq(500L, rows, "COPY TO STDOUT row count");
      String[] lines = out.toString().split("\n");
      checkEq(500, lines.length, "COPY TO STDOUT lines");
      checkEq("7000,out-7000,7000", lines[0], "first COPY line");
      checkEq("7499,out-7499,7499", lines[499], "last COPY line");
      checkEq("5", scalar(c, "SELECT 5"), "query after COPY TO STDOUT");
    }
  }

  private static void cancel() throws Exception {
    try (Connection c = connect();
        Statement s = c.createStatement()) {
      Thread canceller =
          new Thread(
              () -> {
                try {
                  Thread.sleep(700);
                  s.cancel();
                } catch (Exception e) {
                  log("cancel thread: " + describe(e));
                }
              });
      canceller.setDaemon(true);
      long start = System.nanoTime();
      canceller.start();
      try {
        s.executeQuery("SELECT pg_sleep(10)");
        throw new Check("pg_sleep(10) finished without being cancelled");
      } catch (SQLException e) {
        checkEq("57014", e.getSQLState(), "SQLState of a cancelled statement (" + e.getMessage() + ")");
      }
      long ms = (System.nanoTime() - start) / 1_000_000;
      check(ms < 8000, "cancel took " + ms + "ms");
      canceller.join(5000);
      checkEq("6", scalar(c, "SELECT 6"), "query after cancel");
    }
  }

  private static void metadataTables() throws Exception {
    try (Connection c = connect()) {
      DatabaseMetaData md = c.getMetaData();
      // Metabase asks for these types; DBeaver passes null.
      String[] types = {"TABLE", "PARTITIONED TABLE", "VIEW", "FOREIGN TABLE", "MATERIALIZED VIEW"};
      Set<String> found = new HashSet<>();
      try (ResultSet rs = md.getTables(null, "public", prefix + "%", types)) {
        while (rs.next()) {
          found.add(rs.getString("TABLE_NAME") + "/" + rs.getString("TABLE_TYPE") + "/" + rs.getString("TABLE_SCHEM"));
        }
      }
      for (String name : new String[] {"items", "types", "parent", "child"}) {
        check(found.contains(t(name) + "/TABLE/public"), "getTables is missing " + t(name) + ": " + found);
      }
      int all = 0;
      try (ResultSet rs = md.getTables(null, null, "%", null)) {
        while (rs.next()) all++;
      }
      check(all >= 4, "getTables(null, null, %, null) returned " + all + " rows");
      try (ResultSet rs = md.getTableTypes()) {
        Set<String> tableTypes = new HashSet<>();
        while (rs.next()) tableTypes.add(rs.getString(1));
        check(tableTypes.contains("TABLE") && tableTypes.contains("VIEW"), "getTableTypes: " + tableTypes);
      }
    }
  }

  private static void metadataColumns() throws Exception {
    try (Connection c = connect()) {
      DatabaseMetaData md = c.getMetaData();
      List<String> cols = new ArrayList<>();
      try (ResultSet rs = md.getColumns(null, "public", t("types"), "%")) {
        while (rs.next()) {
          cols.add(rs.getInt("ORDINAL_POSITION") + ":" + rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME"));
        }
      }
      checkEq(
          List.of(
              "1:id:serial", "2:i4:int4", "3:i8:int8", "4:num:numeric", "5:txt:text", "6:bin:bytea",
              "7:b:bool", "8:ts:timestamptz", "9:d:date", "10:j:jsonb", "11:ia:_int4", "12:ta:_text",
              "13:nul:text"),
          cols,
          "getColumns");
      try (ResultSet rs = md.getColumns(null, "public", t("child"), "note")) {
        check(rs.next(), "getColumns(note) returned nothing");
        checkEq(40, rs.getInt("COLUMN_SIZE"), "varchar(40) COLUMN_SIZE");
        checkEq(Types.VARCHAR, rs.getInt("DATA_TYPE"), "varchar DATA_TYPE");
        checkEq("YES", rs.getString("IS_NULLABLE"), "IS_NULLABLE");
      }
    }
  }

  private static void metadataPrimaryKeys() throws Exception {
    try (Connection c = connect()) {
      DatabaseMetaData md = c.getMetaData();
      try (ResultSet rs = md.getPrimaryKeys(null, "public", t("items"))) {
        check(rs.next(), "getPrimaryKeys returned nothing");
        checkEq("id", rs.getString("COLUMN_NAME"), "primary key column");
        checkEq(t("items") + "_pkey", rs.getString("PK_NAME"), "primary key name");
        check(!rs.next(), "more than one primary key column");
      }
    }
  }

  private static void metadataSchemas() throws Exception {
    try (Connection c = connect()) {
      DatabaseMetaData md = c.getMetaData();
      Set<String> schemas = new HashSet<>();
      try (ResultSet rs = md.getSchemas()) {
        while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM"));
      }
      check(schemas.contains("public") && schemas.contains("pg_catalog") && schemas.contains("information_schema"), "getSchemas: " + schemas);
      try (ResultSet rs = md.getSchemas(null, "pub%")) {
        check(rs.next() && "public".equals(rs.getString(1)), "getSchemas(null, pub%)");
      }
      Set<String> catalogs = new HashSet<>();
      try (ResultSet rs = md.getCatalogs()) {
        while (rs.next()) catalogs.add(rs.getString(1));
      }
      check(catalogs.contains(c.getCatalog()), "getCatalogs " + catalogs + " lacks " + c.getCatalog());
    }
  }

  private static void metadataTypeInfo() throws Exception {
    try (Connection c = connect()) {
      DatabaseMetaData md = c.getMetaData();
      Set<String> names = new HashSet<>();
      int rows = 0;
      try (ResultSet rs = md.getTypeInfo()) {
        while (rs.next()) {
          names.add(rs.getString("TYPE_NAME"));
          rows++;
        }
      }
      for (String name : new String[] {"int4", "int8", "text", "numeric", "jsonb", "timestamptz", "bytea", "bool"}) {
        check(names.contains(name), "getTypeInfo lacks " + name + " (" + rows + " rows)");
      }
      check(md.getDatabaseMajorVersion() >= 12, "getDatabaseMajorVersion " + md.getDatabaseMajorVersion());
      check(md.getDatabaseProductName().equals("PostgreSQL"), "product name " + md.getDatabaseProductName());
    }
  }

  private static void metadataKeysIndexes() throws Exception {
    try (Connection c = connect()) {
      DatabaseMetaData md = c.getMetaData();
      try (ResultSet rs = md.getImportedKeys(null, "public", t("child"))) {
        check(rs.next(), "getImportedKeys returned nothing");
        checkEq(t("parent"), rs.getString("PKTABLE_NAME"), "PKTABLE_NAME");
        checkEq("id", rs.getString("PKCOLUMN_NAME"), "PKCOLUMN_NAME");
        checkEq("parent_id", rs.getString("FKCOLUMN_NAME"), "FKCOLUMN_NAME");
      }
      try (ResultSet rs = md.getExportedKeys(null, "public", t("parent"))) {
        check(rs.next(), "getExportedKeys returned nothing");
        checkEq(t("child"), rs.getString("FKTABLE_NAME"), "FKTABLE_NAME");
      }
      Set<String> indexes = new HashSet<>();
      try (ResultSet rs = md.getIndexInfo(null, "public", t("child"), false, true)) {
        while (rs.next()) if (rs.getString("INDEX_NAME") != null) indexes.add(rs.getString("INDEX_NAME"));
      }
      check(indexes.contains(t("child_pkey")) && indexes.contains(t("child_parent_idx")), "getIndexInfo: " + indexes);
    }
  }

  /**
   * With autocommit off, pgjdbc sends BEGIN in the same protocol batch as the first statement
   * (Parse/Bind/Execute BEGIN, Parse/Bind/Describe/Execute, Sync).
   */
  private static void pipelinedBegin() throws Exception {
    try (Connection c = connect()) {
      c.setAutoCommit(false);
      try (PreparedStatement ins = c.prepareStatement("INSERT INTO " + t("items") + " (id, name) VALUES (?, ?)");
          Statement s = c.createStatement()) {
        ins.setInt(1, 300);
        ins.setString(2, "pipelined");
        checkEq(1, ins.executeUpdate(), "first statement of the transaction");
        String xid = scalar(c, "SELECT pg_current_xact_id_if_assigned()::text");
        check(xid != null, "no transaction id after the first INSERT: BEGIN was not applied");
        String now1 = scalar(c, "SELECT now()::text");
        Thread.sleep(20);
        checkEq(now1, scalar(c, "SELECT now()::text"), "now() inside one transaction");
        checkEq(xid, scalar(c, "SELECT pg_current_xact_id_if_assigned()::text"), "transaction id");
        c.rollback();
        checkEq(0L, count(c, "SELECT count(*) FROM " + t("items") + " WHERE id = 300"), "rows after rollback");
        // Same again with a SELECT first, then commit.
        checkEq("1", scalar(c, "SELECT 1"), "first SELECT of the transaction");
        ins.setInt(1, 301);
        ins.setString(2, "committed");
        ins.executeUpdate();
        c.commit();
      }
      c.setAutoCommit(true);
      checkEq(1L, count(c, "SELECT count(*) FROM " + t("items") + " WHERE id = 301"), "committed row");
    }
  }

  private static void extendedCacheEverything() throws Exception {
    try (Connection c = connect("preferQueryMode=extendedCacheEverything", "prepareThreshold=1", "binaryTransfer=true")) {
      try (Statement s = c.createStatement()) {
        for (int i = 0; i < 5; i++) {
          try (ResultSet rs = s.executeQuery("SELECT count(*), max(g) FROM generate_series(1, 200) g")) {
            rs.next();
            checkEq(200L, rs.getLong(1), "cached statement count (run " + i + ")");
            checkEq(200, rs.getInt(2), "cached statement max (run " + i + ")");
          }
        }
      }
      try (PreparedStatement ps = c.prepareStatement(SELECT_TYPES + t("types") + " WHERE id = ?")) {
        int id = insertTypes(c);
        for (int i = 0; i < 5; i++) {
          ps.setInt(1, id);
          try (ResultSet rs = ps.executeQuery()) {
            check(rs.next(), "row not found");
            checkTypesRow(rs, "cached run " + i);
          }
        }
      }
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.executeUpdate("INSERT INTO " + t("items") + " (id, name) VALUES (400, 'cached tx')");
        c.rollback();
        checkEq(0L, count(c, "SELECT count(*) FROM " + t("items") + " WHERE id = 400"), "rows after rollback");
        c.commit();
      }
    }
  }

  /**
   * setFetchSize with autocommit off: pgjdbc executes a named portal with a row limit and reads
   * it in chunks (Execute n → PortalSuspended → Execute n …), two portals interleaved.
   */
  private static void fetchSizePortal() throws Exception {
    try (Connection c = connect()) {
      c.setAutoCommit(false);
      try (PreparedStatement a = c.prepareStatement("SELECT g, repeat('x', g % 50) FROM generate_series(1, ?) g ORDER BY g");
          PreparedStatement b = c.prepareStatement("SELECT g FROM generate_series(1001, 1100) g ORDER BY g")) {
        a.setFetchSize(10);
        b.setFetchSize(7);
        a.setInt(1, 95);
        try (ResultSet ra = a.executeQuery();
            ResultSet rb = b.executeQuery()) {
          int n = 0;
          long sumB = 0;
          while (ra.next()) {
            n++;
            checkEq(n, ra.getInt(1), "row order in a fetched portal");
            checkEq("x".repeat(n % 50), ra.getString(2), "text in a fetched portal");
            if (rb.next()) sumB += rb.getInt(1);
          }
          while (rb.next()) sumB += rb.getInt(1);
          checkEq(95, n, "rows read through a portal with fetchSize 10");
          checkEq((1001L + 1100L) * 100 / 2, sumB, "sum read through an interleaved portal");
        }
      }
      c.commit();
      c.setAutoCommit(true);
      checkEq("8", scalar(c, "SELECT 8"), "query after portals");
    }
  }

  private static void callableStatement() throws Exception {
    try (Connection c = connect();
        java.sql.CallableStatement cs = c.prepareCall("{? = call upper(?)}")) {
      cs.registerOutParameter(1, Types.VARCHAR);
      cs.setString(2, "docfusion");
      cs.execute();
      checkEq("DOCFUSION", cs.getString(1), "{? = call upper(?)}");
      try (Statement s = c.createStatement();
          ResultSet rs = s.executeQuery("SELECT {fn ucase('abc')}, {d '2024-02-29'}")) {
        rs.next();
        checkEq("ABC", rs.getString(1), "JDBC escape {fn ucase}");
        checkEq(LocalDate.of(2024, 2, 29), rs.getObject(2, LocalDate.class), "JDBC escape {d}");
      }
    }
  }

  /** Values of several MiB: frames split across many TCP reads in both directions. */
  private static void largeValues() throws Exception {
    try (Connection c = connect("prepareThreshold=1", "binaryTransfer=true");
        PreparedStatement ps = c.prepareStatement("SELECT ?::bytea, length(?::text), md5(?::bytea), ?::text")) {
      byte[] big = new byte[6 * 1024 * 1024];
      new java.util.Random(42).nextBytes(big);
      String text = "ü🐘".repeat(400_000);
      for (int i = 0; i < 2; i++) {
        ps.setBytes(1, big);
        ps.setString(2, text);
        ps.setBytes(3, big);
        ps.setString(4, text);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          check(Arrays.equals(big, rs.getBytes(1)), "6 MiB bytea round trip (run " + i + ")");
          checkEq(text.codePointCount(0, text.length()), rs.getInt(2), "length of a large text");
          java.security.MessageDigest md5 = java.security.MessageDigest.getInstance("MD5");
          checkEq(java.util.HexFormat.of().formatHex(md5.digest(big)), rs.getString(3), "md5 of a large bytea");
          checkEq(text, rs.getString(4), "large text round trip");
        }
      }
    }
  }

  /** NOTICE messages arrive as SQLWarnings; RAISE EXCEPTION keeps its SQLSTATE and detail. */
  private static void notices() throws Exception {
    try (Connection c = connect();
        Statement s = c.createStatement()) {
      s.execute("DO $$ BEGIN RAISE NOTICE 'docfusion notice %', 42; END $$");
      java.sql.SQLWarning warning = s.getWarnings();
      check(warning != null, "no SQLWarning for RAISE NOTICE");
      check(warning.getMessage().contains("docfusion notice 42"), "notice text: " + warning.getMessage());
      try {
        s.execute("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'P0099', MESSAGE = 'custom failure', DETAIL = 'the detail', HINT = 'the hint'; END $$");
        throw new Check("RAISE EXCEPTION did not fail");
      } catch (org.postgresql.util.PSQLException e) {
        checkEq("P0099", e.getSQLState(), "custom SQLSTATE");
        org.postgresql.util.ServerErrorMessage m = e.getServerErrorMessage();
        check(m != null, "no server error message");
        checkEq("custom failure", m.getMessage(), "error message");
        checkEq("the detail", m.getDetail(), "error detail");
        checkEq("the hint", m.getHint(), "error hint");
      }
    }
  }

  /** LISTEN on one connection, NOTIFY from another (in transaction pooling LISTEN pins the session). */
  private static void listenNotify() throws Exception {
    String channel = prefix + "_channel";
    try (Connection listener = connect();
        Connection notifier = connect()) {
      try (Statement s = listener.createStatement()) {
        s.execute("LISTEN " + channel);
      }
      try (PreparedStatement ps = notifier.prepareStatement("SELECT pg_notify(?, ?)")) {
        ps.setString(1, channel);
        ps.setString(2, "payload ü");
        ps.execute();
      }
      PGConnection pg = listener.unwrap(PGConnection.class);
      org.postgresql.PGNotification[] got = null;
      long deadline = System.nanoTime() + 10_000_000_000L;
      while ((got == null || got.length == 0) && System.nanoTime() < deadline) {
        got = pg.getNotifications(500);
      }
      check(got != null && got.length == 1, "notifications received: " + (got == null ? 0 : got.length));
      checkEq(channel, got[0].getName(), "channel");
      checkEq("payload ü", got[0].getParameter(), "payload");
      try (Statement s = listener.createStatement()) {
        s.execute("UNLISTEN *");
      }
    }
  }

  /**
   * Transaction pooling: six client connections share the pool's upstream connections (size 3,
   * passed as poolSize=), so they see at most that many backend pids.
   */
  private static void poolMultiplexing() throws Exception {
    int poolSize = Integer.parseInt(need("poolSize"));
    List<Connection> clients = new ArrayList<>();
    try {
      for (int i = 0; i < poolSize * 2; i++) clients.add(connect());
      Set<String> pids = new HashSet<>();
      for (int round = 0; round < 3; round++) {
        for (Connection c : clients) pids.add(scalar(c, "SELECT pg_backend_pid()"));
      }
      check(pids.size() <= poolSize, (poolSize * 2) + " clients used " + pids.size() + " backends: " + pids);
    } finally {
      for (Connection c : clients) c.close();
    }
  }

  /**
   * Six connections at once, each with prepareThreshold=1 so its first statement is the server
   * statement S_1 — a different query on each connection, the same name. In transaction pooling
   * they run interleaved over shared upstream connections and must each get their own rows.
   */
  private static void concurrentNamedStatements() throws Exception {
    int clients = 6;
    List<Future<String>> futures = new ArrayList<>();
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    try {
      for (int k = 0; k < clients; k++) {
        final int me = k;
        futures.add(
            pool.submit(
                () -> {
                  try (Connection c = connect("prepareThreshold=1", "binaryTransfer=true");
                      PreparedStatement ps =
                          c.prepareStatement("SELECT ?::int8 * " + (me + 2) + ", 'client-" + me + "'::text")) {
                    for (int i = 0; i < 25; i++) {
                      if (i % 5 == 4) c.setAutoCommit(false);
                      ps.setLong(1, i);
                      try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        if (rs.getLong(1) != (long) i * (me + 2) || !rs.getString(2).equals("client-" + me)) {
                          return "client " + me + " iteration " + i + " got " + rs.getLong(1) + "/" + rs.getString(2);
                        }
                      }
                      if (!c.getAutoCommit()) {
                        c.commit();
                        c.setAutoCommit(true);
                      }
                    }
                    return "";
                  }
                }));
      }
      for (Future<String> f : futures) {
        String problem = f.get(60, TimeUnit.SECONDS);
        check(problem.isEmpty(), problem);
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
