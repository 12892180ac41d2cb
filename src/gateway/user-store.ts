/**
 * Local users in the state folder (users.json), passwords hashed with scrypt (a slow, memory-hard
 * KDF). Writes are atomic (temp file + rename) so a crash never leaves a half-written store.
 */
import { createHmac, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { dirname, join } from 'node:path';
import { ensurePrivateDir, readPrivateFile, writePrivateFile, type TightenNotice } from '../os/safe-files.js';
import { cryptKind, verifyCrypt, type CryptKind } from './crypt-hashes.js';

export interface UserRecord {
  /**
   * "scrypt$N$r$p$saltB64$hashB64", or a crypt(3) hash imported from ocserv's ocpasswd ($6$, $5$,
   * $1$; see crypt-hashes.ts) that stays until the user's password is next set.
   */
  hash: string;
  /** groups the user may use; absent = all */
  groups?: string[];
  created: string;
}

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

export type HashKind = 'scrypt' | CryptKind | 'unknown';

export function hashKind(stored: string): HashKind {
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
    const text = readPrivateFile(this.file, this.notice);
    if (text === null) {
      this.data = { version: 1, users: {} };
      return;
    }
    let parsed: StoreFile;
    try {
      parsed = JSON.parse(text.toString('utf8')) as StoreFile;
    } catch (e) {
      throw new Error(`${this.file}: not valid JSON (${(e as Error).message})`);
    }
    if (parsed === null || typeof parsed !== 'object' || parsed.version !== 1 || typeof parsed.users !== 'object' || parsed.users === null) throw new Error(`${this.file}: not a sslgate user store`);
    this.data = parsed;
  }

  list(): Array<{ name: string } & UserRecord> {
    return Object.entries(this.data.users)
      .map(([name, rec]) => ({ name, ...rec }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): UserRecord | undefined {
    return Object.prototype.hasOwnProperty.call(this.data.users, name) ? this.data.users[name] : undefined;
  }

  async set(name: string, password: string, groups?: string[]): Promise<void> {
    if (!USER_NAME.test(name)) throw new Error(`invalid user name ${JSON.stringify(name)} (1-64 of A-Z a-z 0-9 . _ @ + -)`);
    const prev = this.get(name);
    const rec: UserRecord = { hash: await hashPassword(password), created: prev?.created ?? new Date().toISOString() };
    const g = groups ?? prev?.groups;
    if (g && g.length) rec.groups = g;
    this.data.users[name] = rec;
    this.save();
  }

  /**
   * Adds users with hashes made elsewhere (an ocpasswd import), all in one atomic write: the file
   * holds either all of them or none. Existing users are kept unless `replace`. Returns the names
   * that were kept because they exist.
   */
  putHashed(users: Array<{ name: string; hash: string; groups?: string[] }>, replace: boolean): string[] {
    const kept: string[] = [];
    const next = { ...this.data.users };
    for (const u of users) {
      if (!USER_NAME.test(u.name)) throw new Error(`invalid user name ${JSON.stringify(u.name)} (1-64 of A-Z a-z 0-9 . _ @ + -)`);
      if (hashKind(u.hash) === 'unknown') throw new Error(`user ${u.name}: unsupported hash`);
      const prev = Object.prototype.hasOwnProperty.call(next, u.name) ? next[u.name] : undefined;
      if (prev && !replace) {
        kept.push(u.name);
        continue;
      }
      const rec: UserRecord = { hash: u.hash, created: prev?.created ?? new Date().toISOString() };
      if (u.groups && u.groups.length) rec.groups = u.groups;
      next[u.name] = rec;
    }
    const before = this.data.users;
    this.data.users = next;
    try {
      this.save();
    } catch (e) {
      this.data.users = before;
      throw e;
    }
    return kept;
  }

  setGroups(name: string, groups: string[] | undefined): void {
    const rec = this.get(name);
    if (!rec) throw new Error(`no user ${name}`);
    if (groups && groups.length) rec.groups = groups;
    else delete rec.groups;
    this.save();
  }

  delete(name: string): boolean {
    if (!this.get(name)) return false;
    delete this.data.users[name];
    this.save();
    return true;
  }

  /** Checks a password; runs the KDF even for unknown users (no user-enumeration by timing). */
  async verify(name: string, password: string): Promise<UserRecord | null> {
    const rec = this.get(name);
    if (!rec) {
      dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
      await verifyPassword(password, await dummyHash);
      return null;
    }
    if (this.verified.has(name, password, rec.hash)) return rec;
    if (!(await verifyPassword(password, rec.hash))) return null;
    this.verified.remember(name, password, rec.hash);
    return rec;
  }

  private save(): void {
    ensurePrivateDir(dirname(this.file), this.notice);
    writePrivateFile(this.file, JSON.stringify(this.data, null, 2) + '\n');
  }

  get count(): number {
    return Object.keys(this.data.users).length;
  }
}
