# frozen_string_literal: true

# ruby-pg through DocFusionDB: a scripted session.
#
# Usage: ruby docfusion_pg.rb
# Connection strings come from the environment variable DF_CONFIG, a JSON object:
#   dsn           the proxy (SCRAM, session pooling), as the upstream admin
#   direct_dsn    straight to Postgres (the oracle for differential checks)
#   tx_dsn        a proxy in transaction pooling mode (pool size 3)
#   scram_dsn     the proxy, as a SCRAM-stored role          (scram_user names it)
#   md5_dsn       a proxy with auth.method md5, md5 role       (md5_user)
#   password_dsn  a proxy with auth.method password, SCRAM role (password_user)
#   suffix        unique suffix for the tables this run creates
#
# Prints `VERSION <text>` and one `RESULT <feature> PASS|FAIL [detail]` line per feature
# (test/support/compat.ts parses them). Exits 0 when the script ran to the end, whatever the
# results; the vitest file (test/clients/ruby.test.ts) asserts each result.

require 'bigdecimal'
require 'date'
require 'json'
require 'pg'

CFG = JSON.parse(ENV.fetch('DF_CONFIG'))
T = "df_ruby_#{CFG.fetch('suffix')}"
$stdout.sync = true
$stderr.sync = true

puts "VERSION ruby-pg #{PG::VERSION} (libpq #{PG.library_version}, ruby #{RUBY_VERSION})"

class Check < StandardError; end

def expect(actual, expected, what)
  raise Check, "#{what}: expected #{expected.inspect}, got #{actual.inspect}" unless actual == expected
end

def one_line(text)
  text.to_s.split.join(' ')
end

RESULTS = []

def run(feature)
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  begin
    detail = yield
    line = "RESULT #{feature} PASS"
    line += " #{one_line(detail)}" if detail.is_a?(String) && !detail.empty?
  rescue StandardError => e
    warn "#{feature}: #{e.class}: #{e.message}\n  #{e.backtrace&.first(8)&.join("\n  ")}"
    line = "RESULT #{feature} FAIL #{e.class}: #{one_line(e.message)}"
  end
  puts line
  warn format('# %s took %.2fs', feature, Process.clock_gettime(Process::CLOCK_MONOTONIC) - started)
  RESULTS << line
end

def connect(key = 'dsn', extra = {})
  conn = PG.connect(CFG.fetch(key), **extra)
  conn.set_notice_processor { |_message| nil }
  conn
end

def with_conn(key = 'dsn', extra = {})
  conn = connect(key, extra)
  yield conn
ensure
  conn&.close
end

# ---- features -----------------------------------------------------------------------------------

def login(key, user_key)
  with_conn(key) do |conn|
    user = conn.exec('SELECT current_user').getvalue(0, 0)
    expect(user, CFG.fetch(user_key), 'current_user')
    "as #{user}"
  end
end

def wrong_password
  PG.connect("#{CFG.fetch('scram_dsn')} password=definitely-wrong").close
  raise Check, 'login with a wrong password succeeded'
rescue PG::ConnectionBad => e
  raise Check, "unexpected error: #{e.message}" unless e.message.include?('password authentication failed')

  "refused: #{one_line(e.message)[0, 80]}"
end

def exec_simple
  with_conn do |conn|
    res = conn.exec("SELECT 1 AS one, 'two'::text AS two, NULL::int AS three")
    expect(res.fields, %w[one two three], 'fields')
    expect(res.values, [['1', 'two', nil]], 'values')
    expect(res.ftype(0), 23, 'ftype int4')
    res = conn.exec('SELECT g, g * 2 FROM generate_series(1, 1000) g')
    expect(res.ntuples, 1000, 'ntuples')
    expect(res.values.last, %w[1000 2000], 'last row')
    conn.exec("CREATE TABLE #{T}_simple (id int PRIMARY KEY, note text)")
    res = conn.exec("INSERT INTO #{T}_simple VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    expect([res.cmd_status, res.cmd_tuples], ['INSERT 0 3', 3], 'INSERT status')
    # Several statements in one simple query: the last result is returned.
    res = conn.exec("UPDATE #{T}_simple SET note = note || '!' WHERE id >= 2; DELETE FROM #{T}_simple WHERE id = 1 RETURNING note")
    expect(res.values, [['a']], 'multi-statement query, last result')
    expect(conn.exec("SELECT id, note FROM #{T}_simple ORDER BY id").values, [%w[2 b!], %w[3 c!]], 'rows')
    expect(conn.exec('').result_status, PG::PGRES_EMPTY_QUERY, 'empty query')
    conn.exec("DROP TABLE #{T}_simple")
    nil
  end
end

UTC_TIME = Time.utc(2024, 3, 1, 12, 30, 45, 123_456)
SAMPLE = [
  ['int4', 42],
  ['int8', 2**40 + 7],
  ['int8', -(2**63)],
  ['numeric', BigDecimal('12345678901234567890.123456789')],
  ['float8', 3.25],
  ['text', "héllo wörld ✓ 日本語 🎉 'q' \"dq\" \\ back"],
  ['bytea', "\x00\x01\xFE\xFFbinary\x00".b],
  ['bool', true],
  ['bool', false],
  ['date', Date.new(2024, 2, 29)],
  ['timestamptz', UTC_TIME],
  ['uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
  ['jsonb', { 'a' => [1, 2, { 'b' => nil }], 'ü' => '✓' }],
  ['int4[]', [1, 2, 3]],
  ['text[]', ['a', 'b c', nil, 'ü']],
  ['int4', nil],
].freeze

def normalise(typ, value)
  case typ
  when 'timestamptz' then value&.utc
  when 'jsonb' then value.is_a?(String) ? JSON.parse(value) : value
  when 'bytea' then value&.b
  else value
  end
end

def exec_params_types
  with_conn do |conn|
    encoder = PG::BasicTypeMapForQueries.new(conn)
    conn.type_map_for_results = PG::BasicTypeMapForResults.new(conn)
    sql = "SELECT #{SAMPLE.each_with_index.map { |(typ, _), i| "$#{i + 1}::#{typ}" }.join(', ')}"
    # The type map sends the Hash as JSON, arrays as array literals, the rest as text; bytea in
    # its text (hex) form. binary-results sends a binary parameter.
    params = SAMPLE.map { |typ, value| typ == 'bytea' ? PG::TextEncoder::Bytea.new.encode(value) : value }
    res = conn.exec_params(sql, params, 0, encoder)
    row = res.values.first
    SAMPLE.each_with_index do |(typ, value), i|
      expect(normalise(typ, row[i]), value, "#{typ} (column #{i + 1})")
    end
    # The same values in Postgres's text form, through the proxy and straight.
    text_sql = "SELECT #{SAMPLE.each_index.map { |i| "$#{i + 1}::#{SAMPLE[i][0]}::text" }.join(', ')}"
    conn.type_map_for_results = PG::TypeMapAllStrings.new
    through_proxy = conn.exec_params(text_sql, params, 0, encoder).values
    direct = with_conn('direct_dsn') { |d| d.exec_params(text_sql, params, 0, PG::BasicTypeMapForQueries.new(d)).values }
    expect(through_proxy, direct, 'text forms (proxy vs direct)')
    "#{SAMPLE.size} values"
  end
end

def binary_results
  with_conn do |conn|
    sql = "SELECT 42::int4, (2^40)::int8, 3.25::float8, true, 'héllo ✓'::text, '\\x00ff01'::bytea, " \
          "'2024-03-01 12:30:45.123456+00'::timestamptz, NULL::int4"
    res = conn.exec_params(sql, [], 1)
    expect((0...res.nfields).map { |i| res.fformat(i) }, [1] * 8, 'result formats')
    expect(res.getvalue(0, 0), [42].pack('l>'), 'raw int4')
    expect(res.getvalue(0, 1), [2**40].pack('q>'), 'raw int8')
    expect(res.getvalue(0, 2), [3.25].pack('G'), 'raw float8')
    expect(res.getvalue(0, 3), "\x01".b, 'raw bool')
    expect(res.getvalue(0, 4).dup.force_encoding('UTF-8'), 'héllo ✓', 'raw text')
    expect(res.getvalue(0, 5), "\x00\xFF\x01".b, 'raw bytea')
    micros = ((UTC_TIME - Time.utc(2000, 1, 1)) * 1_000_000).round
    expect(res.getvalue(0, 6), [micros].pack('q>'), 'raw timestamptz')
    expect(res.getisnull(0, 7), true, 'NULL')
    res.type_map = PG::BasicTypeMapForResults.new(conn)
    expect(res.values.first.first(4), [42, 2**40, 3.25, true], 'decoded binary values')
    # Binary results of many rows, then text again on the same connection.
    res = conn.exec_params('SELECT g::int8 FROM generate_series(1, 5000) g', [], 1)
    expect(res.ntuples, 5000, 'binary rows')
    expect(res.getvalue(4999, 0).unpack1('q>'), 5000, 'last binary row')
    expect(conn.exec_params('SELECT $1::int + 1', [1]).getvalue(0, 0), '2', 'text after binary')
    # Binary parameters (format 1) with binary and text results.
    blob = "\x00\x01\xFE\xFF".b
    params = [{ value: blob, format: 1 }, { value: [7].pack('l>'), type: 23, format: 1 }]
    expect(conn.exec_params('SELECT $1::bytea, $2::int4 + 1', params, 1).values, [[blob, [8].pack('l>')]], 'binary params, binary results')
    expect(conn.exec_params('SELECT length($1::bytea), $2::int4', params, 0).values, [%w[4 7]], 'binary params, text results')
    'int4, int8, float8, bool, text, bytea, timestamptz in binary'
  end
end

def prepared_statements(key = 'dsn')
  with_conn(key) do |conn|
    conn.prepare('df_add', 'SELECT $1::int + $2::int AS sum, $3::text AS label')
    desc = conn.describe_prepared('df_add')
    expect([desc.nfields, desc.fname(0), desc.ftype(0), desc.nparams, desc.paramtype(2)], [2, 'sum', 23, 3, 25], 'describe_prepared')
    20.times do |i|
      res = conn.exec_prepared('df_add', [i, 1, "n#{i}"])
      expect(res.values, [[(i + 1).to_s, "n#{i}"]], 'exec_prepared')
    end
    res = conn.exec_prepared('df_add', [2, 3, 'bin'], 1)
    expect(res.getvalue(0, 0).unpack1('l>'), 5, 'exec_prepared with binary results')
    conn.transaction do |c|
      expect(c.exec_prepared('df_add', [5, 5, 'tx']).getvalue(0, 0), '10', 'inside a transaction')
    end
    begin
      conn.transaction do |c|
        c.exec_prepared('df_add', [1, 1, 'rolled back'])
        c.exec('SELECT 1/0')
      end
    rescue PG::DivisionByZero
      nil
    end
    expect(conn.exec_prepared('df_add', [7, 7, 'after rollback']).getvalue(0, 0), '14', 'after a rolled back transaction')
    begin
      conn.exec_prepared('no_such_statement', [])
      raise Check, 'an unknown statement ran'
    rescue PG::InvalidSqlStatementName
      nil
    end
    conn.exec('DEALLOCATE df_add')
    conn.prepare('df_add', 'SELECT $1::text || $1::text')
    expect(conn.exec_prepared('df_add', ['ab']).getvalue(0, 0), 'abab', 're-prepared after DEALLOCATE')
    # DEALLOCATE sent with the extended protocol (as psycopg 3 and others do), then re-prepared.
    conn.exec_params('DEALLOCATE df_add', [])
    conn.prepare('df_add', 'SELECT $1::int * 10')
    expect(conn.exec_prepared('df_add', [4]).getvalue(0, 0), '40', 're-prepared after extended-protocol DEALLOCATE')
    expect(conn.exec('SELECT 1 + 1').getvalue(0, 0), '2', 'plain query after')
    'prepare, describe_prepared, exec_prepared (text and binary), DEALLOCATE (simple and extended)'
  end
end

def transaction_rollback
  with_conn do |conn|
    conn.exec("CREATE TABLE #{T}_tx (id int PRIMARY KEY)")
    conn.transaction { |c| c.exec("INSERT INTO #{T}_tx VALUES (1)") }
    begin
      conn.transaction do |c|
        c.exec("INSERT INTO #{T}_tx VALUES (2)")
        expect(c.transaction_status, PG::PQTRANS_INTRANS, 'status inside')
        raise PG::Error, 'roll back please'
      end
    rescue PG::Error => e
      raise unless e.message == 'roll back please'
    end
    expect(conn.transaction_status, PG::PQTRANS_IDLE, 'status after rollback')
    conn.exec('BEGIN')
    conn.exec("INSERT INTO #{T}_tx VALUES (3)")
    conn.exec('SAVEPOINT s')
    conn.exec("INSERT INTO #{T}_tx VALUES (4)")
    conn.exec('ROLLBACK TO SAVEPOINT s')
    conn.exec('COMMIT')
    expect(conn.exec("SELECT array_agg(id ORDER BY id)::text FROM #{T}_tx").getvalue(0, 0), '{1,3}', 'rows')
    conn.exec("DROP TABLE #{T}_tx")
    'transaction block rollback, savepoint'
  end
end

def error_recovery
  with_conn do |conn|
    begin
      conn.exec('SELECT 1/0')
      raise Check, 'division by zero did not fail'
    rescue PG::DivisionByZero => e
      expect(e.result.error_field(PG::PG_DIAG_SQLSTATE), '22012', 'sqlstate')
      expect(e.result.error_field(PG::PG_DIAG_SEVERITY_NONLOCALIZED), 'ERROR', 'severity')
    end
    expect(conn.exec('SELECT 2').getvalue(0, 0), '2', 'after an error')
    conn.exec('BEGIN')
    begin
      conn.exec('SELEKT')
    rescue PG::SyntaxError => e
      expect(e.result.error_field(PG::PG_DIAG_STATEMENT_POSITION), '1', 'error position')
    end
    expect(conn.transaction_status, PG::PQTRANS_INERROR, 'transaction status after an error')
    begin
      conn.exec('SELECT 1')
      raise Check, 'a statement ran in an aborted transaction'
    rescue PG::InFailedSqlTransaction
      nil
    end
    conn.exec('ROLLBACK')
    conn.exec("CREATE TABLE #{T}_err (id int CONSTRAINT #{T}_err_pk PRIMARY KEY)")
    conn.exec("INSERT INTO #{T}_err VALUES (1)")
    begin
      conn.exec_params("INSERT INTO #{T}_err VALUES ($1)", [1])
    rescue PG::UniqueViolation => e
      expect(e.result.error_field(PG::PG_DIAG_CONSTRAINT_NAME), "#{T}_err_pk", 'constraint name')
      expect(e.result.error_field(PG::PG_DIAG_TABLE_NAME), "#{T}_err", 'table name')
    end
    begin
      conn.exec_params('SELECT $1::int', ['not a number'])
    rescue PG::InvalidTextRepresentation
      nil
    end
    expect(conn.exec_params('SELECT $1::int', ['5']).getvalue(0, 0), '5', 'extended protocol after an error')
    conn.exec("DROP TABLE #{T}_err")
    nil
  end
end

def copy_in_out
  with_conn do |conn|
    conn.exec("CREATE TABLE #{T}_copy (id int PRIMARY KEY, note text, v numeric)")
    rows = (0...10_000).map { |i| [i.to_s, "row #{i} ✓ tab\there \\ back", (i % 7).zero? ? nil : (i / 8.0).to_s] }
    encoder = PG::TextEncoder::CopyRow.new
    conn.copy_data("COPY #{T}_copy (id, note, v) FROM STDIN", encoder) do
      rows.each { |row| conn.put_copy_data(row) }
    end
    expect(conn.exec("SELECT count(*) FROM #{T}_copy").getvalue(0, 0), '10000', 'rows after COPY FROM')
    decoder = PG::TextDecoder::CopyRow.new
    back = []
    conn.copy_data("COPY (SELECT id, note, v FROM #{T}_copy ORDER BY id) TO STDOUT", decoder) do
      while (row = conn.get_copy_data)
        back << row
      end
    end
    expect(back.size, rows.size, 'COPY TO row count')
    rows.each_with_index do |row, i|
      next if back[i][0] == row[0] && back[i][1] == row[1] && (back[i][2].nil? ? row[2].nil? : BigDecimal(back[i][2]) == BigDecimal(row[2]))

      raise Check, "row #{i}: #{back[i].inspect} != #{row.inspect}"
    end
    # An error inside COPY FROM: the connection recovers.
    begin
      conn.copy_data("COPY #{T}_copy (id, note, v) FROM STDIN", encoder) do
        conn.put_copy_data(['1', 'duplicate', '1'])
      end
      raise Check, 'a duplicate key in COPY was accepted'
    rescue PG::UniqueViolation
      nil
    end
    # The client aborting a COPY (CopyFail).
    begin
      conn.copy_data("COPY #{T}_copy (id, note, v) FROM STDIN", encoder) do
        conn.put_copy_data(['20000', 'never', '1'])
        raise ArgumentError, 'client gave up'
      end
    rescue ArgumentError
      nil
    end
    expect(conn.exec("SELECT count(*) FROM #{T}_copy").getvalue(0, 0), '10000', 'rows after failed COPYs')
    conn.exec("DROP TABLE #{T}_copy")
    '10000 rows in and out, COPY error, CopyFail'
  end
end

def cancel
  with_conn do |conn|
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    canceller = Thread.new do
      sleep 0.5
      conn.cancel
    end
    begin
      conn.exec('SELECT pg_sleep(10)')
      raise Check, 'pg_sleep(10) was not cancelled'
    rescue PG::QueryCanceled
      nil
    ensure
      canceller.join
    end
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    raise Check, format('cancel took %.1fs', elapsed) if elapsed > 5

    expect(conn.exec("SELECT 'usable'").getvalue(0, 0), 'usable', 'after cancel')
    format('cancelled after %.2fs', elapsed)
  end
end

def listen_notify
  with_conn do |listener|
    with_conn do |notifier|
      channel = "#{T}_chan"
      listener.exec("LISTEN #{channel}")
      notifier.exec("NOTIFY #{channel}, 'hello ✓'")
      got = nil
      listener.wait_for_notify(10) { |ch, _pid, payload| got = [ch, payload] }
      expect(got, [channel, 'hello ✓'], 'first notification')
      Thread.new do
        sleep 0.3
        notifier.exec_params('SELECT pg_notify($1, $2)', [channel, 'while waiting'])
      end
      got = nil
      listener.wait_for_notify(10) { |ch, _pid, payload| got = [ch, payload] }
      expect(got, [channel, 'while waiting'], 'notification while waiting')
      listener.exec("UNLISTEN #{channel}")
      notifier.exec("NOTIFY #{channel}, 'ignored'")
      expect(listener.wait_for_notify(0.5), nil, 'nothing after UNLISTEN')
      nil
    end
  end
end

def single_row_mode
  with_conn do |conn|
    conn.send_query('SELECT g, md5(g::text) FROM generate_series(1, 500) g')
    conn.set_single_row_mode
    rows = 0
    last = nil
    while (res = conn.get_result)
      if res.result_status == PG::PGRES_SINGLE_TUPLE
        expect(res.ntuples, 1, 'one row per result')
        rows += 1
        last = res.getvalue(0, 0)
      else
        expect(res.result_status, PG::PGRES_TUPLES_OK, 'final result')
        expect(res.ntuples, 0, 'final result rows')
      end
      res.clear
    end
    expect([rows, last], [500, '500'], 'rows in single-row mode')
    # An error part-way through a single-row query.
    conn.send_query('SELECT 10 / (5 - g) FROM generate_series(1, 10) g')
    conn.set_single_row_mode
    statuses = []
    begin
      while (res = conn.get_result)
        res.check
        statuses << res.result_status
      end
    rescue PG::DivisionByZero
      conn.get_result while conn.is_busy || conn.get_result
    end
    expect(statuses.count(PG::PGRES_SINGLE_TUPLE), 4, 'rows before the error')
    expect(conn.exec('SELECT 1').getvalue(0, 0), '1', 'after the error')
    '500 single-row results, error part-way'
  end
end

def pipeline_results(conn)
  out = []
  loop do
    res = conn.get_result
    if res.nil?
      next
    elsif res.result_status == PG::PGRES_PIPELINE_SYNC
      out << :sync
      break
    else
      out << [res.result_status, res.result_status == PG::PGRES_TUPLES_OK ? res.values : res.error_field(PG::PG_DIAG_SQLSTATE)]
    end
  end
  out
end

def pipeline_mode
  run_pipeline = lambda do |conn|
    conn.exec("DROP TABLE IF EXISTS #{T}_pipe")
    conn.exec("CREATE TABLE #{T}_pipe (id int)")
    conn.enter_pipeline_mode
    conn.send_query_params('SELECT $1::int', [1])
    conn.send_query_params("INSERT INTO #{T}_pipe VALUES (1)", [])
    conn.send_prepare('pipe_stmt', 'SELECT $1::text || $1::text')
    conn.send_query_prepared('pipe_stmt', ['ab'])
    conn.pipeline_sync
    conn.send_query_params("INSERT INTO #{T}_pipe VALUES (2)", [])
    conn.send_query_params('SELECT 1/0', [])
    conn.send_query_params("INSERT INTO #{T}_pipe VALUES (3)", [])
    conn.pipeline_sync
    conn.send_query_prepared('pipe_stmt', ['cd'])
    conn.pipeline_sync
    results = [pipeline_results(conn), pipeline_results(conn), pipeline_results(conn)]
    conn.exit_pipeline_mode
    rows = conn.exec("SELECT coalesce(array_agg(id ORDER BY id), '{}')::text FROM #{T}_pipe").getvalue(0, 0)
    conn.exec("DROP TABLE #{T}_pipe")
    conn.exec('DEALLOCATE pipe_stmt')
    [results, rows]
  end
  through_proxy = with_conn { |conn| run_pipeline.call(conn) }
  direct = with_conn('direct_dsn') { |conn| run_pipeline.call(conn) }
  expect(through_proxy, direct, 'pipeline results (proxy vs direct)')
  expect(through_proxy[1], '{1}', 'rows after the failed pipeline segment')
  'three sync segments, error mid-pipeline -> PGRES_PIPELINE_ABORTED'
end

def metadata
  with_conn do |conn|
    conn.exec("CREATE TABLE #{T}_meta (id bigint PRIMARY KEY, name varchar(40) NOT NULL, doc jsonb)")
    cols = conn.exec_params(<<~SQL, ["#{T}_meta"]).values
      SELECT column_name, data_type, is_nullable FROM information_schema.columns
       WHERE table_name = $1 ORDER BY ordinal_position
    SQL
    expect(cols, [%w[id bigint NO], ['name', 'character varying', 'NO'], %w[doc jsonb YES]], 'information_schema.columns')
    tables = conn.exec_params('SELECT table_type FROM information_schema.tables WHERE table_name = $1', ["#{T}_meta"]).values
    expect(tables, [['BASE TABLE']], 'information_schema.tables')
    atts = conn.exec_params(<<~SQL, ["#{T}_meta"]).values
      SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
       WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
    SQL
    expect(atts, [%w[id bigint], ['name', 'character varying(40)'], %w[doc jsonb]], 'pg_attribute')
    # What PG::BasicTypeRegistry reads when building type maps.
    types = conn.exec('SELECT oid, typname, typelem, typdelim, typinput::text FROM pg_type').ntuples
    raise Check, "pg_type returned #{types} rows" if types < 100

    conn.exec("DROP TABLE #{T}_meta")
    "pg_type #{types} rows"
  end
end

def startup_options
  schema = "#{T}_schema"
  options = "-c search_path=#{schema},public -c statement_timeout=12345 -c TimeZone=Asia/Tokyo"
  observe = lambda do |key|
    with_conn(key, options: options, application_name: 'ruby-pg-docfusion-suite') do |conn|
      [conn.exec("SELECT current_setting('search_path'), current_setting('statement_timeout'), " \
                 "current_setting('application_name'), current_setting('TimeZone')").values,
       conn.exec('SELECT what FROM only_here').values,
       conn.parameter_status('application_name'), conn.parameter_status('TimeZone')]
    end
  end
  with_conn do |setup|
    setup.exec("CREATE SCHEMA #{schema}; CREATE TABLE #{schema}.only_here AS SELECT 'found'::text AS what")
    through_proxy = observe.call('dsn')
    expect(through_proxy, observe.call('direct_dsn'), 'settings (proxy vs direct)')
    expect(through_proxy[0], [["#{schema},public", '12345ms', 'ruby-pg-docfusion-suite', 'Asia/Tokyo']], 'settings')
    setup.exec("DROP SCHEMA #{schema} CASCADE")
  end
  'search_path, statement_timeout, TimeZone, application_name'
end

def txpool_basic
  with_conn('tx_dsn') do |conn|
    conn.exec("CREATE TABLE #{T}_txp (id int PRIMARY KEY)")
    conn.transaction do |c|
      c.exec("SET LOCAL statement_timeout = '4321ms'")
      c.exec("INSERT INTO #{T}_txp VALUES (1)")
      expect(c.exec("SELECT current_setting('statement_timeout')").getvalue(0, 0), '4321ms', 'SET LOCAL')
    end
    begin
      conn.transaction do |c|
        c.exec("INSERT INTO #{T}_txp VALUES (2)")
        c.exec('SELECT 1/0')
      end
    rescue PG::DivisionByZero
      nil
    end
    expect(conn.exec("SELECT array_agg(id)::text FROM #{T}_txp").getvalue(0, 0), '{1}', 'rows')
    res = conn.exec_params('SELECT $1::int8 * 2', [21], 1)
    expect(res.getvalue(0, 0).unpack1('q>'), 42, 'binary result')
    conn.exec("DROP TABLE #{T}_txp")
    nil
  end
end

# ---- the plan ------------------------------------------------------------------------------------

plan = {
  'login-scram' => -> { login('scram_dsn', 'scram_user') },
  'login-md5' => -> { login('md5_dsn', 'md5_user') },
  'login-cleartext' => -> { login('password_dsn', 'password_user') },
  'login-wrong-password' => -> { wrong_password },
  'exec' => -> { exec_simple },
  'exec-params-types' => -> { exec_params_types },
  'binary-results' => -> { binary_results },
  'prepared-statements' => -> { prepared_statements },
  'transaction-rollback' => -> { transaction_rollback },
  'error-recovery' => -> { error_recovery },
  'copy' => -> { copy_in_out },
  'cancel' => -> { cancel },
  'listen-notify' => -> { listen_notify },
  'single-row-mode' => -> { single_row_mode },
}
# Pipeline mode needs libpq >= 14 and ruby-pg >= 1.3; only reported where the API exists.
plan['pipeline'] = -> { pipeline_mode } if PG::Connection.method_defined?(:enter_pipeline_mode)
plan.merge!(
  'metadata' => -> { metadata },
  'startup-options' => -> { startup_options },
  'txpool-basic' => -> { txpool_basic },
  'txpool-prepared' => -> { prepared_statements('tx_dsn') },
)

only = ENV.fetch('DF_ONLY', '').split(',')
plan.each do |feature, fn|
  run(feature) { fn.call } if only.empty? || only.include?(feature)
end
warn "# ruby-pg: #{RESULTS.count { |r| r.include?(' PASS') }}/#{RESULTS.size} passed"
