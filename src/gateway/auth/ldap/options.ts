/**
 * The options of an LDAP auth server (`auth-servers: NAME: { type: ldap, ... }`), checked and
 * completed with defaults. The configuration parser maps the YAML names (bind-dn, user-filter,
 * group-map ...) to these; every problem is a thrown LdapConfigError naming the option.
 */
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { checkFilterTemplate } from './filter.js';
import { escapeDnValue, normalizeDn } from './dn.js';
import { GroupMap } from './group-map.js';

/** Where the method logs (a pino Logger fits). Never given a password. */
export interface LdapLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface LdapMethodOptions {
  /** the auth-server's name: logs and MethodResult messages */
  name: string;
  /** ldap://host[:389] or ldaps://host[:636]; nothing after the port */
  url: string;
  /** the search account; without it, direct bind with userDnTemplate */
  bindDn?: string;
  bindPassword?: string;
  /** where users are searched (subtree); also the base of a direct bind's group search */
  base: string;
  /** default "(uid={user})"; {user} is RFC 4515-escaped */
  userFilter?: string;
  /** direct bind: e.g. "uid={user},ou=people,dc=example,dc=org"; {user} is RFC 4514-escaped */
  userDnTemplate?: string;
  /** the attribute whose value becomes the canonical user name (default "uid"); the typed name if absent */
  userAttribute?: string;
  /** upgrade ldap:// with StartTLS before any bind */
  startTls?: boolean;
  /** PEM CA file for ldaps/StartTLS (the certificate is always verified; default: system CAs) */
  caFile?: string;
  /** attribute listing the user's groups on the user entry (default "memberOf") */
  groupAttribute?: string;
  /** group-of-names search (directories without memberOf): base of the search */
  groupBase?: string;
  /** default "(&(objectClass=groupOfNames)(member={dn}))"; {dn} is the user's DN, {user} the name; used only with groupBase */
  groupFilter?: string;
  /** directory group DN -> gateway group; absent/empty: the method does not restrict groups */
  groupMap?: Record<string, string>;
  /** seconds for a whole login (connect, TLS, binds, searches); default 5, at most 120 */
  timeout?: number;
  /** logins in flight against this server at once (default 32); more fail at once as 'error' */
  maxConcurrent?: number;
  log?: LdapLog;
}

export class LdapConfigError extends Error {
  constructor(server: string, message: string) {
    super(`auth-server ${server} (ldap): ${message}`);
    this.name = 'LdapConfigError';
  }
}

/** Limits on what one login reads from the directory. */
export const LDAP_LIMITS = {
  /** group DNs read per user (memberOf values + group search entries) */
  maxGroups: 512,
  /** bytes received on one connection: a server that floods us is cut off */
  maxBytes: 4 * 1024 * 1024,
  /** user names and passwords longer than this are refused before any I/O */
  maxUserLength: 256,
  maxPasswordBytes: 1024,
} as const;

export interface ResolvedLdapOptions {
  name: string;
  secure: boolean;
  host: string;
  port: number;
  bindDn: string | undefined;
  bindPassword: string;
  base: string;
  userFilter: string;
  userDnTemplate: string | undefined;
  userAttribute: string;
  startTls: boolean;
  ca: Buffer | undefined;
  groupAttribute: string;
  groupBase: string | undefined;
  groupFilter: string;
  groupMap: GroupMap;
  timeoutMs: number;
  maxConcurrent: number;
  log: LdapLog | undefined;
}

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return net.isIPv4(host) && host.startsWith('127.');
}

const ATTR_RE = /^[A-Za-z][A-Za-z0-9-]{0,63}$/;

export function resolveLdapOptions(o: LdapMethodOptions): ResolvedLdapOptions {
  const name = typeof o.name === 'string' && o.name !== '' ? o.name : '(unnamed)';
  const fail = (msg: string): never => {
    throw new LdapConfigError(name, msg);
  };

  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    return fail(`url ${JSON.stringify(o.url)} is not a URL (ldap://host:port or ldaps://host:port)`);
  }
  if (url.protocol !== 'ldap:' && url.protocol !== 'ldaps:') fail(`url must start with ldap:// or ldaps://, got ${url.protocol}//`);
  if (url.username || url.password || (url.pathname !== '' && url.pathname !== '/') || url.search || url.hash) {
    fail('url must be ldap[s]://host[:port] only (base, filter and credentials are separate options)');
  }
  const secure = url.protocol === 'ldaps:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') fail('url has no host');
  const port = url.port === '' ? (secure ? 636 : 389) : Number(url.port);

  const startTls = o.startTls === true;
  if (startTls && secure) fail('start-tls is for ldap:// URLs; ldaps:// is TLS already');

  let ca: Buffer | undefined;
  if (o.caFile !== undefined) {
    if (!secure && !startTls) fail('ca-file needs an ldaps:// url or start-tls');
    try {
      ca = fs.readFileSync(o.caFile);
    } catch (err) {
      fail(`ca-file ${o.caFile}: ${(err as Error).message}`);
    }
    const pems = (ca as Buffer).toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (pems.length === 0) fail(`ca-file ${o.caFile} holds no PEM certificate`);
    for (const pem of pems) {
      try {
        new X509Certificate(pem);
      } catch (err) {
        fail(`ca-file ${o.caFile}: a certificate does not parse: ${(err as Error).message}`);
      }
    }
  }

  const checkDn = (what: string, dn: string | undefined, allowEmpty = false): void => {
    if (dn === undefined) return;
    if (typeof dn !== 'string' || normalizeDn(dn) === null || (!allowEmpty && dn.trim() === '')) fail(`${what} ${JSON.stringify(dn)} is not a distinguished name`);
  };

  const bindDn = o.bindDn === undefined || o.bindDn === '' ? undefined : o.bindDn;
  checkDn('bind-dn', bindDn);
  if (bindDn !== undefined && (typeof o.bindPassword !== 'string' || o.bindPassword === '')) {
    fail('bind-dn needs a bind-password (an empty one would be an anonymous bind)');
  }
  if (bindDn === undefined && o.bindPassword !== undefined && o.bindPassword !== '') fail('bind-password without bind-dn');

  if (typeof o.base !== 'string') fail('base is required');
  checkDn('base', o.base, true);

  const userFilter = o.userFilter ?? '(uid={user})';
  const filterProblem = checkFilterTemplate(userFilter, 'user');
  if (filterProblem) fail(`user-filter ${JSON.stringify(userFilter)} ${filterProblem}`);

  let userDnTemplate: string | undefined;
  if (o.userDnTemplate !== undefined) {
    if (bindDn !== undefined) fail('give bind-dn (search, then bind) or user-dn-template (direct bind), not both');
    if (!o.userDnTemplate.includes('{user}')) fail('user-dn-template must contain {user}');
    if (normalizeDn(o.userDnTemplate.split('{user}').join(escapeDnValue('probe'))) === null) {
      fail(`user-dn-template ${JSON.stringify(o.userDnTemplate)} is not a DN with {user} in it`);
    }
    userDnTemplate = o.userDnTemplate;
  } else if (bindDn === undefined) {
    fail('needs bind-dn (search, then bind) or user-dn-template (direct bind)');
  }

  const userAttribute = o.userAttribute ?? 'uid';
  if (!ATTR_RE.test(userAttribute)) fail(`user-attribute ${JSON.stringify(userAttribute)} is not an attribute name`);
  const groupAttribute = o.groupAttribute ?? 'memberOf';
  if (!ATTR_RE.test(groupAttribute)) fail(`group-attribute ${JSON.stringify(groupAttribute)} is not an attribute name`);

  checkDn('group-base', o.groupBase, true);
  const groupFilter = o.groupFilter ?? '(&(objectClass=groupOfNames)(member={dn}))';
  const groupProblem = checkFilterTemplate(groupFilter, 'dn');
  if (groupProblem) fail(`group-filter ${JSON.stringify(groupFilter)} ${groupProblem}`);

  let groupMap: GroupMap;
  try {
    groupMap = new GroupMap(o.groupMap);
  } catch (err) {
    return fail((err as Error).message);
  }

  const timeout = o.timeout ?? 5;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0 || timeout > 120) fail(`timeout must be 0-120 seconds, got ${String(timeout)}`);
  const maxConcurrent = o.maxConcurrent ?? 32;
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1 || maxConcurrent > 10_000) fail('max-concurrent must be 1-10000');

  if (!secure && !startTls && !isLoopback(host)) {
    // Not an error (a lab may want it), but every user password crosses the network in clear.
    o.log?.warn({ server: name, url: o.url }, 'LDAP without TLS to a remote host: passwords cross the network in clear (use ldaps:// or start-tls)');
  }

  return {
    name,
    secure,
    host,
    port,
    bindDn,
    bindPassword: o.bindPassword ?? '',
    base: o.base,
    userFilter,
    userDnTemplate,
    userAttribute,
    startTls,
    ca,
    groupAttribute,
    groupBase: o.groupBase,
    groupFilter,
    groupMap,
    timeoutMs: Math.round(timeout * 1000),
    maxConcurrent,
    log: o.log,
  };
}
