/**
 * Logging: pino, JSON lines on stdout. Never log a password or a cookie: session ids (short
 * numbers) identify sessions in logs; tokens never appear.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: opts.name ?? 'sslgate',
    level: opts.level ?? process.env['SSLGATE_LOG_LEVEL'] ?? 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: ['password', 'cookie', 'token', '*.password', '*.cookie', '*.token'], censor: '[redacted]' },
  });
}
