/**
 * Local users in the state folder (users.json), passwords hashed with scrypt (a slow, memory-hard
 * KDF). Writes are atomic (temp file + rename) so a crash never leaves a half-written store.
 *
 * The gateway authenticates against the snapshot it loaded (start, reload); `sslgate user ...`
 * changes the file from another process. So every change is a read-modify-write of the file as
 * it is now: the records read fresh from disk get the change and are written back, and only the
 * changed user's record is refreshed in memory. A TOTP counter the gateway records therefore
 * never undoes a user the CLI added meanwhile, and the reverse. (Two processes writing within
 * the same few microseconds can still lose one change: there is no lock file.)
 */
import { createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { dirname, join } from 'node:path';
import { ensurePrivateDir, readPrivateFile, writePrivateFile, type TightenNotice } from '../os/safe-files.js';
import { cryptKind, verifyCrypt, type CryptKind } from './crypt-hashes.js';

/** A user's TOTP enrolment (auth/totp.ts). */
export interface TotpEnrolment {
  /** the shared secret, base32 (as in the otpauth:// URI) */
  secret: string;
  /** the last time step whose code was accepted: only later ones are (no replay) */
  lastCounter?: number;
}

export interface UserRecord {
  /**
   * "scrypt$N$r$p$saltB64$hashB64", or a crypt(3) hash imported from ocserv's ocpasswd ($6$, $5$,
   * $1$; see crypt-hashes.ts) that stays until the user's password is next set, or NO_PASSWORD.
   */
  hash: string;
  /** groups the user may use; absent = all */
  groups?: string[];
  created: string;
  /** enrolled for TOTP as a second factor (`sslgate user totp`) */
  totp?: TotpEnrolment;
  /** the password has expired: the user must set a new one at the next login (`sslgate user expire`) */
  mustChange?: boolean;
}

/**
 * The hash of a user without a local password, as "!" in /etc/shadow: a RADIUS or LDAP user who
 * is here only for the TOTP enrolment. No password verifies against it.
 */
export const NO_PASSWORD = '!';

interface StoreFile {
  version: 1;
  users: Record<string, UserRecord>;
}

const SCRYPT = { N: 16384, r: 8, p: 1, keyLen: 32 };

function scrypt(password: string, salt: Buffer, keyLen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password.normalize('NFKC'), salt, keyLen, { ...opts, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.keyLen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export type HashKind = 'scrypt' | CryptKind | 'none' | 'unknown';

export function hashKind(stored: string): HashKind {
  if (stored === NO_PASSWORD) return 'none';
  if (stored.startsWith('scrypt$')) return 'scrypt';
  return cryptKind(stored) ?? 'unknown';
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (cryptKind(stored)) return verifyCrypt(password, stored);
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const expected = Buffer.from(parts[5]!, 'base64');
  const key = await scrypt(password, Buffer.from(parts[4]!, 'base64'), expected.length, { N, r, p });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash to compare against when the user does not exist, so timing does not reveal that. */
let dummyHash: Promise<string> | null = null;

export const USER_NAME = /^[A-Za-z0-9._@+-]{1,64}$/;

function own(users: Record<string, UserRecord>, name: string): UserRecord | undefined {
  return Object.prototype.hasOwnProperty.call(users, name) ? users[name] : undefined;
}

/** Sets users[name] as an own property (a user called "__proto__" must not set the prototype). */
function putOwn(users: Record<string, UserRecord>, name: string, rec: UserRecord): void {
  Object.defineProperty(users, name, { value: rec, writable: true, enumerable: true, configurable: true });
}

/** The fields this version reads, checked on load so a hand-edited file fails with its user named. */
function checkRecord(file: string, name: string, rec: unknown): void {
  const bad = (what: string): never => {
    throw new Error(`${file}: user ${JSON.stringify(name)}: ${what}`);
  };
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) bad('not an object');
  const r = rec as Record<string, unknown>;
  if (typeof r['hash'] !== 'string') bad('hash must be text');
  if (r['groups'] !== undefined && (!Array.isArray(r['groups']) || !r['groups'].every((g) => typeof g === 'string'))) bad('groups must be a list of names');
  if (r['mustChange'] !== undefined && typeof r['mustChange'] !== 'boolean') bad('mustChange must be true or false');
  const t = r['totp'];
  if (t !== undefined) {
    if (t === null || typeof t !== 'object' || Array.isArray(t)) bad('totp must be an object');
    const tt = t as Record<string, unknown>;
    if (typeof tt['secret'] !== 'string') bad('totp.secret must be base32 text');
    const c = tt['lastCounter'];
    if (c !== undefined && !(typeof c === 'number' && Number.isSafeInteger(c) && c >= 0)) bad('totp.lastCounter must be a whole number >= 0');
  }
}

/**
 * Remembers passwords verified recently, as an HMAC under a key that lives only in this process,
 * so a user who logs in again (a new laptop session, a reconnect without the cookie, 10,000
 * benchmark logins) is checked in microseconds instead of a full scrypt (~50 ms here). The stored
 * hashes stay as slow as before; a wrong password still costs a full scrypt; a changed password
 * (another stored hash) misses the cache. Like sssd's or PAM's credential caching.
 */
class VerifiedCache {
  private readonly key = randomBytes(32);
  private readonly byUser = new Map<string, { mac: Buffer; hash: string; until: number }>();

  constructor(private readonly ttlMs: () => number) {}

  private mac(name: string, password: string): Buffer {
    return createHmac('sha256', this.key).update(name).update('\0').update(password).digest();
  }

  has(name: string, password: string, hash: string): boolean {
    const e = this.byUser.get(name);
    if (!e || e.hash !== hash || e.until < Date.now()) return false;
    return timingSafeEqual(e.mac, this.mac(name, password));
  }

  remember(name: string, password: string, hash: string): void {
    const ttl = this.ttlMs();
    if (ttl <= 0) return;
    if (this.byUser.size > 100_000) this.byUser.clear(); // bounded: a cache, not a store
    this.byUser.set(name, { mac: this.mac(name, password), hash, until: Date.now() + ttl });
  }
}

export class UserStore {
  private data: StoreFile = { version: 1, users: {} };
  /** seconds a verified password is remembered; set from the config (0 = off) */
  cacheSeconds = 0;
  private readonly verified = new VerifiedCache(() => this.cacheSeconds * 1000);

  /** `notice`: told when the file's mode had to be tightened (safe-files.ts) */
  constructor(readonly file: string, private readonly notice?: TightenNotice) {
    this.reload();
  }

  static inState(stateDir: string, notice?: TightenNotice): UserStore {
    return new UserStore(join(stateDir, 'users.json'), notice);
  }

  reload(): void {
    this.data = this.readFile();
  }

  /** The file as it is on disk now (empty when it does not exist yet). */
  private readFile(): StoreFile {
    const text = readPrivateFile(this.file, this.notice);
    if (text === null) return { version: 1, users: {} };
    let parsed: StoreFile;
    try {
      parsed = JSON.parse(text.toString('utf8')) as StoreFile;
    } catch (e) {
      throw new Error(`${this.file}: not valid JSON (${(e as Error).message})`);
    }
    if (parsed === null || typeof parsed !== 'object' || parsed.version !== 1 || typeof parsed.users !== 'object' || parsed.users === null || Array.isArray(parsed.users)) throw new Error(`${this.file}: not a sslgate user store`);
    for (const [name, rec] of Object.entries(parsed.users)) checkRecord(this.file, name, rec);
    return parsed;
  }

  /**
   * Read-modify-write (see the file comment): `change` edits the records read fresh from the
   * file and returns the names it changed (or throws: nothing is written). The file is written
   * once, then those users' records replace the ones in memory.
   */
  private update(change: (users: Record<string, UserRecord>) => string[]): void {
    const fresh = this.readFile();
    const changed = change(fresh.users);
    if (changed.length === 0) return;
    this.write(fresh);
    for (const name of changed) {
      const rec = own(fresh.users, name);
      if (rec) putOwn(this.data.users, name, rec);
      else delete this.data.users[name];
    }
  }

  list(): Array<{ name: string } & UserRecord> {
    return Object.entries(this.data.users)
      .map(([name, rec]) => ({ name, ...rec }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): UserRecord | undefined {
    return own(this.data.users, name);
  }

  /**
   * Sets a user's password (adding the user if new). Groups stay unless given; the TOTP
   * enrolment stays; the password is no longer expired unless `mustChange` (an administrator's
   * one-time password that the user must replace).
   */
  async set(name: string, password: string, groups?: string[], mustChange = false): Promise<void> {
    if (!USER_NAME.test(name)) throw new Error(`invalid user name ${JSON.stringify(name)} (1-64 of A-Z a-z 0-9 . _ @ + -)`);
    const hash = await hashPassword(password);
    this.update((users) => {
      const prev = own(users, name);
      const rec: UserRecord = { hash, created: prev?.created ?? new Date().toISOString() };
      const g = groups ?? prev?.groups;
      if (g && g.length) rec.groups = g;
      if (prev?.totp) rec.totp = prev.totp;
      if (mustChange) rec.mustChange = true;
      putOwn(users, name, rec);
      return [name];
    });
  }

  /**
   * A user's own password change at login (auth/local-method.ts): the new hash replaces the old
   * one and the password is no longer expired; groups and TOTP stay. Returns the new record, or
   * null when the user no longer exists in the file (deleted since the last reload: not brought
   * back by a login).
   */
  async changePassword(name: string, password: string): Promise<UserRecord | null> {
    const hash = await hashPassword(password);
    let result: UserRecord | null = null;
    this.update((users) => {
      const rec = own(users, name);
      if (!rec) return [];
      rec.hash = hash;
      delete rec.mustChange;
      result = rec;
      return [name];
    });
    return result;
  }

  /** Marks the password expired (the user must set a new one at the next login), or clears that. */
  setMustChange(name: string, mustChange: boolean): void {
    this.update((users) => {
      const rec = own(users, name);
      if (!rec) throw new Error(`no user ${name}`);
      if (mustChange && rec.hash === NO_PASSWORD) throw new Error(`user ${name} has no local password to expire`);
      if (mustChange) rec.mustChange = true;
      else delete rec.mustChange;
      return [name];
    });
  }

  /**
   * Enrols a user for TOTP with `secret` (base32; the caller checked it), replacing any earlier
   * enrolment, or removes it (`secret` undefined). A user who does not exist yet is added
   * without a local password (NO_PASSWORD): a RADIUS or LDAP user who needs only the TOTP.
   * Returns whether the user was added, and whether an earlier enrolment was replaced.
   */
  setTotp(name: string, secret: string | undefined): { added: boolean; replaced: boolean } {
    if (!USER_NAME.test(name)) throw new Error(`invalid user name ${JSON.stringify(name)} (1-64 of A-Z a-z 0-9 . _ @ + -)`);
    let added = false;
    let replaced = false;
    this.update((users) => {
      const rec = own(users, name);
      if (secret === undefined) {
        if (!rec) throw new Error(`no user ${name}`);
        if (!rec.totp) return [];
        delete rec.totp;
        return [name];
      }
      if (rec) {
        replaced = rec.totp !== undefined;
        // A new secret starts with no step used (time steps are the same for every secret,
        // but a fresh enrolment owes nothing to the old one).
        rec.totp = { secret };
      } else {
        putOwn(users, name, { hash: NO_PASSWORD, created: new Date().toISOString(), totp: { secret } });
        added = true;
      }
      return [name];
    });
    return { added, replaced };
  }

  /**
   * Records that the code of time step `counter` was accepted for `name`, unless that step (or a
   * later one) already was: then returns false and changes nothing (a replay). Synchronous from
   * the check to the write, so two logins racing with one code in this process cannot both pass;
   * the counter on disk is checked too, so a store loaded before another instance (a reload)
   * recorded a code does not accept it again. Throws when the file cannot be written: the
   * code is then not accepted.
   */
  acceptTotpCounter(name: string, counter: number): boolean {
    const mem = this.get(name)?.totp;
    if (!mem) throw new Error(`user ${name} is not enrolled for TOTP`);
    const fresh = this.readFile();
    const onDisk = own(fresh.users, name)?.totp;
    const last = Math.max(mem.lastCounter ?? -1, onDisk?.lastCounter ?? -1);
    if (counter <= last) return false;
    // Written only where the file still has the enrolment: a user deleted or re-enrolled on disk
    // (the change takes effect at the next reload) is not brought back by a login.
    if (onDisk && onDisk.secret === mem.secret) {
      onDisk.lastCounter = counter;
      this.write(fresh);
    }
    mem.lastCounter = counter;
    return true;
  }

  /**
   * Adds users with hashes made elsewhere (an ocpasswd import), all in one atomic write: the file
   * holds either all of them or none. Existing users are kept unless `replace`. Returns the names
   * that were kept because they exist.
   */
  putHashed(users: Array<{ name: string; hash: string; groups?: string[] }>, replace: boolean): string[] {
    const kept: string[] = [];
    this.update((next) => {
      const changed: string[] = [];
      for (const u of users) {
        if (!USER_NAME.test(u.name)) throw new Error(`invalid user name ${JSON.stringify(u.name)} (1-64 of A-Z a-z 0-9 . _ @ + -)`);
        const kind = hashKind(u.hash);
        if (kind === 'unknown' || kind === 'none') throw new Error(`user ${u.name}: unsupported hash`);
        const prev = own(next, u.name);
        if (prev && !replace) {
          kept.push(u.name);
          continue;
        }
        const rec: UserRecord = { hash: u.hash, created: prev?.created ?? new Date().toISOString() };
        if (u.groups && u.groups.length) rec.groups = u.groups;
        // The TOTP enrolment belongs to the person's phone, not to the password: it stays.
        if (prev?.totp) rec.totp = prev.totp;
        putOwn(next, u.name, rec);
        changed.push(u.name);
      }
      return changed;
    });
    return kept;
  }

  setGroups(name: string, groups: string[] | undefined): void {
    this.update((users) => {
      const rec = own(users, name);
      if (!rec) throw new Error(`no user ${name}`);
      if (groups && groups.length) rec.groups = groups;
      else delete rec.groups;
      return [name];
    });
  }

  delete(name: string): boolean {
    let found = false;
    this.update((users) => {
      found = own(users, name) !== undefined;
      if (!found) return [];
      delete users[name];
      return [name];
    });
    return found;
  }

  /** Checks a password; runs the KDF even for unknown users (no user-enumeration by timing). */
  async verify(name: string, password: string): Promise<UserRecord | null> {
    const rec = this.get(name);
    if (!rec || rec.hash === NO_PASSWORD) {
      dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
      await verifyPassword(password, await dummyHash);
      return null;
    }
    if (this.verified.has(name, password, rec.hash)) return rec;
    if (!(await verifyPassword(password, rec.hash))) return null;
    this.verified.remember(name, password, rec.hash);
    return rec;
  }

  private write(data: StoreFile): void {
    ensurePrivateDir(dirname(this.file), this.notice);
    writePrivateFile(this.file, JSON.stringify(data, null, 2) + '\n');
  }

  get count(): number {
    return Object.keys(this.data.users).length;
  }
}
