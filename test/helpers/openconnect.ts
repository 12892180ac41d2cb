/**
 * Runs Debian's openconnect 9.01 client inside a testbed namespace.
 *
 * openconnect runs vpnc-script there, which configures the TUN address,
 * routes and /etc/resolv.conf; `ip netns exec` bind-mounts the namespace's
 * own /etc/netns/<ns>/resolv.conf (created by createTestbed), so the host's
 * resolver config is never touched.
 */
import * as fs from 'node:fs';
import { registerCleanup, type Ns, type NsProcess, type OutputLine, type ExitStatus } from './netns.js';

export const VPNC_SCRIPT = '/usr/share/vpnc-scripts/vpnc-script';

export interface OpenconnectOptions {
  /** https://host[:port][/path] */
  url: string;
  user?: string;
  /** Sent on stdin (--passwd-on-stdin). Omit for certificate-only logins. */
  password?: string;
  /** A webvpn cookie from an earlier `--authenticate`, sent on stdin (--cookie-on-stdin): no login. */
  cookie?: string;
  authgroup?: string;
  /** e.g. 'pin-sha256:...' from startOcserv().pin. */
  servercert?: string;
  /** Client certificate and key files (certificate authentication). */
  certFile?: string;
  keyFile?: string;
  /** --no-dtls: CSTP (TLS) only. */
  noDtls?: boolean;
  /** TUN device name inside the namespace (default oc<N>, unique in this process). */
  iface?: string;
  /** vpnc-compatible script (default Debian's vpnc-script). */
  script?: string;
  /** -v: also logs every data packet (noisy with bulk transfers). */
  verbose?: boolean;
  extraArgs?: string[];
  /**
   * Further stdin lines after the password, one per later prompt: with --passwd-on-stdin and
   * --non-inter, openconnect 9.01 reads each prompt it cannot fill from the next stdin line
   * (main.c prompt_for_input, allow_stdin_read), e.g. a TOTP code or new + verify password.
   */
  stdinLines?: string[];
}

export interface TunnelInfo {
  /** Assigned IPv4 address. */
  address: string;
  iface: string;
  /** 'connected' | 'disabled' | 'disconnected' | ... (DTLS state in the "Configured as" line). */
  dtls: string;
  /** The full "Configured as ..." line. */
  line: string;
  /** ms from spawn to that line. */
  ms: number;
}

let ifCounter = 0;

export class OpenconnectClient {
  readonly proc: NsProcess;
  readonly iface: string;
  private readonly unregister: () => void;

  constructor(
    readonly ns: Ns,
    readonly opts: OpenconnectOptions,
  ) {
    this.iface = opts.iface ?? `oc${ifCounter++}`;
    const args = ['--non-inter', '--interface', this.iface, '--script', opts.script ?? VPNC_SCRIPT];
    if (opts.user !== undefined) args.push('--user', opts.user);
    if (opts.password !== undefined) args.push('--passwd-on-stdin');
    if (opts.cookie !== undefined) args.push('--cookie-on-stdin');
    if (opts.authgroup !== undefined) args.push('--authgroup', opts.authgroup);
    if (opts.servercert !== undefined) args.push('--servercert', opts.servercert);
    if (opts.certFile !== undefined) args.push('--certificate', opts.certFile);
    if (opts.keyFile !== undefined) args.push('--sslkey', opts.keyFile);
    if (opts.noDtls) args.push('--no-dtls');
    if (opts.verbose) args.push('-v');
    args.push(...(opts.extraArgs ?? []), opts.url);
    this.proc = ns.spawn('openconnect', args, { label: `openconnect@${ns.name}` });
    if (opts.cookie !== undefined) this.proc.write(`${opts.cookie}\n`);
    if (opts.password !== undefined) this.proc.write(`${opts.password}\n`);
    for (const line of opts.stdinLines ?? []) this.proc.write(`${line}\n`);
    this.proc.endStdin();
    // vpnc-script keeps per-connection state in the host's /var/run/vpnc,
    // keyed by openconnect's pid (VPNPID); remove it even after a SIGKILL.
    const pid = this.proc.pid;
    this.unregister = registerCleanup(() => {
      for (const f of ['defaultroute', 'defaultroute_ipv6', 'resolv.conf-backup']) {
        fs.rmSync(`/var/run/vpnc/${f}.${pid}`, { force: true });
      }
    });
  }

  get lines(): OutputLine[] {
    return this.proc.lines;
  }

  /**
   * Waits for "Configured as <addr>, with SSL connected and DTLS <state>"
   * (printed after vpnc-script ran), then checks the address is on the TUN.
   */
  async waitTunnel(timeoutMs = 20_000): Promise<TunnelInfo> {
    const t0 = Date.now();
    const m = await this.proc.waitForLine(/^Configured as ([0-9.]+).*?, with SSL.* and DTLS (\w+)/, timeoutMs);
    const hit = this.proc.lines.find((l) => l.text === m.input);
    const info: TunnelInfo = {
      address: m[1] ?? '',
      iface: this.iface,
      dtls: m[2] ?? '',
      line: m.input ?? m[0],
      ms: (hit?.t ?? Date.now()) - this.proc.startedAt,
    };
    const deadline = t0 + timeoutMs;
    for (;;) {
      const r = await this.ns.exec('ip', ['-o', '-4', 'addr', 'show', 'dev', this.iface], { timeoutMs: 5000 });
      // vpnc-script adds "<addr>/32 peer <addr>" or "<addr>/<len>".
      if (r.code === 0 && (r.stdout.includes(` ${info.address}/`) || r.stdout.includes(` ${info.address} `))) return info;
      if (Date.now() > deadline) {
        throw new Error(
          `openconnect reported ${info.address} but ${this.iface} has: ${r.stdout || r.stderr}; last output:\n${this.proc.tail()}`,
        );
      }
      await new Promise((r2) => setTimeout(r2, 50));
    }
  }

  /** SIGINT (openconnect sends BYE and runs the script's disconnect), then waits; SIGKILL after graceMs. */
  async stop(graceMs = 5000): Promise<ExitStatus> {
    try {
      return await this.proc.stop('SIGINT', graceMs);
    } finally {
      this.unregister();
      for (const f of ['defaultroute', 'defaultroute_ipv6', 'resolv.conf-backup']) {
        fs.rmSync(`/var/run/vpnc/${f}.${this.proc.pid}`, { force: true });
      }
    }
  }
}

export function startOpenconnect(ns: Ns, opts: OpenconnectOptions): OpenconnectClient {
  return new OpenconnectClient(ns, opts);
}
