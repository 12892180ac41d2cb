/**
 * Logging: pino, JSON lines on stdout. Never log a password or a cookie: session ids (short
 * numbers) identify sessions in logs; tokens never appear.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { prettyDestination } from './log-pretty.js';

export type { Logger };

/** `format`: json (default), pretty (human, for a terminal), auto (pretty when stdout is a TTY). */
export function createLogger(opts: { level?: string; name?: string; format?: 'json' | 'pretty' | 'auto'; destination?: DestinationStream } = {}): Logger {
  const pretty = opts.format === 'pretty' || (opts.format === 'auto' && process.stdout.isTTY === true);
  const dest = pretty ? prettyDestination(opts.destination ?? process.stdout) : opts.destination;
  return pino({
    name: opts.name ?? 'sslgate',
    level: opts.level ?? process.env['SSLGATE_LOG_LEVEL'] ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: ['password', 'cookie', 'token', 'authorization', '*.password', '*.cookie', '*.token', '*.authorization'], censor: '[redacted]' },
  }, dest);
}
