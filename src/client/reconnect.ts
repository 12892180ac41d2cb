/**
 * Reconnecting after the TLS connection was lost (PROTOCOL.md §8.5, Appendix A.4 RECONNECT):
 * new connections with the cookie, on the Backoff schedule, until one gives a tunnel again or
 * --reconnect-timeout has passed.
 *
 * The rules: the new CONNECT must give the same addresses (routes and the script's state depend
 * on them; openconnect aborts too, `library.c` install_vpn_opts, quirk 20); a rejected cookie or
 * an exit-code-3 ClientError ends the session; any other failure is retried.
 *
 * The session (session.ts) owns the TUN, the channel and the host configuration; it hands the
 * pieces this loop drives in a ReconnectSession.
 */
import type { TunnelParams } from '../protocol/connect-headers.js';
import { Backoff } from './backoff.js';
import { CookieRejectedError, type CstpConnected } from './cstp-connect.js';
import { ClientError } from './errors.js';
import type { Progress } from './progress.js';
import type { SessionEnd } from './session.js';

/** What the reconnect loop needs from the session. */
export interface ReconnectSession {
  readonly progress: Progress;
  /** --reconnect-timeout, seconds */
  readonly timeoutS: number;
  /** The lost connection's parameters: the new CONNECT asks for, and must give, these addresses. */
  readonly lost: TunnelParams;
  /** vpnc-script 'attempt-reconnect' before each attempt, or null without --script. */
  readonly attemptScript: (() => Promise<void>) | null;
  /** True once the user stopped or the session ended: the loop returns quietly. */
  stopping(): boolean;
  /** Waits `ms`, or less if the session stops meanwhile. */
  sleep(ms: number): Promise<void>;
  /** A verified connection and CONNECT on it, asking for the addresses in `hints`. */
  connect(hints: string[]): Promise<CstpConnected>;
  /**
   * Takes the new connection over. It must attach the socket before its first await (the socket
   * is not paused: CSTP bytes must not be lost). Throwing counts as a failed attempt.
   */
  resume(c: CstpConnected): Promise<void>;
  /** Packets dropped while there was no channel; resets the count. */
  takeDropped(): number;
  /** Ends the session (giving up). */
  end(e: SessionEnd): Promise<void>;
}

/** Runs until reconnected, stopped, or given up (then it has called `s.end`). */
export async function reconnectLoop(s: ReconnectSession): Promise<void> {
  const p = s.progress;
  const t0 = Date.now();
  const backoff = new Backoff(t0, s.timeoutS);
  let attempt = 0;
  const old = s.lost;
  for (;;) {
    const delay = backoff.next(Date.now());
    if (delay === null) {
      await s.end({ exitCode: 1, message: `gave up reconnecting after ${Math.round((Date.now() - t0) / 1000)} s (--reconnect-timeout ${s.timeoutS})` });
      return;
    }
    if (delay > 0) await s.sleep(delay);
    if (s.stopping()) return;
    attempt++;
    if (s.attemptScript) await s.attemptScript().catch((e: Error) => p.warn(e.message));
    try {
      const hints = [old.address, old.addressIp6?.split('/')[0]].filter((a): a is string => !!a);
      const c = await s.connect(hints);
      if (s.stopping()) {
        c.socket.destroy();
        return;
      }
      // The same addresses or nothing (see the file header).
      if (c.params.address !== old.address || (c.params.addressIp6 ?? '') !== (old.addressIp6 ?? '')) {
        c.socket.destroy();
        await s.end({ exitCode: 1, message: `reconnect gave a different address (${c.params.address || c.params.addressIp6}, was ${old.address || old.addressIp6}); giving up` });
        return;
      }
      await s.resume(c);
      const dropped = s.takeDropped();
      p.step(`Reconnected after ${Date.now() - t0} ms (attempt ${attempt}), address ${c.params.address || c.params.addressIp6}${dropped ? `; ${dropped} packets dropped meanwhile` : ''}`);
      return;
    } catch (e) {
      if (e instanceof CookieRejectedError) {
        await s.end({ exitCode: 1, message: e.message });
        return;
      }
      if (e instanceof ClientError && e.exitCode === 3) {
        await s.end({ exitCode: 3, message: e.message });
        return;
      }
      p.info(`reconnect attempt ${attempt} failed: ${(e as Error).message}`);
      if (attempt === 1) p.step(`Reconnect failed (${(e as Error).message}); retrying for up to ${s.timeoutS} s`);
    }
  }
}
