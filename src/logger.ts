import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config-types.js';

export type { Logger } from 'pino';

/** Log fields that never reach the output: they are replaced by "***". */
export const REDACTED_LOG_PATHS: readonly string[] = [
  'password',
  '*.password',
  'secret',
  '*.secret',
];

/**
 * The process logger: JSON lines on stdout (or `destination`, for tests) with ISO timestamps,
 * `service: "docfusiondb"` on every line, level names instead of numbers, and password/secret
 * fields redacted. Sessions and components take child loggers from it.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'docfusiondb' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...REDACTED_LOG_PATHS], censor: '***' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination(1),
  );
}
