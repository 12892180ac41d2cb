/**
 * The operating part of the gateway configuration (issue 6): admin listener, metrics, logs,
 * session limits, brute-force bans. Read with config.ts's Reader so errors name the key the
 * same way (`gw.yaml: ban.points.password: expected a whole number ...`).
 *
 * ```yaml
 * admin:   { socket: admin.sock, listen: 127.0.0.1:9443, token-file: admin.token }
 * metrics: { listen: 127.0.0.1:9100, path: /metrics }
 * log:     { level: info, format: auto }           # auto = pretty on a terminal, else JSON
 * limits:  { max-sessions-per-user: 2, session-overflow: end-oldest, connection-rate: 20,
 *            max-unauth-per-address: 16, max-unauth-connections: 2048, ... }
 * ban:     { max-score: 100, user-max-score: 300, reset-time: 300, ban-time: 300,
 *            points: { password: 10, cookie: 10, malformed: 10, connection: 0 }, allow: [..] }
 * ```
 */
import { join } from 'node:path';
import type { BanPolicy } from './ban-guard.js';
import type { Reader } from './config.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface AdminConfig {
  /** Unix socket of the control API (default STATE/admin.sock); null = none */
  socket: string | null;
  /** optional TCP listener (plain HTTP, bearer token required) */
  listen: HostPort | null;
  /** file holding the bearer token for `listen` (created with a random token if missing) */
  tokenFile: string;
}

export interface MetricsConfig {
  /** Prometheus listener; null = metrics only through the admin socket */
  listen: HostPort | null;
  path: string;
}

export type LogFormat = 'json' | 'pretty' | 'auto';

export interface LogConfig {
  level: string;
  format: LogFormat;
}

/** Who loses when a user is over max-sessions-per-user (Cisco vpn-simultaneous-logins ends the oldest). */
export type SessionOverflow = 'end-oldest' | 'refuse-newest';

export interface OpsLimits {
  /** null = unlimited; default 2, ocserv's max-same-clients */
  maxSessionsPerUser: number | null;
  sessionOverflow: SessionOverflow;
  /** new TLS connections per second per source address (0 = unlimited), and the burst allowed */
  connectionRate: number;
  connectionBurst: number;
  maxHeaderBytes: number;
  maxBodyBytes: number;
  maxCookieBytes: number;
  /** connections not yet a tunnel, per address (an IPv6 /64 is one) and in total; 0 = no cap */
  maxUnauthPerAddress: number;
  maxUnauthConnections: number;
}

export interface OpsConfig {
  admin: AdminConfig;
  metrics: MetricsConfig;
  log: LogConfig;
  ban: BanPolicy;
}

export const OPS_TOP_KEYS = ['admin', 'metrics', 'log', 'ban'];
export const OPS_LIMIT_KEYS = ['max-sessions-per-user', 'session-overflow', 'connection-rate', 'connection-burst', 'max-header-bytes', 'max-body-bytes', 'max-cookie-bytes', 'max-unauth-per-address', 'max-unauth-connections'];
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

type Obj = Record<string, unknown>;

export function readHostPort(r: Reader, v: unknown, key: string): HostPort | null {
  const text = r.str(v, key);
  if (text === undefined || text === 'none') return null;
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (!m || Number(m[3]) > 65535) r.fail(key, `expected ADDRESS:PORT like 127.0.0.1:9100, got ${JSON.stringify(text)}`);
  return { host: m[1] || m[2]!, port: Number(m[3]) };
}

function oneOf<T extends string>(r: Reader, v: unknown, key: string, allowed: readonly T[], dflt: T): T {
  const s = r.str(v, key);
  if (s === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(s)) r.fail(key, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(s)}`);
  return s as T;
}

export function readOpsLimits(r: Reader, lim: Obj): OpsLimits {
  const perUser = lim['max-sessions-per-user'];
  return {
    maxSessionsPerUser:
      perUser === undefined ? DEFAULT_SESSIONS_PER_USER : perUser === null || perUser === 'none' || perUser === 0 ? null : r.int(perUser, 'limits.max-sessions-per-user', 0, 1, 1000),
    sessionOverflow: oneOf(r, lim['session-overflow'], 'limits.session-overflow', ['end-oldest', 'refuse-newest'] as const, 'end-oldest'),
    connectionRate: r.int(lim['connection-rate'], 'limits.connection-rate', 20, 0, 100_000),
    connectionBurst: r.int(lim['connection-burst'], 'limits.connection-burst', 100, 1, 1_000_000),
    maxHeaderBytes: r.int(lim['max-header-bytes'], 'limits.max-header-bytes', 16 * 1024, 1024, 1024 * 1024),
    maxBodyBytes: r.int(lim['max-body-bytes'], 'limits.max-body-bytes', 64 * 1024, 1024, 16 * 1024 * 1024),
    maxCookieBytes: r.int(lim['max-cookie-bytes'], 'limits.max-cookie-bytes', 4096, 128, 64 * 1024),
    maxUnauthPerAddress: r.int(lim['max-unauth-per-address'], 'limits.max-unauth-per-address', DEFAULT_UNAUTH_PER_ADDRESS, 0, 1_000_000),
    maxUnauthConnections: r.int(lim['max-unauth-connections'], 'limits.max-unauth-connections', DEFAULT_UNAUTH_CONNECTIONS, 0, 1_000_000),
  };
}

/** ocserv's max-same-clients default (ocserv.conf.sample): a laptop and a phone. */
const DEFAULT_SESSIONS_PER_USER = 2;
/**
 * A client holds one connection in the auth phase at a time (openconnect: the auth POSTs on one
 * keep-alive connection, then CONNECT on a new one), two for a moment. 16 lets about eight
 * people behind one NAT address log in at the same instant (each login lasts well under a
 * second: more in a row are fine), while one address can hold at most 16 slow connections,
 * each for at most auth-timeout seconds, instead of all of them. The ban allow-list lifts it
 * for known NATs.
 */
const DEFAULT_UNAUTH_PER_ADDRESS = 16;
/**
 * All unauthenticated connections (TLS handshakes and logins in progress): about 100 MB of TLS
 * state at most, and at the handshake rate a core sustains (~1,000/s with ECDSA) far more than a
 * login storm after a restart needs, given that each lasts well under a second.
 */
const DEFAULT_UNAUTH_CONNECTIONS = 2048;

/** `auth` is the older failure-count section: it supplies the ban defaults (max-failures x password points). */
export function readOpsConfig(r: Reader, o: Obj, state: string, auth: { maxFailures: number; failureWindow: number; banTime: number }): OpsConfig {
  const ad = r.obj(o['admin'], 'admin');
  r.known(ad, 'admin', ['socket', 'listen', 'token-file']);
  const socket = ad['socket'] === 'none' ? null : r.path(ad['socket'], 'admin.socket') ?? join(state, 'admin.sock');
  // sockaddr_un holds 108 bytes: a longer path fails at bind with an obscure error.
  if (socket && Buffer.byteLength(socket) > 100) r.fail('admin.socket', `path too long for a Unix socket (${Buffer.byteLength(socket)} bytes, at most 100)`);
  const admin: AdminConfig = {
    socket,
    listen: readHostPort(r, ad['listen'], 'admin.listen'),
    tokenFile: r.path(ad['token-file'], 'admin.token-file') ?? join(state, 'admin.token'),
  };

  const me = r.obj(o['metrics'], 'metrics');
  r.known(me, 'metrics', ['listen', 'path']);
  const path = r.str(me['path'], 'metrics.path') ?? '/metrics';
  if (!/^\/[A-Za-z0-9._/-]*$/.test(path)) r.fail('metrics.path', `expected a URL path like /metrics, got ${JSON.stringify(path)}`);
  const metrics: MetricsConfig = { listen: readHostPort(r, me['listen'], 'metrics.listen'), path };

  const lo = r.obj(o['log'], 'log');
  r.known(lo, 'log', ['level', 'format']);
  const log: LogConfig = {
    level: oneOf(r, lo['level'], 'log.level', LOG_LEVELS, 'info'),
    format: oneOf(r, lo['format'], 'log.format', ['json', 'pretty', 'auto'] as const, 'auto'),
  };

  const b = r.obj(o['ban'], 'ban');
  r.known(b, 'ban', ['max-score', 'user-max-score', 'reset-time', 'ban-time', 'points', 'allow']);
  const p = r.obj(b['points'], 'ban.points');
  r.known(p, 'ban.points', ['password', 'cookie', 'malformed', 'connection']);
  const points = {
    password: r.int(p['password'], 'ban.points.password', 10, 0, 1000),
    cookie: r.int(p['cookie'], 'ban.points.cookie', 10, 0, 1000),
    malformed: r.int(p['malformed'], 'ban.points.malformed', 10, 0, 1000),
    connection: r.int(p['connection'], 'ban.points.connection', 0, 0, 1000),
  };
  const maxScore = r.int(b['max-score'], 'ban.max-score', auth.maxFailures * Math.max(1, points.password), 1, 1_000_000);
  const ban: BanPolicy = {
    maxScore,
    // A user name locks after 3x an address's limit: spraying one account from many addresses
    // is stopped, while one address guessing cannot lock a colleague out.
    userMaxScore: b['user-max-score'] === 'none' ? 0 : r.int(b['user-max-score'], 'ban.user-max-score', maxScore * 3, 0, 1_000_000),
    resetTime: r.int(b['reset-time'], 'ban.reset-time', auth.failureWindow, 1, 86400 * 7),
    banTime: r.int(b['ban-time'], 'ban.ban-time', auth.banTime, 1, 86400 * 7),
    points,
    allow: r.list(b['allow'], 'ban.allow', (x, k) => r.cidr(x, k)),
  };
  return { admin, metrics, log, ban };
}
