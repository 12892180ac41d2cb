/**
 * Runs our client (`bin/sslgate connect`) inside a testbed namespace, for the client interop
 * tests (test/interop/client-*.test.ts). Each client gets its own preferences folder (never the
 * real home). vpnc-script state that Debian's script keeps in /var/run/vpnc (keyed by VPNPID)
 * is removed afterwards, also after a kill.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerCleanup, type ExitStatus, type Ns, type NsProcess, type ExecResult } from '../helpers/netns.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const SSLGATE_BIN = path.join(REPO_ROOT, 'bin', 'sslgate');

export interface ClientOptions {
  url: string;
  prefsDir: string;
  user?: string;
  /** written to stdin, one line each (--passwd-on-stdin) */
  passwords?: string[];
  /** other stdin lines, without adding --passwd-on-stdin (e.g. for --cookie-on-stdin) */
  stdin?: string[];
  authgroup?: string;
  servercert?: string[];
  cafile?: string;
  certFile?: string;
  keyFile?: string;
  script?: string;
  iface?: string;
  /** -v by default (timings in the log); false for none */
  verbose?: boolean;
  extraArgs?: string[];
  /** the script node runs (default bin/sslgate), e.g. the bundle itself */
  entry?: string;
  /** extra environment (e.g. SSLGATE_UDP_RX_BATCH=0 for a fallback) */
  env?: Record<string, string>;
}

export function clientArgs(o: ClientOptions): string[] {
  const a = [o.entry ?? SSLGATE_BIN, 'connect', o.url, '--non-inter', '--prefs-dir', o.prefsDir];
  if (o.user !== undefined) a.push('--user', o.user);
  if (o.passwords?.length) a.push('--passwd-on-stdin');
  if (o.authgroup !== undefined) a.push('--authgroup', o.authgroup);
  for (const p of o.servercert ?? []) a.push('--servercert', p);
  if (o.cafile !== undefined) a.push('--cafile', o.cafile);
  if (o.certFile !== undefined) a.push('--certificate', o.certFile);
  if (o.keyFile !== undefined) a.push('--sslkey', o.keyFile);
  if (o.script !== undefined) a.push('--script', o.script);
  if (o.iface !== undefined) a.push('--interface', o.iface);
  if (o.verbose !== false) a.push('-v');
  a.push(...(o.extraArgs ?? []));
  return a;
}

export interface TunnelUp {
  address: string;
  iface: string;
  mtu: number;
  /** ms from spawn to the "Tunnel up" line */
  ms: number;
}

function removeVpncState(pid: number): void {
  for (const f of ['defaultroute', 'defaultroute_ipv6', 'resolv.conf-backup']) fs.rmSync(`/var/run/vpnc/${f}.${pid}`, { force: true });
}

export class SslgateClient {
  readonly proc: NsProcess;
  private readonly unregister: () => void;

  constructor(readonly ns: Ns, readonly opts: ClientOptions) {
    this.proc = ns.spawn(process.execPath, clientArgs(opts), { label: `sslgate-connect@${ns.name}`, ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}) });
    for (const p of [...(opts.passwords ?? []), ...(opts.stdin ?? [])]) this.proc.write(`${p}\n`);
    this.proc.endStdin();
    const pid = this.proc.pid;
    this.unregister = registerCleanup(() => removeVpncState(pid));
  }

  /** Waits for "Tunnel up: ADDR/MASK on DEV, MTU N" and checks the address is on the device. */
  async waitTunnel(timeoutMs = 20_000): Promise<TunnelUp> {
    const m = await this.proc.waitForLine(/^Tunnel up: ([0-9.]+)\S* on (\S+), MTU (\d+)/, timeoutMs);
    const line = this.proc.lines.find((l) => l.text === m.input);
    const up: TunnelUp = { address: m[1]!, iface: m[2]!.replace(/,$/, ''), mtu: Number(m[3]), ms: (line?.t ?? Date.now()) - this.proc.startedAt };
    const r = await this.ns.exec('ip', ['-o', '-4', 'addr', 'show', 'dev', up.iface], { timeoutMs: 5000 });
    if (!r.stdout.includes(` ${up.address}/`)) throw new Error(`client reported ${up.address} but ${up.iface} has: ${r.stdout || r.stderr}\n${this.proc.tail()}`);
    return up;
  }

  output(): string {
    return this.proc.lines.map((l) => l.text).join('\n');
  }

  /** SIGINT (DISCONNECT, undo, exit 0), SIGKILL after graceMs. */
  async stop(graceMs = 5000): Promise<ExitStatus> {
    try {
      return await this.proc.stop('SIGINT', graceMs);
    } finally {
      this.unregister();
      removeVpncState(this.proc.pid);
    }
  }
}

export function startClient(ns: Ns, o: ClientOptions): SslgateClient {
  return new SslgateClient(ns, o);
}

/** Runs a client that is expected to exit by itself (refusals, --authenticate). */
export async function runClient(ns: Ns, o: ClientOptions, timeoutMs = 30_000): Promise<ExecResult> {
  const r = await ns.exec(process.execPath, clientArgs(o), { timeoutMs, input: [...(o.passwords ?? []), ...(o.stdin ?? [])].map((p) => p + '\n').join('') });
  return r;
}

/** Median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
