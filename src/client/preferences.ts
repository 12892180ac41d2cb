/**
 * The client's preferences file, `preferences.xml`, in AnyConnect's layout
 * (`<AnyConnectPreferences>` with DefaultUser, DefaultHostName, DefaultGroup,
 * ServerCertificateThumbprint ...; [SEED] §3 item 4: the server certificate hash is cached there
 * and used to recognise the gateway later). AnyConnect keeps one thumbprint; we keep one per
 * host:port in an extra `<ServerCertificates>` element so several gateways can be remembered.
 * Elements we do not know are kept as they were.
 *
 * Location: --prefs-dir, else $SSLGATE_PREFS_DIR, else $XDG_CONFIG_HOME/sslgate, else
 * ~/.config/sslgate. Downloaded profiles go to its `Profile/` folder (AnyConnect's name).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { el, parseXml, xmlDocument, type XmlElement } from '../protocol/xml.js';

export interface ServerCertRecord {
  host: string;
  port: number;
  /** upper-case hex SHA-1 of the DER certificate (the `<server-cert-hash>` form, §3.1) */
  sha1: string;
  /** pin-sha256:… of its key, for the user's convenience */
  pin?: string;
  /** ISO time of the last successful connection */
  lastSeen?: string;
}

export interface Preferences {
  defaultUser?: string;
  defaultHostName?: string;
  defaultGroup?: string;
  servers: ServerCertRecord[];
  /** root children we do not model, kept verbatim */
  other: XmlElement[];
}

export const PREFERENCES_FILE = 'preferences.xml';
export const PROFILE_DIR = 'Profile';

export function preferencesDir(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return explicit;
  if (env['SSLGATE_PREFS_DIR']) return env['SSLGATE_PREFS_DIR'];
  const xdg = env['XDG_CONFIG_HOME'];
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.config'), 'sslgate');
}

const MODELLED = new Set(['DefaultUser', 'DefaultHostName', 'DefaultHostAddress', 'DefaultGroup', 'ServerCertificateThumbprint', 'ServerCertificates']);

/** Parses the file's text. Throws XmlError when it is not XML. */
export function parsePreferences(text: string): Preferences {
  const root = parseXml(text);
  const prefs: Preferences = { servers: [], other: [] };
  if (root.name !== 'AnyConnectPreferences') return prefs;
  for (const c of root.children) {
    const v = c.text.trim();
    switch (c.name) {
      case 'DefaultUser':
        if (v) prefs.defaultUser = v;
        break;
      case 'DefaultHostName':
        if (v) prefs.defaultHostName = v;
        break;
      case 'DefaultGroup':
        if (v) prefs.defaultGroup = v;
        break;
      case 'ServerCertificates':
        for (const s of c.children) {
          const port = Number(s.attrs['port'] ?? '443');
          const sha1 = (s.attrs['sha1'] ?? '').toUpperCase();
          if (s.name !== 'Server' || !s.attrs['host'] || !/^[0-9A-F]{40}$/.test(sha1) || !Number.isInteger(port)) continue;
          const rec: ServerCertRecord = { host: s.attrs['host'], port, sha1 };
          if (s.attrs['pin']) rec.pin = s.attrs['pin'];
          if (s.attrs['last-seen']) rec.lastSeen = s.attrs['last-seen'];
          prefs.servers.push(rec);
        }
        break;
      default:
        if (!MODELLED.has(c.name)) prefs.other.push(c);
    }
  }
  return prefs;
}

export function formatPreferences(p: Preferences): string {
  const last = p.servers.find((s) => s.host === p.defaultHostName);
  const root = el('AnyConnectPreferences', {}, [
    el('DefaultUser', {}, [p.defaultUser ?? '']),
    el('DefaultHostName', {}, [p.defaultHostName ?? '']),
    el('DefaultHostAddress', {}, [p.defaultHostName ?? '']),
    el('DefaultGroup', {}, [p.defaultGroup ?? '']),
    el('ServerCertificateThumbprint', {}, [last?.sha1 ?? '']),
    ...p.other,
    el(
      'ServerCertificates',
      {},
      p.servers.map((s) => {
        const attrs: Record<string, string> = { host: s.host, port: String(s.port), sha1: s.sha1 };
        if (s.pin) attrs['pin'] = s.pin;
        if (s.lastSeen) attrs['last-seen'] = s.lastSeen;
        return el('Server', attrs);
      }),
    ),
  ]);
  return xmlDocument(root);
}

export function knownServer(p: Preferences, host: string, port: number): ServerCertRecord | undefined {
  const h = host.toLowerCase();
  return p.servers.find((s) => s.host.toLowerCase() === h && s.port === port);
}

export function rememberServer(p: Preferences, rec: ServerCertRecord): void {
  const old = knownServer(p, rec.host, rec.port);
  if (old) Object.assign(old, rec);
  else p.servers.push(rec);
}

/**
 * Reads preferences.xml from dir. A missing file is an empty store; an unreadable or malformed
 * one is reported through onProblem and treated as empty (it will be rewritten on success).
 */
export function loadPreferences(dir: string, onProblem?: (msg: string) => void): Preferences {
  const file = join(dir, PREFERENCES_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') onProblem?.(`cannot read ${file}: ${(e as Error).message}`);
    return { servers: [], other: [] };
  }
  try {
    return parsePreferences(text);
  } catch (e) {
    onProblem?.(`ignoring malformed ${file}: ${(e as Error).message}`);
    return { servers: [], other: [] };
  }
}

/** Writes atomically (temp file + rename), readable by the user only. */
export function savePreferences(dir: string, p: Preferences): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, PREFERENCES_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, formatPreferences(p), { mode: 0o600 });
  renameSync(tmp, file);
}
