/**
 * Runs Debian's ocserv 1.1.6 as a test-owned foreground process inside a
 * testbed namespace (never the system service), with all state (config,
 * certificates, password file, sockets, pid file) in a temp dir.
 *
 * The generated config follows the lab config behind the reference
 * transcripts (shared/reference/transcripts/ocserv-*-server.txt): Debian's
 * defaults, select-group Employees / Contractors[External Contractors],
 * split route to the pool, default-domain lab.test, a user profile.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { execIn, tempDir, type Ns, type NsProcess, type OutputLine } from './netns.js';
import { CLIENT_EXT, EC_KEY, RSA_KEY, issue, makeCa, spkiSha256 } from './pki.js';

export { spkiSha256 };

// ---------------------------------------------------------------- PKI

export interface ClientCert {
  user: string;
  certFile: string;
  keyFile: string;
}

export interface Pki {
  dir: string;
  /** CA that signed the server certificate. */
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** `pin-sha256:<base64 sha256 of the server's DER SPKI>`, for openconnect --servercert. */
  pin: string;
  /** CA that signed the client certificates (a separate CA). */
  clientCaFile: string;
  clientCerts: Map<string, ClientCert>;
}

/**
 * Generates a server CA + server certificate (SAN = serverIp; RSA-2048 key
 * unless serverKey = 'ec') and, for each
 * client user, a certificate from a separate client CA with CN=UID=user and
 * one OU per group (ocserv reads them with cert-group-oid 2.5.4.11).
 */
export async function makePki(
  dir: string,
  serverIp: string,
  clients: Array<{ user: string; groups?: string[] }> = [],
  serverKey: 'rsa' | 'ec' = 'rsa',
): Promise<Pki> {
  const ca = await makeCa(dir, 'ca', 'sslgate test CA');
  const server = await issue(
    dir,
    ca,
    'server',
    `/CN=${serverIp}`,
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature${serverKey === 'ec' ? '' : ',keyEncipherment'}\n` +
      `extendedKeyUsage=serverAuth\nsubjectAltName=IP:${serverIp}\n`,
    serverKey === 'ec' ? EC_KEY : RSA_KEY,
  );
  const clientCa = await makeCa(dir, 'client-ca', 'sslgate test client CA');
  const clientCerts = new Map<string, ClientCert>();
  for (const c of clients) {
    const ous = (c.groups ?? []).map((g) => `/OU=${g}`).join('');
    const issued = await issue(
      dir,
      clientCa,
      `client-${c.user}`,
      `/CN=${c.user}/UID=${c.user}${ous}`,
      CLIENT_EXT,
      EC_KEY,
    );
    clientCerts.set(c.user, { user: c.user, certFile: issued.cert, keyFile: issued.key });
  }
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644); // workers run as nobody
  return {
    dir,
    caFile: ca.cert,
    serverCertFile: server.cert,
    serverKeyFile: server.key,
    pin: `pin-sha256:${spkiSha256(fs.readFileSync(server.cert))}`,
    clientCaFile: clientCa.cert,
    clientCerts,
  };
}

// ---------------------------------------------------------------- config

/** Options ocserv 1.1.6 accepts per group (config-per-group); others are global only. */
export interface OcservGroup {
  name: string;
  /** Shown in the group list: `select-group = name[label]`. */
  label?: string;
  /** CIDR pool for this group, e.g. '10.101.7.0/24'. */
  ipv4Network?: string;
  dns?: string[];
  routes?: string[];
  dpd?: number;
  keepalive?: number;
  /** `no-udp = true`: no DTLS for this group. */
  noUdp?: boolean;
  /** Raw extra lines for the group file. */
  extra?: string[];
}

export interface OcservUser {
  name: string;
  /** Plain auth only. */
  password?: string;
  groups?: string[];
}

export interface OcservOptions {
  /** Address to listen on (the gateway's veth address). */
  listenHost: string;
  tcpPort?: number;
  /** Default: same as tcpPort. 0 disables UDP (no DTLS). */
  udpPort?: number;
  auth?: 'password' | 'certificate';
  /** plain auth with an oath users file: `plain[passwd=...,otp=FILE]` (liboath's format, mod-authn-otp's UsersFile) */
  otpFile?: string;
  /** the whole value of `auth = "..."`, e.g. `radius[config=FILE]` (replaces the plain/certificate line) */
  authConfig?: string;
  /** Default: alice/secret in Employees and Contractors. */
  users?: OcservUser[];
  /** Default: Employees, Contractors[External Contractors] (as in the lab). */
  groups?: OcservGroup[];
  /** Global pool (CIDR); ocserv takes its first address for its TUN side. */
  ipv4Network: string;
  /** Default: the first address of the pool (as the lab). */
  dns?: string[];
  /** Default: the pool itself (split tunnel, as the lab). 'default' for a full tunnel. */
  routes?: string[];
  defaultDomain?: string;
  banner?: string;
  /** profile.xml content served to clients (global only in ocserv). Default: a minimal profile. null: none. */
  userProfile?: string | null;
  ciscoClientCompat?: boolean;
  dtlsLegacy?: boolean;
  dtlsPsk?: boolean;
  dpd?: number;
  keepalive?: number;
  cookieTimeout?: number;
  /** Default: Debian's (TLS 1.2 only, as in the lab transcripts). */
  tlsPriorities?: string;
  isolateWorkers?: boolean;
  /** Raw extra lines for the global section. */
  extraConfig?: string[];
  /** ocserv -d level (default 2; the lab used 4, which also logs HTTP headers). */
  debug?: number;
  startTimeoutMs?: number;
  /** Reuse certificates (e.g. from another server in the same test). */
  pki?: Pki;
}

const DEBIAN_TLS_PRIORITIES = 'NORMAL:%SERVER_PRECEDENCE:%COMPAT:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-TLS1.3';

const DEFAULT_PROFILE = `<?xml version="1.0" encoding="UTF-8"?>
<AnyConnectProfile xmlns="http://schemas.xmlsoap.org/encoding/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://schemas.xmlsoap.org/encoding/ AnyConnectProfile.xsd">
  <ServerList>
    <HostEntry>
      <HostName>sslgate interop ocserv</HostName>
      <HostAddress>localhost</HostAddress>
    </HostEntry>
  </ServerList>
</AnyConnectProfile>
`;

/** First host address of a CIDR (ocserv's own TUN address for that pool). */
export function firstHost(cidr: string): string {
  const [addr, lenStr] = cidr.split('/');
  const len = Number(lenStr ?? '32');
  const parts = (addr ?? '').split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255) || !(len >= 0 && len <= 30)) {
    throw new Error(`bad IPv4 CIDR: ${cidr}`);
  }
  const n = parts.reduce((a, p) => a * 256 + p, 0);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const first = ((n & mask) >>> 0) + 1;
  return [24, 16, 8, 0].map((s) => (first >>> s) & 255).join('.');
}

const q = (s: string): string => `"${s.replace(/"/g, '\\"')}"`;

function renderConfig(o: OcservOptions, dir: string, pki: Pki, groups: OcservGroup[]): string {
  const tcpPort = o.tcpPort ?? 443;
  const udpPort = o.udpPort ?? tcpPort;
  const lines: string[] = [
    '# generated by test/helpers/ocserv.ts',
    o.authConfig !== undefined
      ? `auth = ${q(o.authConfig)}`
      : o.auth === 'certificate'
        ? 'auth = "certificate"'
        : `auth = "plain[passwd=${path.join(dir, 'ocpasswd')}${o.otpFile !== undefined ? `,otp=${o.otpFile}` : ''}]"`,
    `listen-host = ${o.listenHost}`,
    `tcp-port = ${tcpPort}`,
    // ocserv has no UDP at all when udp-port is absent.
    ...(udpPort > 0 ? [`udp-port = ${udpPort}`] : []),
    'run-as-user = nobody',
    'run-as-group = nogroup',
    `socket-file = ${path.join(dir, 'ocserv.sock')}`,
    `occtl-socket-file = ${path.join(dir, 'occtl.sock')}`,
    'use-occtl = true',
    `pid-file = ${path.join(dir, 'ocserv.pid')}`,
    `server-cert = ${pki.serverCertFile}`,
    `server-key = ${pki.serverKeyFile}`,
    ...(o.auth === 'certificate'
      ? [`ca-cert = ${pki.clientCaFile}`, 'cert-user-oid = 2.5.4.3', 'cert-group-oid = 2.5.4.11']
      : []),
    // seccomp worker isolation is not what we test and may trip over sandboxes.
    `isolate-workers = ${o.isolateWorkers ?? false}`,
    'max-clients = 16',
    // Tests reconnect often and from one address: no per-user limit, no bans.
    'max-same-clients = 0',
    'rate-limit-ms = 0',
    'max-ban-score = 0',
    'server-stats-reset-time = 604800',
    `keepalive = ${o.keepalive ?? 32400}`,
    `dpd = ${o.dpd ?? 90}`,
    'mobile-dpd = 1800',
    'switch-to-tcp-timeout = 25',
    'try-mtu-discovery = false',
    `tls-priorities = ${q(o.tlsPriorities ?? DEBIAN_TLS_PRIORITIES)}`,
    'auth-timeout = 240',
    'min-reauth-time = 1',
    `cookie-timeout = ${o.cookieTimeout ?? 300}`,
    'deny-roaming = false',
    'rekey-time = 172800',
    'rekey-method = ssl',
    'device = vpns',
    'predictable-ips = true',
    `default-domain = ${o.defaultDomain ?? 'lab.test'}`,
    `ipv4-network = ${o.ipv4Network}`,
    ...(o.dns ?? [firstHost(o.ipv4Network)]).map((d) => `dns = ${d}`),
    'ping-leases = false',
    ...(o.routes ?? [o.ipv4Network]).map((r) => `route = ${r}`),
    `cisco-client-compat = ${o.ciscoClientCompat ?? true}`,
    `dtls-legacy = ${o.dtlsLegacy ?? true}`,
    `dtls-psk = ${o.dtlsPsk ?? true}`,
    'client-bypass-protocol = false',
  ];
  if (o.banner !== undefined) lines.push(`banner = ${q(o.banner)}`);
  if (o.userProfile !== null) lines.push(`user-profile = ${path.join(dir, 'profile.xml')}`);
  if (groups.length > 0) {
    for (const g of groups) lines.push(`select-group = ${g.name}${g.label ? `[${g.label}]` : ''}`);
    lines.push(`config-per-group = ${path.join(dir, 'groups')}`);
  }
  lines.push(...(o.extraConfig ?? []));
  return lines.join('\n') + '\n';
}

function renderGroup(g: OcservGroup): string {
  const lines: string[] = [];
  if (g.ipv4Network) lines.push(`ipv4-network = ${g.ipv4Network}`);
  for (const d of g.dns ?? []) lines.push(`dns = ${d}`);
  for (const r of g.routes ?? []) lines.push(`route = ${r}`);
  if (g.dpd !== undefined) lines.push(`dpd = ${g.dpd}`);
  if (g.keepalive !== undefined) lines.push(`keepalive = ${g.keepalive}`);
  if (g.noUdp !== undefined) lines.push(`no-udp = ${g.noUdp}`);
  lines.push(...(g.extra ?? []));
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------- server

export interface OcservServer {
  /** The running ocserv main process (replaced by restart()). */
  readonly handle: NsProcess;
  /** https://<listenHost>[:port] */
  readonly url: string;
  /** `pin-sha256:...` for openconnect --servercert. */
  readonly pin: string;
  readonly caFile: string;
  readonly pki: Pki;
  readonly dir: string;
  readonly confFile: string;
  /** Log lines of the current process (handle.lines). */
  readonly serverLog: OutputLine[];
  /** ocserv's own TUN-side address for the global pool (first host). */
  readonly tunAddr: string;
  /** ocserv's TUN-side address for a group with its own pool. */
  groupTunAddr(group: string): string;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

function defaultGroups(): OcservGroup[] {
  return [{ name: 'Employees' }, { name: 'Contractors', label: 'External Contractors' }];
}

async function writeUsers(dir: string, users: OcservUser[]): Promise<void> {
  const file = path.join(dir, 'ocpasswd');
  fs.writeFileSync(file, '');
  for (const u of users) {
    const args = ['-c', file];
    if (u.groups && u.groups.length > 0) args.push('-g', u.groups.join(','));
    const pw = u.password ?? 'secret';
    // ocpasswd reads the password (twice) from stdin when it is not a tty.
    await execIn(null, 'ocpasswd', [...args, u.name], { input: `${pw}\n${pw}\n`, timeoutMs: 10_000, check: true });
  }
  fs.chmodSync(file, 0o644);
}

/** TCP connect from inside the namespace (ocserv answers as soon as it listens). */
async function probeTcp(ns: Ns, host: string, port: number): Promise<boolean> {
  const js = `const s=require('node:net').connect(${port},${JSON.stringify(host)},()=>{s.destroy();process.exit(0)});s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(1),1000)`;
  const r = await ns.exec(process.execPath, ['-e', js], { timeoutMs: 5000 });
  return r.code === 0;
}

export async function startOcserv(ns: Ns, opts: OcservOptions): Promise<OcservServer> {
  if (!net.isIPv4(opts.listenHost)) throw new Error(`startOcserv: listenHost must be an IPv4 address, got ${opts.listenHost}`);
  const dir = tempDir('ocserv');
  // Workers run as nobody and must reach the sec-mod socket and profile in here.
  fs.chmodSync(dir, 0o755);
  const groups = opts.groups ?? defaultGroups();
  const users = opts.users ?? [{ name: 'alice', password: 'secret', groups: groups.map((g) => g.name) }];
  const certDir = path.join(dir, 'certs');
  fs.mkdirSync(certDir, { mode: 0o755 });
  const pki =
    opts.pki ??
    (await makePki(
      certDir,
      opts.listenHost,
      opts.auth === 'certificate' ? users.map((u) => ({ user: u.name, groups: u.groups })) : [],
    ));
  if (opts.auth !== 'certificate') await writeUsers(dir, users);
  if (groups.length > 0) {
    const gdir = path.join(dir, 'groups');
    fs.mkdirSync(gdir, { mode: 0o755 });
    for (const g of groups) fs.writeFileSync(path.join(gdir, g.name), renderGroup(g), { mode: 0o644 });
  }
  if (opts.userProfile !== null) {
    fs.writeFileSync(path.join(dir, 'profile.xml'), opts.userProfile ?? DEFAULT_PROFILE, { mode: 0o644 });
  }
  const confFile = path.join(dir, 'ocserv.conf');
  fs.writeFileSync(confFile, renderConfig(opts, dir, pki, groups), { mode: 0o644 });

  const tcpPort = opts.tcpPort ?? 443;
  const startTimeoutMs = opts.startTimeoutMs ?? 15_000;
  const debug = String(opts.debug ?? 2);
  const url = `https://${opts.listenHost}${tcpPort === 443 ? '' : `:${tcpPort}`}`;

  const launch = async (): Promise<NsProcess> => {
    const proc = ns.spawn('ocserv', ['-f', '-d', debug, '-c', confFile], { cwd: dir, label: `ocserv@${ns.name}` });
    try {
      await proc.waitForLine(/main: initialized ocserv/, startTimeoutMs);
      // The log line comes after the listen sockets exist; confirm anyway.
      const deadline = Date.now() + startTimeoutMs;
      while (!(await probeTcp(ns, opts.listenHost, tcpPort))) {
        if (!proc.running || Date.now() > deadline) {
          throw new Error(`ocserv does not accept TCP on ${opts.listenHost}:${tcpPort}; last output:\n${proc.tail()}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (err) {
      await proc.stop('SIGKILL', 2000);
      throw new Error(`ocserv failed to start (config ${confFile}): ${(err as Error).message}`);
    }
    return proc;
  };

  let handle = await launch();
  const stop = async (): Promise<void> => {
    // SIGTERM lets main close sessions; the group kill after exit reaps workers.
    await handle.stop('SIGTERM', 5000);
  };
  return {
    get handle() {
      return handle;
    },
    url,
    pin: pki.pin,
    caFile: pki.caFile,
    pki,
    dir,
    confFile,
    get serverLog() {
      return handle.lines;
    },
    tunAddr: firstHost(opts.ipv4Network),
    groupTunAddr(group: string): string {
      const g = groups.find((x) => x.name === group);
      if (!g) throw new Error(`no group ${group}`);
      return firstHost(g.ipv4Network ?? opts.ipv4Network);
    },
    stop,
    async restart(): Promise<void> {
      await stop();
      handle = await launch();
    },
  };
}
