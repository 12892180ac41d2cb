/**
 * Step 4 of the flow, the downloader ([SEED] §4, PROTOCOL.md §9.1): when the success document
 * lists a profile, compare its SHA-1 with the local copy; when missing or different, GET it on a
 * fresh TLS connection (AnyConnect's downloader always opens a new session), check the SHA-1,
 * and store it in the preferences folder's `Profile/`. A listed profile that cannot be
 * downloaded aborts the connection: the gateway's profile is mandatory.
 *
 * Nothing in the profile is executed or applied; it is kept for the user (and for
 * AnyConnect-style tools that read the Profile folder).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProfileEntry } from '../protocol/auth-xml-client.js';
import { sha1Hex } from '../protocol/profile.js';
import type { CookieJar } from './cookies.js';
import { ClientError } from './errors.js';
import { resolveOn, sameHost, type GatewayUrl } from './gateway-url.js';
import { HttpsConnection } from './https-connection.js';
import { PROFILE_DIR } from './preferences.js';
import type { Progress } from './progress.js';
import { authRequestHead } from './request-headers.js';
import type { TlsConnector } from './tls-connect.js';

export interface ProfileSyncOptions {
  profile: ProfileEntry;
  /** the preferences folder */
  dir: string;
  url: GatewayUrl;
  connector: TlsConnector;
  userAgent: string;
  jar: CookieJar;
  progress: Progress;
}

/** A safe local file name from the profile URI's last segment. */
export function profileFileName(uri: string): string {
  const last = uri.split('?')[0]!.split('/').pop() ?? '';
  let name: string;
  try {
    name = decodeURIComponent(last);
  } catch {
    name = last;
  }
  name = name.split('/').pop()!.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
  if (!name) name = 'profile.xml';
  return name.toLowerCase().endsWith('.xml') ? name : `${name}.xml`;
}

export type ProfileSyncResult = { action: 'unchanged' | 'downloaded'; file: string; bytes: number };

export async function syncProfile(o: ProfileSyncOptions): Promise<ProfileSyncResult> {
  const name = profileFileName(o.profile.uri);
  const folder = join(o.dir, PROFILE_DIR);
  const file = join(folder, name);
  let local: Buffer | undefined;
  try {
    local = readFileSync(file);
  } catch {
    local = undefined;
  }
  const want = o.profile.sha1.toUpperCase();
  if (local && sha1Hex(local) === want) {
    o.progress.step(`Profile ${name} is up to date`);
    return { action: 'unchanged', file, bytes: local.length };
  }
  const fail = (why: string): ClientError =>
    new ClientError(`the gateway lists the profile ${o.profile.uri} but it could not be downloaded (${why}); a listed profile is mandatory, so the connection is aborted`);
  const target = resolveOn(o.url, o.profile.uri);
  if (!sameHost(target, o.url)) throw fail(`it is on another host, ${target.hostHeader}`);
  let body: Buffer;
  try {
    const t = await o.connector.connect(o.url);
    const conn = new HttpsConnection(t.socket, o.progress);
    const head = authRequestHead({ method: 'GET', target: target.path, hostHeader: o.url.hostHeader, userAgent: o.userAgent, cookie: o.jar.header() });
    const res = await conn.request(head);
    conn.close();
    if (res.status !== 200) throw fail(`HTTP ${res.status} ${res.reason}`);
    body = res.body;
  } catch (e) {
    if (e instanceof ClientError && e.message.includes('a listed profile is mandatory')) throw e;
    throw fail((e as Error).message);
  }
  const got = sha1Hex(body);
  if (got !== want) throw fail(`its SHA-1 is ${got}, the gateway announced ${want}`);
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, body, { mode: 0o600 });
  renameSync(tmp, file);
  o.progress.step(`Profile ${name} ${local ? 'changed on the gateway; downloaded' : 'downloaded'} (${body.length} bytes) to ${file}`);
  return { action: 'downloaded', file, bytes: body.length };
}
