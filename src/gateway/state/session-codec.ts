/**
 * SessionRecord <-> JSON for stores that keep records as text (RedisStore values, SqliteStore
 * rows). Reading checks the record as strictly as the privileged channel does (session-check.ts):
 * a record another program (or a bug, an older version, a tamperer) wrote wrongly is reported by
 * its key instead of reaching the gateway as a half-valid session.
 */
import { Checker } from '../priv/validate.js';
import { checkSessionRecord } from './session-check.js';
import type { SessionRecord } from './types.js';

export class StoreDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreDataError';
  }
}

export function encodeSession(r: SessionRecord): string {
  return JSON.stringify(r);
}

/** Throws StoreDataError naming `where` (the key) and the first field that is wrong. */
export function decodeSession(text: string, where: string): SessionRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new StoreDataError(`${where}: not JSON`);
  }
  return checkSessionRecord(v, new Checker(where, (m) => new StoreDataError(m)), 'field ');
}

/** Told of a stored record that fails decodeSession when a store lists its records (it skips it). */
export type BadRecordHandler = (message: string) => void;

/** Without a handler: one line on stderr (the privileged process passes its logger). */
export const warnBadRecord: BadRecordHandler = (message) => {
  process.stderr.write(`sslgate: skipped a session record that cannot be used: ${message}\n`);
};
