/**
 * The two clients under test, brought up to a working tunnel in the client namespace:
 * Debian's openconnect (test/helpers/openconnect.ts) and ours (`bin/sslgate connect`).
 *
 * Our client is being written while this suite exists: `sslgateClientSupport()` reads its
 * `--help` to learn which options it has (DTLS, prefs folder), and a client that does not bring a
 * tunnel up makes its rows "n/a" with the reason, not a benchmark failure.
 */
import { spawnSync } from 'node:child_process';
import type { Ns, NsProcess } from '../../test/helpers/netns.js';
import { tempDir } from '../../test/helpers/netns.js';
import { startOpenconnect, VPNC_SCRIPT } from '../../test/helpers/openconnect.js';
import { SSLGATE_BIN } from '../../test/helpers/sslgate.js';

export interface Login {
  url: string;
  pin: string;
  user: string;
  password: string;
  group: string;
  /** the gateway's tunnel address: the tunnel is up once the route to it goes through the TUN */
  tunAddr: string;
}

export interface TunnelClient {
  kind: 'openconnect' | 'sslgate';
  proc: NsProcess;
  iface: string;
  address: string;
  /** DTLS ciphersuite line when DTLS is up, else undefined */
  dtls?: string;
  /** ms from spawn to the tunnel being configured */
  ms: number;
  stop(): Promise<void>;
}

/** The tunnel came up, but not over DTLS (the gateway or client does not offer it). */
export class NoDtlsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoDtlsError';
  }
}

export async function connectOpenconnect(ns: Ns, l: Login, args: string[], dtls: RegExp | null, timeoutMs = 30_000): Promise<TunnelClient> {
  const c = startOpenconnect(ns, { url: l.url, user: l.user, password: l.password, authgroup: l.group, servercert: l.pin, extraArgs: args });
  try {
    const tun = await c.waitTunnel(timeoutMs);
    await waitRoute(ns, l.tunAddr, tun.iface, 5000);
    let dtlsLine: string | undefined;
    if (dtls) {
      const m = await c.proc.waitForLine(/Established DTLS connection.*|DTLS handshake failed.*|No DTLS address/, 10_000).catch(() => null);
      const line = m?.[0] ?? '';
      if (!line.startsWith('Established') || !dtls.test(line)) {
        await c.stop().catch(() => undefined);
        throw new NoDtlsError(line ? `openconnect: ${line}` : 'no DTLS offered (openconnect stayed on TLS)');
      }
      dtlsLine = line;
    }
    const out: TunnelClient = { kind: 'openconnect', proc: c.proc, iface: tun.iface, address: tun.address, ms: tun.ms, stop: async () => void (await c.stop()) };
    if (dtlsLine !== undefined) out.dtls = dtlsLine;
    return out;
  } catch (e) {
    if (!(e instanceof NoDtlsError)) await c.stop().catch(() => undefined);
    throw e;
  }
}

export interface ClientSupport {
  /** `sslgate connect` exists */
  connect: boolean;
  dtls: boolean;
  flags: Set<string>;
  reason?: string;
}

let support: ClientSupport | null = null;

/** What `sslgate connect --help` offers (long option names). */
export function sslgateClientSupport(): ClientSupport {
  if (support) return support;
  const r = spawnSync(process.execPath, [SSLGATE_BIN, 'connect', '--help'], { encoding: 'utf8', timeout: 20_000 });
  const help = `${r.stdout ?? ''}`;
  const flags = new Set([...help.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1]!));
  if (r.status !== 0 || !flags.has('user')) {
    support = { connect: false, dtls: false, flags, reason: `sslgate connect --help failed: ${(r.stderr ?? '').trim().split('\n')[0] ?? ''}` };
  } else {
    support = { connect: true, dtls: /dtls/i.test(help), flags };
  }
  return support;
}

let ifCounter = 0;
/** One preferences folder for the run: like a user's, it keeps the downloaded profile between connects. */
let prefsDir: string | undefined;

/** Waits until the route to `dest` in `ns` leaves through `iface`. */
export async function waitRoute(ns: Ns, dest: string, iface: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await ns.exec('ip', ['-o', '-4', 'route', 'get', dest], { timeoutMs: 5000 });
    if (r.code === 0 && r.stdout.includes(` dev ${iface} `)) return;
    if (Date.now() > deadline) throw new Error(`no route to ${dest} via ${iface}: ${r.stdout || r.stderr}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** Waits until `iface` in `ns` has an IPv4 address; returns it. */
async function waitAddress(ns: Ns, iface: string, proc: NsProcess, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await ns.exec('ip', ['-o', '-4', 'addr', 'show', 'dev', iface], { timeoutMs: 5000 });
    const m = / inet ([0-9.]+)/.exec(r.stdout);
    if (m) return m[1]!;
    if (!proc.running) throw new Error(`sslgate connect exited (${JSON.stringify(proc.exitStatus)}): ${proc.tail(5).trim()}`);
    if (Date.now() > deadline) throw new Error(`sslgate connect: no tunnel after ${timeoutMs} ms: ${proc.tail(5).trim()}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

export interface SpawnedClient {
  proc: NsProcess;
  iface: string;
  stop(): Promise<void>;
}

/** Starts `sslgate connect` without waiting for anything (the latency item times it from here). */
export function spawnSslgateClient(ns: Ns, l: Login, args: string[], opts: { script?: boolean; env?: NodeJS.ProcessEnv } = {}): SpawnedClient {
  const s = sslgateClientSupport();
  if (!s.connect) throw new Error(s.reason ?? 'sslgate connect is not available');
  const iface = `sgc${ifCounter++}`;
  const argv = [SSLGATE_BIN, 'connect', l.url, '--user', l.user, '--passwd-on-stdin', '--authgroup', l.group, '--servercert', l.pin, '--interface', iface];
  if (s.flags.has('non-inter')) argv.push('--non-inter');
  // Keep its preferences out of root's home.
  if (s.flags.has('prefs-dir')) argv.push('--prefs-dir', (prefsDir ??= tempDir('sgclprefs')));
  if (opts.script) argv.push('--script', VPNC_SCRIPT);
  argv.push(...args);
  // Run as a user runs it: bin/sslgate as a command (its shell line defers NODE_EXTRA_CA_CERTS
  // past Node's start, src/client/deferred-extra-ca.ts), not `node bin/sslgate`.
  const proc = ns.spawn(argv[0]!, argv.slice(1), { label: `sslgate-connect@${ns.name}`, ...(opts.env ? { env: opts.env } : {}) });
  proc.write(`${l.password}\n`);
  proc.endStdin();
  return {
    proc,
    iface,
    async stop(): Promise<void> {
      // SIGINT: DISCONNECT to the gateway, host configuration undone, exit 0.
      await proc.stop('SIGINT', 5000);
    },
  };
}

/**
 * The mode's arguments our client understands: null (with the missing option) when a DTLS mode
 * needs an option it lacks; `--no-dtls` is dropped for a client that has no DTLS at all.
 */
export function sslgateClientArgs(args: string[], dtls: boolean): { args: string[] } | { missing: string } {
  const flags = sslgateClientSupport().flags;
  const out: string[] = [];
  for (const a of args) {
    const name = /^--([a-z0-9-]+)/.exec(a)?.[1];
    if (name === undefined || flags.has(name)) out.push(a);
    else if (dtls || name !== 'no-dtls') return { missing: `--${name}` };
  }
  return { args: out };
}

export async function connectSslgateClient(
  ns: Ns,
  l: Login,
  args: string[],
  opts: { script?: boolean; timeoutMs?: number; dtls?: RegExp | null } = {},
): Promise<TunnelClient> {
  const t0 = Date.now();
  const c = spawnSslgateClient(ns, l, args, opts);
  try {
    const address = await waitAddress(ns, c.iface, c.proc, opts.timeoutMs ?? 30_000);
    await waitRoute(ns, l.tunAddr, c.iface, 5000);
    const out: TunnelClient = { kind: 'sslgate', proc: c.proc, iface: c.iface, address, ms: Date.now() - t0, stop: c.stop };
    if (opts.dtls) {
      // "DTLS up after N ms: <plan>, <version> <suite>; data over DTLS", or its fallback line.
      const m = await c.proc.waitForLine(/DTLS up after \d+ ms: (.*); data over DTLS|DTLS fallback: .*|DTLS given up.*/, 10_000).catch(() => null);
      const up = m?.[1];
      if (up === undefined || !opts.dtls.test(up)) {
        const said = m?.[0] ?? c.proc.lines.map((x) => x.text).filter((t) => /DTLS/.test(t)).pop() ?? 'no DTLS line';
        throw new NoDtlsError(`sslgate connect: ${said}`);
      }
      out.dtls = up;
    }
    return out;
  } catch (e) {
    await c.stop().catch(() => undefined);
    throw e;
  }
}
