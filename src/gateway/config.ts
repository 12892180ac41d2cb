/**
 * Gateway configuration: a YAML file, validated at start with errors that name the key and the
 * problem. Relative paths are relative to the config file. `serve` with no file uses DEFAULTS.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { formatIpv4, networkOf, parseIpv4, parseIpv4Cidr, prefixToMask, type Ipv4Cidr } from '../protocol/ipv4.js';
import { CERT_FIELD_NAMES, parseCertField } from './auth/client-cert.js';
import { OPS_LIMIT_KEYS, OPS_TOP_KEYS, readOpsConfig, readOpsLimits, type OpsConfig, type OpsLimits } from './config-ops.js';
import { readAccounting, readAuthServers, readGroupAuth, readSecondFactor, type AccountingConfig, type AuthServerConfig } from './auth/config.js';
import { readClusterConfig, type ClusterConfig } from './config-cluster.js';

export interface NetworkConfig {
  /** the gateway's tunnel address and prefix; the pool is the rest of the subnet */
  address: Ipv4Cidr;
  dns: string[];
  /** split-include routes; empty = full tunnel */
  routes: Ipv4Cidr[];
  splitExclude: Ipv4Cidr[];
  defaultDomain?: string;
  splitDns: string[];
}

export interface GroupConfig {
  name: string;
  label: string;
  network: NetworkConfig;
  banner?: string;
  /** per-group overrides of the top-level idle-timeout / session-timeout (null = none) */
  idleTimeout?: number | null;
  sessionTimeout?: number | null;
  /** auth methods in order, each must pass (local, certificate, an auth-servers name); absent = [local] */
  auth?: string[];
  /** asked after the methods (issue 10) */
  secondFactor?: 'totp';
}

/** Admin API, metrics, logs, bans and the extra limits: config-ops.ts. */
export interface GatewayConfig extends OpsConfig {
  /** absolute path of the file, or null for the embedded defaults */
  file: string | null;
  listen: { host: string; port: number };
  /**
   * clientCa: CAs whose client certificates are requested and verified; crl: their revocation
   * lists (PEM); certUser / certGroup: the certificate fields (auth/client-cert.ts names) the
   * `certificate` method takes the user name (default CN) and the groups from.
   */
  tls: { cert?: string; key?: string; clientCa?: string; crl?: string; certUser: string; certGroup?: string };
  state: string;
  /** who the network-facing process runs as (ocserv's run-as-user / run-as-group) */
  runAsUser: string;
  runAsGroup: string;
  network: NetworkConfig;
  groups: GroupConfig[];
  profile?: string;
  banner?: string;
  /** seconds */
  dpd: number;
  keepalive: number;
  idleTimeout: number | null;
  sessionTimeout: number | null;
  /** how long a session outlives its tunnel, for a cookie reconnect (ocserv cookie-timeout) */
  cookieTimeout: number;
  /** link MTU the gateway assumes at most */
  mtu: number;
  /** offload: TUN checksum/segmentation offloads (IFF_VNET_HDR + TUNSETOFFLOAD), on unless false;
   *  the env var SSLGATE_TUN_OFFLOAD=0 turns them off too (tests, and a quick way out) */
  tun: { name: string; offload: boolean };
  /**
   * Network processes that share the clients (issue 11, priv/workers.ts): a number, or 'auto'
   * (the default) for one per CPU this process may run on (os.availableParallelism(), which
   * follows taskset), so a gateway uses every core it is given, as ocserv does with its worker
   * per client. 1 is the single network process.
   */
  workers: number | 'auto';
  /** DTLS on UDP (same address; port defaults to the TLS port) */
  /** allow3des: also answer DES-CBC3-SHA (DTLS 0.9 3DES) when a client offers only that; default off */
  dtls: { enabled: boolean; port: number; allow3des: boolean; batchReceive: boolean };
  /** cacheSeconds: how long a verified password is remembered (as an HMAC), 0 = never */
  auth: { maxFailures: number; failureWindow: number; banTime: number; cacheSeconds: number };
  limits: { maxClients: number; authTimeout: number } & OpsLimits;
  /** named RADIUS / LDAP backends (auth/config.ts) */
  authServers: Record<string, AuthServerConfig>;
  accounting?: AccountingConfig;
  /** several gateways sharing sessions, leases and bans through Redis (config-cluster.ts); absent = one machine */
  cluster?: ClusterConfig;
}

/** Most network processes (`workers`): far more than any machine this runs on has cores. */
export const MAX_WORKERS = 64;

function readWorkers(r: Reader, v: unknown): number | 'auto' {
  if (v === undefined || v === 'auto') return 'auto';
  if (typeof v === 'string') r.fail('workers', `expected a whole number from 1 to ${MAX_WORKERS} or auto, got ${JSON.stringify(v)}`);
  return r.int(v, 'workers', 1, 1, MAX_WORKERS);
}

export class ConfigError extends Error {
  constructor(readonly where: string, readonly key: string, problem: string) {
    super(`${where}: ${key}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/**
 * Where users, the generated certificate and the admin socket live when the config names no
 * `state`: an absolute path (FHS: variable state of a daemon), never the current directory.
 */
export const DEFAULT_STATE_DIR = '/var/lib/sslgate';

/** Embedded defaults: what `sslgate serve` runs on with no --config. */
export const DEFAULT_YAML = `
listen: 0.0.0.0:443
network:
  address: 192.168.77.1/24
  dns: [192.168.77.1]
groups:
  - name: default
    label: Default
`;

type Obj = Record<string, unknown>;

export class Reader {
  constructor(readonly where: string, readonly base: string) {}

  fail(key: string, problem: string): never {
    throw new ConfigError(this.where, key, problem);
  }

  obj(v: unknown, key: string): Obj {
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(key, `expected a mapping, got ${JSON.stringify(v)}`);
    return v as Obj;
  }

  known(o: Obj, key: string, allowed: string[]): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.fail(key ? `${key}.${k}` : k, `unknown key (known: ${allowed.join(', ')})`);
    }
  }

  str(v: unknown, key: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' && typeof v !== 'number') this.fail(key, `expected a string, got ${JSON.stringify(v)}`);
    return String(v);
  }

  path(v: unknown, key: string): string | undefined {
    const s = this.str(v, key);
    return s === undefined ? undefined : resolve(this.base, s);
  }

  int(v: unknown, key: string, dflt: number, min: number, max: number): number {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(key, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return v;
  }

  /** seconds, or null for "none" */
  seconds(v: unknown, key: string, dflt: number | null): number | null {
    if (v === undefined) return dflt;
    if (v === null || v === 'none' || v === 0) return null;
    return this.int(v, key, 0, 1, 365 * 86400);
  }

  cidr(v: unknown, key: string): Ipv4Cidr {
    const s = this.str(v, key);
    const c = s === undefined ? null : parseIpv4Cidr(s);
    if (!c) this.fail(key, `expected an IPv4 CIDR like 192.168.77.1/24, got ${JSON.stringify(v)}`);
    return c;
  }

  list<T>(v: unknown, key: string, item: (x: unknown, key: string) => T): T[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(key, `expected a list, got ${JSON.stringify(v)}`);
    return v.map((x, i) => item(x, `${key}[${i}]`));
  }

  ipv4(v: unknown, key: string): string {
    const s = this.str(v, key);
    if (s === undefined || parseIpv4(s) === null) this.fail(key, `expected an IPv4 address, got ${JSON.stringify(v)}`);
    return s;
  }
}

const NETWORK_KEYS = ['address', 'dns', 'routes', 'split-exclude', 'default-domain', 'split-dns'];

function readNetwork(r: Reader, v: unknown, key: string, inherit?: NetworkConfig): NetworkConfig {
  const o = r.obj(v, key);
  r.known(o, key, NETWORK_KEYS);
  if (!inherit && o['address'] === undefined) r.fail(`${key}.address`, 'required (the gateway tunnel address, e.g. 192.168.77.1/24)');
  const address = o['address'] === undefined ? inherit!.address : r.cidr(o['address'], `${key}.address`);
  if (address.prefix > 30) r.fail(`${key}.address`, 'the subnet must hold at least two hosts (prefix /30 or shorter)');
  if (address.address === networkOf(address) || address.address === (networkOf(address) | ~prefixToMask(address.prefix)) >>> 0) {
    r.fail(`${key}.address`, `${formatIpv4(address.address)} is the network or broadcast address; give the gateway a host address`);
  }
  const pick = <T>(name: string, read: () => T, fallback: T): T => (o[name] === undefined ? fallback : read());
  const net: NetworkConfig = {
    address,
    dns: pick('dns', () => r.list(o['dns'], `${key}.dns`, (x, k) => r.ipv4(x, k)), inherit?.dns ?? []),
    routes: pick('routes', () => r.list(o['routes'], `${key}.routes`, (x, k) => r.cidr(x, k)), inherit?.routes ?? []),
    splitExclude: pick('split-exclude', () => r.list(o['split-exclude'], `${key}.split-exclude`, (x, k) => r.cidr(x, k)), inherit?.splitExclude ?? []),
    splitDns: pick('split-dns', () => r.list(o['split-dns'], `${key}.split-dns`, (x, k) => r.str(x, k)!), inherit?.splitDns ?? []),
  };
  const domain = o['default-domain'] === undefined ? inherit?.defaultDomain : r.str(o['default-domain'], `${key}.default-domain`);
  if (domain) net.defaultDomain = domain;
  return net;
}

/** tls.crl, tls.cert-user, tls.cert-group: only meaningful with tls.client-ca. */
function readClientCertKeys(r: Reader, o: Obj, tls: GatewayConfig['tls']): void {
  for (const k of ['crl', 'cert-user', 'cert-group']) {
    if (o[k] !== undefined && !tls.clientCa) r.fail(`tls.${k}`, 'needs tls.client-ca (the CA whose client certificates are verified)');
  }
  const crl = r.path(o['crl'], 'tls.crl');
  if (crl) tls.crl = crl;
  const field = (key: string): string | undefined => {
    const text = r.str(o[key], `tls.${key}`);
    if (text === undefined) return undefined;
    const f = parseCertField(text);
    if (!f) r.fail(`tls.${key}`, `unknown certificate field ${JSON.stringify(text)} (known: ${CERT_FIELD_NAMES.join(', ')}, or ocserv's OIDs such as 2.5.4.3)`);
    return f;
  };
  tls.certUser = field('cert-user') ?? 'CN';
  const group = field('cert-group');
  if (group) tls.certGroup = group;
}

function overlaps(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const m = prefixToMask(p);
  return ((a.address & m) >>> 0) === ((b.address & m) >>> 0);
}

/** Validates a parsed YAML document. `where` names the source in errors. */
export function buildConfig(doc: unknown, where: string, base: string, file: string | null): GatewayConfig {
  const r: Reader = new Reader(where, base);
  const o = r.obj(doc, '(top level)');
  r.known(o, '', ['listen', 'tls', 'state', 'run-as-user', 'run-as-group', 'network', 'groups', 'profile', 'banner', 'dpd', 'keepalive', 'idle-timeout', 'session-timeout', 'cookie-timeout', 'mtu', 'tun', 'workers', 'dtls', 'auth', 'limits', 'auth-servers', 'accounting', 'cluster', ...OPS_TOP_KEYS]);
  const authServers = readAuthServers(r, o['auth-servers']);

  const listenText = r.str(o['listen'], 'listen') ?? '0.0.0.0:443';
  const lm = /^(?:\[([0-9a-fA-F:]+)\]|([^:]+)):(\d{1,5})$/.exec(listenText) ?? /^()()(\d{1,5})$/.exec(listenText);
  if (!lm || Number(lm[3]) > 65535) r.fail('listen', `expected ADDRESS:PORT like 10.77.0.1:443, got ${JSON.stringify(listenText)}`);
  const listen = { host: lm[1] || lm[2] || '0.0.0.0', port: Number(lm[3]) };

  const tlsO = r.obj(o['tls'], 'tls');
  r.known(tlsO, 'tls', ['cert', 'key', 'client-ca', 'crl', 'cert-user', 'cert-group']);
  const tls: GatewayConfig['tls'] = { certUser: 'CN' };
  const cert = r.path(tlsO['cert'], 'tls.cert');
  const key = r.path(tlsO['key'], 'tls.key');
  if ((cert === undefined) !== (key === undefined)) r.fail(cert ? 'tls.key' : 'tls.cert', 'give both tls.cert and tls.key, or neither (a certificate is then generated)');
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  const clientCa = r.path(tlsO['client-ca'], 'tls.client-ca');
  if (clientCa) tls.clientCa = clientCa;
  readClientCertKeys(r, tlsO, tls);

  const network = readNetwork(r, o['network'], 'network');
  const groupsRaw = o['groups'] ?? [{ name: 'default' }];
  const groups = r.list(groupsRaw, 'groups', (g, key) => {
    const go = r.obj(g, key);
    r.known(go, key, ['name', 'label', 'network', 'banner', 'idle-timeout', 'session-timeout', 'auth', 'second-factor']);
    const name = r.str(go['name'], `${key}.name`);
    if (!name || !/^[A-Za-z0-9._-]{1,64}$/.test(name)) r.fail(`${key}.name`, 'required: 1-64 letters, digits, dot, dash or underscore');
    const gc: GroupConfig = {
      name,
      label: r.str(go['label'], `${key}.label`) ?? name,
      network: go['network'] === undefined ? network : readNetwork(r, go['network'], `${key}.network`, network),
    };
    const banner = r.str(go['banner'], `${key}.banner`);
    if (banner) gc.banner = banner;
    if (go['idle-timeout'] !== undefined) gc.idleTimeout = r.seconds(go['idle-timeout'], `${key}.idle-timeout`, null);
    if (go['session-timeout'] !== undefined) gc.sessionTimeout = r.seconds(go['session-timeout'], `${key}.session-timeout`, null);
    if (go['auth'] !== undefined) gc.auth = readGroupAuth(r, go['auth'], `${key}.auth`, authServers);
    const second = readSecondFactor(r, go['second-factor'], `${key}.second-factor`);
    if (second) gc.secondFactor = second;
    return gc;
  });
  if (groups.length === 0) r.fail('groups', 'at least one group is needed');
  const seen = new Set<string>();
  groups.forEach((g, i) => {
    if (seen.has(g.name.toLowerCase())) r.fail(`groups[${i}].name`, `duplicate group ${g.name}`);
    seen.add(g.name.toLowerCase());
  });
  // Pools of different groups must not overlap: the router finds a session by its address.
  const pools = groups.map((g) => g.network.address).filter((a, i, all) => all.findIndex((b) => b.address === a.address && b.prefix === a.prefix) === i);
  for (let i = 0; i < pools.length; i++) {
    for (let j = i + 1; j < pools.length; j++) {
      if (overlaps(pools[i]!, pools[j]!)) r.fail('groups', `address pools ${formatIpv4(pools[i]!.address)}/${pools[i]!.prefix} and ${formatIpv4(pools[j]!.address)}/${pools[j]!.prefix} overlap`);
    }
  }

  const tunO = r.obj(o['tun'], 'tun');
  r.known(tunO, 'tun', ['name', 'offload']);
  if (tunO['offload'] !== undefined && typeof tunO['offload'] !== 'boolean') r.fail('tun.offload', 'expected true or false');
  const tunName = r.str(tunO['name'], 'tun.name') ?? 'sslgate%d';
  if (tunName.length > 15) r.fail('tun.name', 'interface names have at most 15 characters');

  const dtlsO = r.obj(o['dtls'], 'dtls');
  r.known(dtlsO, 'dtls', ['enabled', 'port', 'allow-3des', 'batch-receive']);
  if (dtlsO['enabled'] !== undefined && typeof dtlsO['enabled'] !== 'boolean') r.fail('dtls.enabled', 'expected true or false');
  if (dtlsO['allow-3des'] !== undefined && typeof dtlsO['allow-3des'] !== 'boolean') r.fail('dtls.allow-3des', 'expected true or false');
  if (dtlsO['batch-receive'] !== undefined && typeof dtlsO['batch-receive'] !== 'boolean') r.fail('dtls.batch-receive', 'expected true or false');

  const authO = r.obj(o['auth'], 'auth');
  r.known(authO, 'auth', ['max-failures', 'failure-window', 'ban-time', 'cache-seconds']);
  const limO = r.obj(o['limits'], 'limits');
  r.known(limO, 'limits', ['max-clients', 'auth-timeout', ...OPS_LIMIT_KEYS]);
  const auth = {
    maxFailures: r.int(authO['max-failures'], 'auth.max-failures', 10, 1, 1000),
    failureWindow: r.int(authO['failure-window'], 'auth.failure-window', 300, 1, 86400),
    banTime: r.int(authO['ban-time'], 'auth.ban-time', 300, 1, 86400),
    cacheSeconds: r.int(authO['cache-seconds'], 'auth.cache-seconds', 600, 0, 86400),
  };
  const state = r.path(o['state'], 'state') ?? DEFAULT_STATE_DIR;
  // A name or a number, as getent takes it (ocserv's defaults: nobody / daemon; Debian's
  // nogroup is the group that owns nothing).
  const account = (key: string, dflt: string): string => {
    const v = r.str(o[key], key) ?? dflt;
    if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$/.test(v)) r.fail(key, `expected a user or group name (or number), got ${JSON.stringify(v)}`);
    if (v === '0' || v === 'root') r.fail(key, 'must not be root: the network-facing process must not keep root');
    return v;
  };

  const cfg: GatewayConfig = {
    ...readOpsConfig(r, o, state, auth),
    file,
    listen,
    tls,
    state,
    runAsUser: account('run-as-user', 'nobody'),
    runAsGroup: account('run-as-group', 'nogroup'),
    network,
    groups,
    dpd: r.int(o['dpd'], 'dpd', 90, 5, 3600),
    keepalive: r.int(o['keepalive'], 'keepalive', 30, 0, 86400),
    idleTimeout: r.seconds(o['idle-timeout'], 'idle-timeout', 1800),
    sessionTimeout: r.seconds(o['session-timeout'], 'session-timeout', null),
    cookieTimeout: r.int(o['cookie-timeout'], 'cookie-timeout', 300, 10, 86400),
    mtu: r.int(o['mtu'], 'mtu', 1500, 576, 9000),
    tun: { name: tunName, offload: tunO['offload'] !== false },
    workers: readWorkers(r, o['workers']),
    dtls: { enabled: dtlsO['enabled'] !== false, port: r.int(dtlsO['port'], 'dtls.port', listen.port, 1, 65535), allow3des: dtlsO['allow-3des'] === true, batchReceive: dtlsO['batch-receive'] !== false },
    auth,
    limits: {
      maxClients: r.int(limO['max-clients'], 'limits.max-clients', 10000, 1, 1_000_000),
      authTimeout: r.int(limO['auth-timeout'], 'limits.auth-timeout', 60, 5, 3600),
      ...readOpsLimits(r, limO),
    },
    authServers,
  };
  groups.forEach((g, i) => {
    if (g.auth?.includes('certificate') && !tls.clientCa) r.fail(`groups[${i}].auth`, 'the certificate method needs tls.client-ca (the CA that issues client certificates)');
  });
  const accounting = readAccounting(r, o['accounting'], authServers);
  if (accounting) cfg.accounting = accounting;
  const profile = r.path(o['profile'], 'profile');
  if (profile) cfg.profile = profile;
  const banner = r.str(o['banner'], 'banner');
  if (banner) cfg.banner = banner;
  const cluster = readClusterConfig(r, o['cluster']);
  if (cluster) cfg.cluster = cluster;
  return cfg;
}

export function parseConfigText(text: string, where: string, base: string, file: string | null): GatewayConfig {
  let doc: unknown;
  try {
    // YAML warnings (unknown tag or directive) are refused like errors: they mean a typo, and
    // the library would otherwise print them as Node process warnings and load the file anyway
    // (seen while fuzzing the loader).
    const parsed = parseDocument(text, { logLevel: 'error' });
    const problem = parsed.errors[0] ?? parsed.warnings[0];
    if (problem) throw problem;
    doc = parsed.toJS();
  } catch (e) {
    throw new ConfigError(where, '(syntax)', (e as Error).message.split('\n')[0]!);
  }
  return buildConfig(doc ?? {}, where, base, file);
}

/** Loads and validates a config file, or the embedded defaults (relative to the cwd). */
export function loadConfig(file: string | undefined): GatewayConfig {
  if (!file) return parseConfigText(DEFAULT_YAML, '(embedded defaults)', process.cwd(), null);
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    throw new ConfigError(abs, '(file)', (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (e as Error).message);
  }
  return parseConfigText(text, abs, dirname(abs), abs);
}
