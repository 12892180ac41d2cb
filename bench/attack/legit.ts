/**
 * The legitimate user: Debian's openconnect with its defaults (DTLS on), logging in as a person
 * would, then a ping and a bulk TCP transfer through the tunnel to a server in the gateway
 * namespace, SHA-256 compared on both ends.
 */
import { tcpTransfer, type Ns } from '../../test/helpers/netns.js';
import { startOpenconnect, type OpenconnectClient } from '../../test/helpers/openconnect.js';
import type { DrillGateway, DrillUser } from './gateway.js';

/**
 * Times come from the kernel, not from openconnect's output: openconnect writes its progress to
 * stdout, which is block-buffered into our pipe, so a line's arrival says little about when it
 * was printed.
 */
export interface LoginTiming {
  ok: boolean;
  /** openconnect start -> the route to the gateway's tunnel address goes through openconnect's TUN */
  tunnelUpMs: number | null;
  /** openconnect start -> first echo reply from the gateway's tunnel address */
  firstPingMs: number | null;
  /** DTLS state openconnect reported in its "Configured as" line, then whether it came up */
  dtls: string | null;
  dtlsEstablished: boolean;
  error?: string;
  /** openconnect's last lines, when the login failed */
  tail?: string[];
}

export interface TransferOutcome {
  ok: boolean;
  bytes: number;
  sentBytes: number;
  sha256Sent: string | null;
  sha256Received: string | null;
  ms: number | null;
  error?: string;
}

export interface LegitSession {
  client: OpenconnectClient;
  timing: LoginTiming;
}

/** Starts openconnect and times it to the first ping; the client stays connected. */
export async function legitLogin(ns: Ns, gw: DrillGateway, user: DrillUser, timeoutMs: number): Promise<LegitSession> {
  const client = startOpenconnect(ns, { url: gw.url, user: user.name, password: user.password, servercert: gw.pin });
  const timing: LoginTiming = { ok: false, tunnelUpMs: null, firstPingMs: null, dtls: null, dtlsEstablished: false };
  const deadline = client.proc.startedAt + timeoutMs;
  try {
    for (;;) {
      const r = await ns.exec('ip', ['-o', '-4', 'route', 'get', gw.tunAddr], { timeoutMs: 5000 });
      if (r.code === 0 && r.stdout.includes(` dev ${client.iface} `)) {
        timing.tunnelUpMs = Date.now() - client.proc.startedAt;
        break;
      }
      if (!client.proc.running) throw new Error(`openconnect exited (${JSON.stringify(client.proc.exitStatus)})`);
      if (Date.now() > deadline) throw new Error(`no route through ${client.iface} within ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 20));
    }
    const tun = await client.waitTunnel(Math.max(1000, deadline - Date.now()));
    timing.dtls = tun.dtls;
    while (Date.now() < deadline) {
      // ping probes every 100 ms and exits at the first answer: the moment the tunnel carries traffic.
      if (await ns.ping(gw.tunAddr, { count: 1, timeoutMs: Math.min(5000, Math.max(1000, deadline - Date.now())), intervalMs: 100 })) {
        timing.firstPingMs = Date.now() - client.proc.startedAt;
        break;
      }
      if (!client.proc.running) break;
    }
    if (timing.firstPingMs === null) throw new Error(`no ping answer through the tunnel within ${timeoutMs} ms`);
    timing.ok = true;
    // DTLS comes up after the tunnel (openconnect starts it once CSTP is up).
    const m = await client.proc.waitForLine(/Established DTLS connection|DTLS handshake failed|No DTLS address/, Math.max(1000, deadline - Date.now())).catch(() => null);
    timing.dtlsEstablished = m?.[0]?.startsWith('Established') === true;
  } catch (e) {
    timing.error = (e as Error).message.split('\n')[0];
    timing.tail = client.lines.slice(-15).map((l) => l.text);
  }
  return { client, timing };
}

export async function legitTransfer(from: Ns, to: Ns, gw: DrillGateway, bytes: number, timeoutMs: number): Promise<TransferOutcome> {
  try {
    const r = await tcpTransfer(from, to, gw.tunAddr, bytes, { timeoutMs });
    return {
      ok: r.bytes === bytes && r.sentBytes === bytes && r.sentSha256 === r.receivedSha256,
      bytes: r.bytes,
      sentBytes: r.sentBytes,
      sha256Sent: r.sentSha256,
      sha256Received: r.receivedSha256,
      ms: r.ms,
    };
  } catch (e) {
    return { ok: false, bytes: 0, sentBytes: 0, sha256Sent: null, sha256Received: null, ms: null, error: (e as Error).message.split('\n')[0] };
  }
}

/** openconnect's lines about its DTLS channel from output line `from` on (re-handshakes, dead peer, fallbacks). */
export function dtlsEvents(client: OpenconnectClient, from: number): string[] {
  return client.lines
    .slice(from)
    .map((l) => l.text)
    .filter((t) => /DTLS/i.test(t));
}
