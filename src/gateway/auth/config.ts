/**
 * The `auth-servers:` and `accounting:` keys (issue 10's configuration contract), and the checks
 * that tie `groups[].auth` / `second-factor` to them. Read by config.ts's buildConfig.
 */
import { parseIpv4 } from '../../protocol/ipv4.js';
import type { Reader } from '../config.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface RadiusServerConfig {
  type: 'radius';
  name: string;
  /** tried in order: failover to the next when one does not answer */
  servers: HostPort[];
  secret: string;
  /** accounting servers (optional: enables accounting for this server) */
  accounting: HostPort[];
  nasIdentifier: string;
  /** seconds per try */
  timeout: number;
  retries: number;
}

export interface LdapServerConfig {
  type: 'ldap';
  name: string;
  url: string;
  bindDn?: string;
  bindPassword?: string;
  base: string;
  userFilter: string;
  /** direct bind without a search account, e.g. uid={user},ou=people,dc=example,dc=org */
  userDn?: string;
  startTls: boolean;
  /** CA for ldaps:// and StartTLS */
  caFile?: string;
  groupAttribute: string;
  /** where to search groupOfNames when the user entry has no memberOf */
  groupBase?: string;
  groupFilter: string;
  /** directory group DN -> gateway group */
  groupMap: Record<string, string>;
  /** seconds for connect and each operation */
  timeout: number;
}

export type AuthServerConfig = RadiusServerConfig | LdapServerConfig;

export interface AccountingConfig {
  /** an auth-servers name of type radius that has `accounting:` */
  server: string;
  /** seconds between Interim-Updates (the server's Acct-Interim-Interval wins) */
  interim: number;
}

/** Methods a group may name besides the auth-servers. */
export const BUILTIN_METHODS = ['local', 'certificate'] as const;
export const SECOND_FACTORS = ['totp'] as const;

const SERVER_NAME = /^[A-Za-z0-9._-]{1,64}$/;

function hostPort(r: Reader, v: unknown, key: string, dfltPort: number): HostPort {
  const s = r.str(v, key);
  const m = s === undefined ? null : /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]+))(?::(\d{1,5}))?$/.exec(s);
  const port = m?.[3] === undefined ? dfltPort : Number(m[3]);
  if (!m || port < 1 || port > 65535) r.fail(key, `expected HOST[:PORT] like 127.0.0.1:1812, got ${JSON.stringify(v)}`);
  return { host: m[1] ?? m[2]!, port };
}

function hostPorts(r: Reader, v: unknown, key: string, dfltPort: number): HostPort[] {
  const list = Array.isArray(v) ? r.list(v, key, (x, k) => hostPort(r, x, k, dfltPort)) : [hostPort(r, v, key, dfltPort)];
  if (list.length === 0 || list.length > 8) r.fail(key, 'expected 1 to 8 addresses');
  return list;
}

function readRadius(r: Reader, o: Record<string, unknown>, key: string, name: string): RadiusServerConfig {
  r.known(o, key, ['type', 'address', 'secret', 'accounting', 'nas-identifier', 'timeout', 'retries']);
  if (o['address'] === undefined) r.fail(`${key}.address`, 'required (HOST:PORT of the RADIUS server, or a list for failover)');
  const secret = r.str(o['secret'], `${key}.secret`);
  if (!secret) r.fail(`${key}.secret`, 'required (the shared secret)');
  if (Buffer.byteLength(secret) > 128) r.fail(`${key}.secret`, 'at most 128 bytes');
  const nas = r.str(o['nas-identifier'], `${key}.nas-identifier`) ?? 'sslgate';
  if (nas.length > 253) r.fail(`${key}.nas-identifier`, 'at most 253 bytes');
  return {
    type: 'radius',
    name,
    servers: hostPorts(r, o['address'], `${key}.address`, 1812),
    secret,
    accounting: o['accounting'] === undefined ? [] : hostPorts(r, o['accounting'], `${key}.accounting`, 1813),
    nasIdentifier: nas,
    timeout: r.int(o['timeout'], `${key}.timeout`, 3, 1, 60),
    retries: r.int(o['retries'], `${key}.retries`, 2, 0, 10),
  };
}

function readLdap(r: Reader, o: Record<string, unknown>, key: string, name: string): LdapServerConfig {
  r.known(o, key, ['type', 'url', 'bind-dn', 'bind-password', 'base', 'user-filter', 'user-dn', 'start-tls', 'ca', 'group-attribute', 'group-base', 'group-filter', 'group-map', 'timeout']);
  const url = r.str(o['url'], `${key}.url`);
  if (!url || !/^ldaps?:\/\/[^\s/]+\/?$/.test(url)) r.fail(`${key}.url`, `expected ldap://HOST[:PORT] or ldaps://HOST[:PORT], got ${JSON.stringify(o['url'] ?? null)}`);
  const base = r.str(o['base'], `${key}.base`);
  const userDn = r.str(o['user-dn'], `${key}.user-dn`);
  if (!base && !userDn) r.fail(`${key}.base`, 'required (where users are searched), unless user-dn is given for a direct bind');
  const bindDn = r.str(o['bind-dn'], `${key}.bind-dn`);
  const bindPassword = r.str(o['bind-password'], `${key}.bind-password`);
  if (bindDn && bindPassword === undefined) r.fail(`${key}.bind-password`, 'required with bind-dn');
  const filter = r.str(o['user-filter'], `${key}.user-filter`) ?? '(uid={user})';
  if (!filter.includes('{user}')) r.fail(`${key}.user-filter`, 'must contain {user}');
  if (userDn !== undefined && !userDn.includes('{user}')) r.fail(`${key}.user-dn`, 'must contain {user}');
  if (o['start-tls'] !== undefined && typeof o['start-tls'] !== 'boolean') r.fail(`${key}.start-tls`, 'expected true or false');
  const mapO = r.obj(o['group-map'], `${key}.group-map`);
  const groupMap: Record<string, string> = {};
  for (const [dn, g] of Object.entries(mapO)) {
    const gg = r.str(g, `${key}.group-map.${dn}`);
    if (!gg) r.fail(`${key}.group-map.${dn}`, 'expected a gateway group name');
    groupMap[dn] = gg;
  }
  const cfg: LdapServerConfig = {
    type: 'ldap',
    name,
    url,
    base: base ?? '',
    userFilter: filter,
    startTls: o['start-tls'] === true,
    groupAttribute: r.str(o['group-attribute'], `${key}.group-attribute`) ?? 'memberOf',
    groupFilter: r.str(o['group-filter'], `${key}.group-filter`) ?? '(&(objectClass=groupOfNames)(member={dn}))',
    groupMap,
    timeout: r.int(o['timeout'], `${key}.timeout`, 5, 1, 60),
  };
  if (bindDn) cfg.bindDn = bindDn;
  if (bindPassword !== undefined) cfg.bindPassword = bindPassword;
  if (userDn) cfg.userDn = userDn;
  const ca = r.path(o['ca'], `${key}.ca`);
  if (ca) cfg.caFile = ca;
  const gb = r.str(o['group-base'], `${key}.group-base`);
  if (gb) cfg.groupBase = gb;
  return cfg;
}

export function readAuthServers(r: Reader, v: unknown): Record<string, AuthServerConfig> {
  const o = r.obj(v, 'auth-servers');
  const out: Record<string, AuthServerConfig> = {};
  for (const [name, raw] of Object.entries(o)) {
    const key = `auth-servers.${name}`;
    if (!SERVER_NAME.test(name) || (BUILTIN_METHODS as readonly string[]).includes(name)) {
      r.fail(key, `a server name is 1-64 letters, digits, dot, dash or underscore, and not ${BUILTIN_METHODS.join(' or ')}`);
    }
    const so = r.obj(raw, key);
    const type = so['type'];
    if (type === 'radius') out[name] = readRadius(r, so, key, name);
    else if (type === 'ldap') out[name] = readLdap(r, so, key, name);
    else r.fail(`${key}.type`, `expected radius or ldap, got ${JSON.stringify(type ?? null)}`);
  }
  return out;
}

/** groups[i].auth: a list of method names, each local, certificate or an auth-servers name. */
export function readGroupAuth(r: Reader, v: unknown, key: string, servers: Record<string, AuthServerConfig>): string[] {
  const list = r.list(Array.isArray(v) || v === undefined || v === null ? v : [v], key, (x, k) => r.str(x, k) ?? '');
  if (list.length === 0) r.fail(key, 'expected at least one method (local, certificate or an auth-servers name)');
  if (list.length > 4) r.fail(key, 'at most 4 methods');
  list.forEach((m, i) => {
    if (!(BUILTIN_METHODS as readonly string[]).includes(m) && !servers[m]) {
      r.fail(`${key}[${i}]`, `unknown method ${JSON.stringify(m)} (known: ${[...BUILTIN_METHODS, ...Object.keys(servers)].join(', ')})`);
    }
    if (list.indexOf(m) !== i) r.fail(`${key}[${i}]`, `${m} is listed twice`);
  });
  const passwordMethods = list.filter((m) => m !== 'certificate');
  if (passwordMethods.length > 1) r.fail(key, `at most one password method per group (got ${passwordMethods.join(', ')}); add a second factor with second-factor: totp`);
  return list;
}

export function readSecondFactor(r: Reader, v: unknown, key: string): 'totp' | undefined {
  const s = r.str(v, key);
  if (s === undefined || s === 'none') return undefined;
  if (s !== 'totp') r.fail(key, `expected totp or none, got ${JSON.stringify(s)}`);
  return s;
}

export function readAccounting(r: Reader, v: unknown, servers: Record<string, AuthServerConfig>): AccountingConfig | undefined {
  if (v === undefined || v === null) return undefined;
  const o = r.obj(v, 'accounting');
  r.known(o, 'accounting', ['server', 'interim']);
  const server = r.str(o['server'], 'accounting.server');
  const s = server === undefined ? undefined : servers[server];
  if (!server || !s) r.fail('accounting.server', `expected the name of a radius entry of auth-servers, got ${JSON.stringify(server ?? null)}`);
  if (s.type !== 'radius' || s.accounting.length === 0) r.fail('accounting.server', `${server} needs type: radius and an accounting: address`);
  return { server, interim: r.int(o['interim'], 'accounting.interim', 600, 1, 86400) };
}

/** For config errors and logs: a server's address list as text. */
export function formatHostPorts(list: HostPort[]): string {
  return list.map((h) => (parseIpv4(h.host) === null && h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`)).join(', ');
}
