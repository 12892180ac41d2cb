/**
 * Sessions: created by a successful login, found by their cookie (the `webvpn` token), holding an
 * address lease and at most one live tunnel. The only place session state lives (DESIGN.md §5).
 *
 * Lifecycle (PROTOCOL.md A.3): login -> session without tunnel -> CONNECT binds a tunnel ->
 * tunnel lost: session kept for cookie-timeout so the client can reconnect with its cookie ->
 * DISCONNECT 0xb0 / logout / timeout / admin: destroyed (lease freed, cookie invalid).
 */
import { randomBytes } from 'node:crypto';
import type { GroupConfig } from './config.js';
import type { IpPool } from './ip-pool.js';
import type { CstpChannel } from '../tunnel/cstp-channel.js';
import type { SessionTunnel } from './session-tunnel.js';

export interface Session {
  /** small number for logs and <session-id> */
  readonly id: number;
  /** the webvpn cookie value; never logged */
  readonly token: string;
  readonly user: string;
  readonly group: GroupConfig;
  readonly createdAt: number;
  readonly remoteAddr: string;
  userAgent: string;
  /** leased IPv4 address (number) once a tunnel was set up */
  address: number | null;
  pool: IpPool;
  channel: CstpChannel | null;
  /** the live tunnel (CSTP + optional DTLS); null when no tunnel is up */
  tunnel: SessionTunnel | null;
  /** when the tunnel went away (ms), for the reconnect window */
  disconnectedAt: number | null;
  /** data-packet counter seen at the last idle check, and when it last moved */
  idleSeenRx: number;
  lastActivity: number;
  /** bytes of tunnels that already ended, for accounting across reconnects */
  closedRxBytes: number;
  closedTxBytes: number;
  /** limits fixed at login, so a reload applies to new sessions only; absent = the config's */
  idleTimeout?: number | null;
  sessionTimeout?: number | null;
  /** the current (or last) tunnel connection, for `ctl sessions` */
  link?: SessionLink;
}

/** Facts about a tunnel connection the admin view shows (set at CONNECT). */
export interface SessionLink {
  /** source address of the tunnel's TLS connection (may differ from the login's) */
  remote: string;
  since: number;
  /** "TLSv1.3" and the OpenSSL cipher name */
  protocol: string;
  cipher: string;
  mtu: number;
  /** CONNECTs so far: 1 = first tunnel, more = reconnects */
  connects: number;
}

export class SessionStore {
  private readonly byToken = new Map<string, Session>();
  private nextId = 1;

  create(user: string, group: GroupConfig, pool: IpPool, remoteAddr: string, userAgent: string): Session {
    // 32 random bytes; base64url keeps the token within [A-Za-z0-9_-] (safe in a Cookie header, §2.6.10).
    const token = randomBytes(32).toString('base64url');
    const now = Date.now();
    const s: Session = {
      id: this.nextId++,
      token,
      user,
      group,
      createdAt: now,
      remoteAddr,
      userAgent,
      address: null,
      pool,
      channel: null,
      tunnel: null,
      disconnectedAt: now,
      idleSeenRx: 0,
      lastActivity: now,
      closedRxBytes: 0,
      closedTxBytes: 0,
    };
    this.byToken.set(token, s);
    return s;
  }

  byCookie(token: string | null | undefined): Session | undefined {
    return token ? this.byToken.get(token) : undefined;
  }

  all(): IterableIterator<Session> {
    return this.byToken.values();
  }

  get size(): number {
    return this.byToken.size;
  }

  countFor(user: string): number {
    let n = 0;
    for (const s of this.byToken.values()) if (s.user === user) n++;
    return n;
  }

  /** Forgets the session and frees its lease. The caller closes its tunnel. */
  remove(s: Session): void {
    if (this.byToken.get(s.token) !== s) return;
    this.byToken.delete(s.token);
    s.pool.release(s.token);
    s.address = null;
  }
}
