/**
 * Sessions: created by a successful login, found by their cookie (the `webvpn` token), holding an
 * address lease and at most one live tunnel. The only place session state lives (DESIGN.md §5).
 *
 * Lifecycle (PROTOCOL.md A.3): login -> session without tunnel -> CONNECT binds a tunnel ->
 * tunnel lost: session kept for cookie-timeout so the client can reconnect with its cookie ->
 * DISCONNECT 0xb0 / logout / timeout / admin: destroyed (lease freed, cookie invalid).
 */
import { randomBytes } from 'node:crypto';
import type { SessionAttributes } from './auth/types.js';
import type { GroupConfig } from './config.js';
import type { IpPool } from './ip-pool.js';
import type { CstpChannel } from '../tunnel/cstp-channel.js';
import type { SessionTunnel } from './session-tunnel.js';

/** Limits fixed at login, so a reload applies to new sessions only (session-limits.ts). */
export interface SessionLimits {
  /** seconds without data from the client; null = none */
  idleTimeout: number | null;
  /** absolute lifetime in seconds; null = none */
  sessionTimeout: number | null;
}

/**
 * One logged-in user. It owns its tunnel state: the live tunnel (CSTP channel + optional DTLS),
 * the leased address, when it was last active and what its ended tunnels carried. Other modules
 * read it; they change it only through the methods below, each named for the event that causes
 * it (CONNECT bound a tunnel, a tunnel closed, the sweep saw traffic).
 */
export class Session {
  /** the current (or last) tunnel connection, for `ctl sessions` (ops/tunnel-events.ts) */
  link: SessionLink | undefined;
  private tunnelNow: SessionTunnel | null = null;
  private addressNow: number | null = null;
  private disconnectedSince: number | null;
  private lastActive: number;
  private rxSeen = 0;
  private endedRx = 0;
  private endedTx = 0;
  private endedRxPackets = 0;
  private endedTxPackets = 0;

  constructor(
    /** small number for logs and <session-id> */
    readonly id: number,
    /** the webvpn cookie value; never logged */
    readonly token: string,
    readonly user: string,
    readonly group: GroupConfig,
    readonly pool: IpPool,
    readonly remoteAddr: string,
    /** what the client said it is (the CONNECT's User-Agent replaces the login's) */
    public userAgent: string,
    readonly limits: SessionLimits,
    readonly createdAt: number,
  ) {
    this.disconnectedSince = createdAt;
    this.lastActive = createdAt;
  }

  /** what the auth backends set for this session (RADIUS Framed-IP, routes, DNS ...) */
  attrs: SessionAttributes = {};
  /** the auth methods that passed (logs, ctl) */
  methods: string[] = [];
  /** what the auth servers said at login (RADIUS Reply-Message): shown with the banner */
  loginMessages: string[] = [];

  /** the live tunnel (CSTP + optional DTLS); null when no tunnel is up */
  get tunnel(): SessionTunnel | null {
    return this.tunnelNow;
  }

  /** the live tunnel's CSTP channel */
  get channel(): CstpChannel | null {
    return this.tunnelNow?.cstp ?? null;
  }

  /** leased IPv4 address (number) once a tunnel was set up; null after the session ended */
  get address(): number | null {
    return this.addressNow;
  }

  /** when the tunnel went away (ms), for the reconnect window; null while one is up */
  get disconnectedAt(): number | null {
    return this.disconnectedSince;
  }

  /** when data last arrived (or the tunnel came up), ms */
  get lastActivity(): number {
    return this.lastActive;
  }

  /** bytes of tunnels that already ended, for accounting across reconnects */
  get closedRxBytes(): number {
    return this.endedRx;
  }

  get closedTxBytes(): number {
    return this.endedTx;
  }

  /** packets of tunnels that already ended (Acct-Input/Output-Packets across reconnects) */
  get closedRxPackets(): number {
    return this.endedRxPackets;
  }

  get closedTxPackets(): number {
    return this.endedTxPackets;
  }

  /** The address leased for this session's tunnels (CONNECT, before the tunnel is bound). */
  leased(address: number): void {
    this.addressNow = address;
  }

  /**
   * CONNECT: `t` becomes the live tunnel. Returns the tunnel it replaces (a reconnect over a
   * half-open connection, §8.5); the caller closes that one.
   */
  bindTunnel(t: SessionTunnel, userAgent: string, now: number): SessionTunnel | null {
    const old = this.tunnelNow;
    this.tunnelNow = t;
    if (userAgent) this.userAgent = userAgent;
    this.disconnectedSince = null;
    this.lastActive = now;
    this.rxSeen = 0;
    return old;
  }

  /** The live tunnel is being replaced or taken down by the gateway: no tunnel until the next bind. */
  unbindTunnel(t: SessionTunnel, now: number): boolean {
    if (this.tunnelNow !== t) return false;
    this.tunnelNow = null;
    this.disconnectedSince = now;
    return true;
  }

  /**
   * A tunnel's connection closed, having carried `rxBytes`/`txBytes`. True when it was the live
   * one: the session now waits for a cookie reconnect (cookie-timeout).
   */
  tunnelClosed(t: SessionTunnel, rxBytes: number, txBytes: number, now: number, packets?: { rx: number; tx: number }): boolean {
    this.endedRx += rxBytes;
    this.endedTx += txBytes;
    this.endedRxPackets += packets?.rx ?? 0;
    this.endedTxPackets += packets?.tx ?? 0;
    return this.unbindTunnel(t, now);
  }

  /**
   * The sweep's look at the data-packet counter of the live tunnel (both channels; DPD and
   * keepalives are not counted there): movement since the last look is activity.
   */
  sawDataPackets(rxPackets: number, now: number): void {
    if (rxPackets !== this.rxSeen) {
      this.rxSeen = rxPackets;
      this.lastActive = now;
    }
  }

  /** The session ended: its lease is gone. */
  released(): void {
    this.addressNow = null;
  }
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

  /** `limits`: the session's idle/session timeouts, fixed now (default: none). */
  create(user: string, group: GroupConfig, pool: IpPool, remoteAddr: string, userAgent: string, limits: SessionLimits = { idleTimeout: null, sessionTimeout: null }): Session {
    // 32 random bytes; base64url keeps the token within [A-Za-z0-9_-] (safe in a Cookie header, §2.6.10).
    const token = randomBytes(32).toString('base64url');
    const s = new Session(this.nextId++, token, user, group, pool, remoteAddr, userAgent, limits, Date.now());
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
    s.released();
  }
}
