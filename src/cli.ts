#!/usr/bin/env node
import { ConfigError, formatConfig, loadConfig } from './config.js';
import { hashApiKeyCommand } from './api-key-command.js';
import { hashPasswordCommand } from './hash-password.js';
import { createLogger } from './logger.js';
import { VERSION } from './version.js';

const USAGE = `Usage: docfusiondb [options]
       docfusiondb hash-password [--method scram-sha-256|md5] [--user NAME] [--iterations N]
       docfusiondb hash-api-key [--stdin]

DocFusionDB: a PostgreSQL wire-protocol proxy that turns Postgres into a document database.
Settings come from, in increasing precedence: built-in defaults, a YAML file, environment
variables, command-line flags. config/default.yaml documents every setting.

Options:
  --config FILE          YAML config file                        env DOCFUSION_CONFIG
  --listen HOST:PORT     client listen address (127.0.0.1:6432)  env DOCFUSION_LISTEN
  --upstream URL         upstream postgres:// URL; none = start  env DATABASE_URL
                         an embedded Postgres in the data dir
  --data-dir DIR         state directory (./.docfusion)          env DOCFUSION_DATA_DIR
  --http-listen HOST:PORT
                         HTTP listener: health, metrics, API     env DOCFUSION_HTTP_LISTEN
                         (127.0.0.1:8080), or "off"
  --auth METHOD          trust | password | md5 | scram-sha-256  env DOCFUSION_AUTH
                         (scram-sha-256)
  --log-level LEVEL      fatal | error | warn | info | debug |   env DOCFUSION_LOG_LEVEL
                         trace | silent (info)
  --print-config         print the effective configuration as YAML (secrets redacted), exit
  -h, --help             show this help
  -v, --version          print the version

Environment only:
  DOCFUSION_PASSWORD     password of the embedded Postgres (default "docfusion")
  DOCFUSION_POOL_MODE    pool.mode: session | transaction (session)
  DOCFUSION_POOL_SIZE    pool.size: upstream connections per (database, user) pool (20)

IPv6 addresses go in brackets: --listen [::1]:6432. Empty environment variables are ignored.

Commands:
  hash-password          read a password on stdin, print a SCRAM-SHA-256 verifier or md5 hash
                         for auth.users (see docfusiondb hash-password --help)
  hash-api-key           print a new HTTP API key and its hash for api.keys (--stdin: hash
                         the key read from standard input)

Exit status: 0 after a clean shutdown, 1 when the server fails, 2 on a configuration error.
`;

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'hash-api-key') {
    return hashApiKeyCommand(argv.slice(1), {
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
    });
  }
  if (argv[0] === 'hash-password') {
    return hashPasswordCommand(argv.slice(1), {
      stdin: process.stdin,
      stdout: process.stdout,
      stderr: process.stderr,
    });
  }
  const options = argv.slice(0, argv.includes('--') ? argv.indexOf('--') : argv.length);
  if (options.includes('--help') || options.includes('-h') || argv[0] === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (options.includes('--version') || options.includes('-v')) {
    process.stdout.write(`docfusiondb ${VERSION}\n`);
    return 0;
  }

  let loaded;
  try {
    loaded = loadConfig({ argv, env: process.env });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`docfusiondb: ${error.message}\n`);
    return 2;
  }
  const { config, configFile, warnings } = loaded;
  if (loaded.printConfig) {
    process.stdout.write(formatConfig(config));
    return 0;
  }

  const logger = createLogger(config.log.level);
  for (const warning of warnings) logger.warn(warning);
  try {
    logger.info({ version: VERSION, configFile }, 'starting DocFusionDB');
    // Loaded lazily: --help, --print-config and hash-password need none of the server.
    const { runServer } = await import('./run.js');
    await runServer(config, logger, {
      reloadConfig: () => loadConfig({ argv, env: process.env }).config,
    });
    return 0;
  } catch (error) {
    logger.fatal({ err: error }, 'DocFusionDB failed');
    process.stderr.write(`docfusiondb: ${errorMessage(error)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code === 1) process.exit(1); // do not wait for handles a failed start may have left open
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`docfusiondb: internal error: ${errorMessage(error)}\n`);
    process.exit(1);
  },
);
