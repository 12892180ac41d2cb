/**
 * Reads ocserv's password file (the one `ocpasswd` writes, used by `auth = "plain[passwd=...]"`)
 * for `sslgate user import --ocpasswd`. Pure: text in, users and per-line problems out.
 *
 * The format, as ocserv 1.1.x reads it (src/auth/plain.c read_auth_pass / break_group_list) and
 * writes it (src/ocpasswd/ocpasswd.c):
 * - one user per line, `username:groups:hash`; fields split at ':'; text after a fourth ':' is
 *   ignored by ocserv, and so here; the first line for a name wins (ocserv stops at it).
 * - groups: comma-separated, spaces around names trimmed; ocpasswd writes `*` when no `-g` was
 *   given, which (like an empty field) restricts nothing.
 * - hash: crypt(3) output; ocpasswd writes `$5$` (or `$1$` where SHA-crypt is missing), other
 *   tools `$6$`. `ocpasswd -l` locks by prefixing the hash with `!`. An empty hash means "no
 *   password": ocserv then only accepts the user with an OTP file, so there is nothing to import.
 * - ocserv reads lines into a 512-byte buffer and skips lines of 4 characters or fewer.
 *
 * Decision: a line we cannot import (malformed, locked, no password, a name sslgate does not
 * allow, an unsupported or over-expensive hash) is reported with its line number and skipped;
 * the other users are imported. Nothing is written until the whole file is read.
 */
import { CryptHashError, parseCryptHash } from './crypt-hashes.js';
import { USER_NAME } from './user-store.js';

/** Limits: ocserv itself reads lines of up to 510 characters. */
export const OCPASSWD_MAX_BYTES = 16 * 1024 * 1024;
export const OCPASSWD_MAX_LINE = 510;
export const OCPASSWD_MAX_USERS = 100_000;
export const OCPASSWD_MAX_GROUPS = 64;

export interface OcpasswdUser {
  line: number;
  name: string;
  hash: string;
  /** undefined = no restriction (`*` or empty) */
  groups?: string[];
}

export interface OcpasswdSkip {
  line: number;
  /** the user name when the line had one */
  name?: string;
  reason: string;
}

export interface OcpasswdFile {
  users: OcpasswdUser[];
  skipped: OcpasswdSkip[];
}

export class OcpasswdError extends Error {}

export function parseOcpasswd(data: Buffer | string): OcpasswdFile {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  if (size > OCPASSWD_MAX_BYTES) throw new OcpasswdError(`the file is larger than ${OCPASSWD_MAX_BYTES} bytes`);
  const text = typeof data === 'string' ? data : data.toString('utf8');
  const users: OcpasswdUser[] = [];
  const skipped: OcpasswdSkip[] = [];
  const firstLine = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const raw = lines[i]!.endsWith('\r') ? lines[i]!.slice(0, -1) : lines[i]!;
    if (raw.trim() === '' || raw.startsWith('#')) continue;
    const skip = (reason: string, name?: string): void => {
      skipped.push({ line, ...(name !== undefined ? { name } : {}), reason });
    };
    if (Buffer.byteLength(raw) > OCPASSWD_MAX_LINE) {
      skip(`line longer than ${OCPASSWD_MAX_LINE} bytes`);
      continue;
    }
    const fields = raw.split(':');
    if (fields.length < 3) {
      skip('malformed: expected username:groups:hash');
      continue;
    }
    const [name, groupField, hash] = fields as [string, string, string];
    if (!USER_NAME.test(name)) {
      skip(`user name ${JSON.stringify(name.slice(0, 80))} is not allowed by sslgate (1-64 of A-Z a-z 0-9 . _ @ + -)`);
      continue;
    }
    const seen = firstLine.get(name);
    if (seen !== undefined) {
      skip(`duplicate of line ${seen} (ocserv uses the first)`, name);
      continue;
    }
    firstLine.set(name, line);
    const groups = groupField.split(',').map((g) => g.trim()).filter((g) => g !== '' && g !== '*');
    if (groups.length > OCPASSWD_MAX_GROUPS) {
      skip(`more than ${OCPASSWD_MAX_GROUPS} groups`, name);
      continue;
    }
    if (hash === '') {
      skip('no password hash (ocserv accepts such a user only with an OTP file)', name);
      continue;
    }
    if (hash.startsWith('!')) {
      skip('locked (ocpasswd -l): not imported', name);
      continue;
    }
    try {
      parseCryptHash(hash);
    } catch (e) {
      if (!(e instanceof CryptHashError)) throw e;
      skip(`unsupported hash: ${e.message}`, name);
      continue;
    }
    if (users.length >= OCPASSWD_MAX_USERS) throw new OcpasswdError(`more than ${OCPASSWD_MAX_USERS} users`);
    users.push({ line, name, hash, ...(groups.length ? { groups: [...new Set(groups)] } : {}) });
  }
  return { users, skipped };
}
