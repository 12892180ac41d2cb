/**
 * Files that hold secrets (users, keys, tokens) and the folder they live in, written and read as
 * root without trusting what is already on disk:
 *   - the state folder must be a real directory (not a symlink) owned by us; looser modes than
 *     0700 are tightened, and said so;
 *   - a private file is written through a fresh temp file opened O_CREAT|O_EXCL|O_NOFOLLOW, then
 *     renamed over the target (rename replaces a symlink, it never writes through one), so an
 *     attacker who planted a symlink cannot make root write elsewhere;
 *   - a private file is read with O_NOFOLLOW, must be a regular file owned by us, and is
 *     tightened to 0600 when it is looser.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, constants, fchmodSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';

export class UnsafePathError extends Error {
  constructor(readonly path: string, problem: string) {
    super(`${path}: ${problem}`);
    this.name = 'UnsafePathError';
  }
}

/** Called with a sentence when a mode had to be tightened (the caller logs it). */
export type TightenNotice = (message: string) => void;

const myUid = (): number => process.geteuid?.() ?? -1;

function mode(m: number): string {
  return (m & 0o7777).toString(8).padStart(4, '0');
}

/**
 * Makes sure `dir` is a private folder: created 0700 if missing (parents 0755), else a real
 * directory owned by this user, its mode tightened to 0700 if group or others have any access.
 */
export function ensurePrivateDir(dir: string, notice?: TightenNotice): void {
  if (!isAbsolute(dir)) throw new UnsafePathError(dir, 'the state folder must be an absolute path');
  let st;
  try {
    st = lstatSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    mkdirSync(dirname(dir), { recursive: true, mode: 0o755 });
    mkdirSync(dir, { mode: 0o700 });
    st = lstatSync(dir);
  }
  if (st.isSymbolicLink()) throw new UnsafePathError(dir, 'is a symbolic link; give the real folder as the state folder');
  if (!st.isDirectory()) throw new UnsafePathError(dir, 'is not a directory');
  if (myUid() >= 0 && st.uid !== myUid()) throw new UnsafePathError(dir, `belongs to uid ${st.uid}, not to uid ${myUid()} that runs the gateway; fix its owner (chown) or pick another state folder`);
  if ((st.mode & 0o077) !== 0) {
    chmodSync(dir, 0o700);
    notice?.(`${dir}: mode ${mode(st.mode)} gave others access; tightened to 0700`);
  }
}

/** Writes `data` to `file` (mode `fileMode`, default 0600) through a temp file and rename. */
export function writePrivateFile(file: string, data: string | Buffer, fileMode = 0o600): void {
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, fileMode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    // The umask may have narrowed the mode at creation; never widened it. Set it exactly.
    fchmodSync(fd, fileMode);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, file);
}

/**
 * Reads a private file without following a symlink: it must be a regular file owned by this
 * user; group/other access is removed (0600) and reported. Returns null when it does not exist.
 */
export function readPrivateFile(file: string, notice?: TightenNotice): Buffer | null {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw new UnsafePathError(file, 'is a symbolic link; it must be a regular file');
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UnsafePathError(file, 'is not a regular file');
    if (myUid() >= 0 && st.uid !== myUid()) throw new UnsafePathError(file, `belongs to uid ${st.uid}, not to uid ${myUid()} that runs the gateway`);
    if ((st.mode & 0o077) !== 0) {
      fchmodSync(fd, 0o600);
      notice?.(`${file}: mode ${mode(st.mode)} gave others access; tightened to 0600`);
    }
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * A key file named in the configuration (it may live in /etc/ssl/private or be a certbot
 * symlink): followed. When others may read it, or anyone but its owner may write it, those bits
 * are removed (group read stays: Debian's ssl-cert convention, 0640 root:ssl-cert) and reported;
 * a file of another user with such a mode is refused rather than changed.
 */
export function tightenConfiguredKeyFile(file: string, notice?: TightenNotice): void {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY);
  } catch (e) {
    throw new UnsafePathError(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (e as Error).message);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UnsafePathError(file, 'is not a regular file');
    if ((st.mode & 0o027) === 0) return;
    if (myUid() >= 0 && st.uid !== myUid()) {
      throw new UnsafePathError(file, `mode ${mode(st.mode)} lets others read or write the private key, and it belongs to uid ${st.uid}; chmod o-rwx,g-w it`);
    }
    fchmodSync(fd, st.mode & 0o740);
    notice?.(`${file}: mode ${mode(st.mode)} let others read or write the private key; tightened to ${mode(st.mode & 0o740)}`);
  } finally {
    closeSync(fd);
  }
}
