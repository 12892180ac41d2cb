/**
 * The human log format for a terminal (`log.format: pretty`, or `auto` on a TTY): one line per
 * record, `12:00:01.234 INFO  login session=3 user=alice remote=10.77.5.2`. It re-formats pino's
 * JSON lines, so redaction (no password, no cookie) has already happened.
 */
import type { DestinationStream } from 'pino';

const COLORS: Record<string, string> = { trace: '90', debug: '36', info: '32', warn: '33', error: '31', fatal: '35' };

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/** One JSON log line -> one human line (exported for tests). */
export function prettyLine(json: string, color = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const { time, level, msg, name: _name, ...rest } = rec;
  const t = typeof time === 'string' ? time.slice(11, 23) : '';
  const lvl = String(level ?? '').toUpperCase().padEnd(5);
  const lv = color ? `\x1b[${COLORS[String(level)] ?? '0'}m${lvl}\x1b[0m` : lvl;
  const fields = Object.entries(rest)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${value(v)}`)
    .join(' ');
  return `${t} ${lv} ${String(msg ?? '')}${fields ? ' ' + fields : ''}`;
}

export function prettyDestination(out: DestinationStream & { isTTY?: boolean }): DestinationStream {
  const color = out.isTTY === true;
  return {
    write(line: string): void {
      for (const l of line.split('\n')) if (l) out.write(prettyLine(l, color) + '\n');
    },
  };
}
