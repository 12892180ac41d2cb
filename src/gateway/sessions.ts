/**
 * Sessions: created by a successful login, found by their cookie (the `webvpn` token), holding an
 * address lease and at most one live tunnel. The only place session state lives (DESIGN.md §5).
 *
 * Lifecycle (PROTOCOL.md A.3): login -> session without tunnel -> CONNECT binds a tunnel ->
 * tunnel lost: session kept for cookie-timeout so the client can reconnect with its cookie ->
 * DISCONNECT 0xb0 / logout / timeout / admin: destroyed (lease freed, cookie invalid).
 *
 * Issue 12: the durable copy lives in the StateStore (state/types.ts), in the privileged
 * process; the SessionStore here is the cache of the sessions this network process carries,
 * keyed by the cookie's SHA-256 like the store. A cookie it does not have (after a restart, or
 * made by another worker or node) is looked up in the store (resolve()).
 */
import { createHash, randomBytes } from 'node:crypto';
import { formatCidr } from '../protocol/ipv4.js';
import { MemoryStore } from './state/memory-store.js';
import type { PoolRef, SessionRecord, StateStore } from './state/types.js';
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
  /** hex SHA-256 of the cookie: the key in the store and in the cache */
  readonly cookieHash: string;

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
    this.cookieHash = hashCookie(token);
  }

  /**
   * A session read back from the store (after a restart, or from another worker): the tunnel is
   * down, the address still leased, the traffic so far kept as the ended tunnels' totals.
   */
  restoreFrom(r: SessionRecord, now: number): void {
    this.addressNow = r.address;
    this.disconnectedSince = r.disconnectedAt ?? now;
    this.lastActive = r.lastActivity;
    this.endedRx = r.rxBytes;
    this.endedTx = r.txBytes;
    this.endedRxPackets = r.rxPackets;
    this.endedTxPackets = r.txPackets;
    this.attrs = r.attrs;
    this.methods = r.methods;
    this.loginMessages = r.loginMessages;
  }

  /** The pool as the store names it (leases are per subnet: groups sharing one share it). */
  get poolRef(): PoolRef {
    return { name: this.group.name, cidr: formatCidr(this.pool.subnet) };
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

/** The key of a cookie in the store and the cache: hex SHA-256 (the cookie itself is never stored). */
export function hashCookie(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Store failures the cache reports (the gateway logs and counts them; tunnels keep running). */
export type StoreErrorHandler = (op: string, err: Error) => void;

export class SessionStore {
  private readonly byHash = new Map<string, Session>();
  /** lookups in the store in progress, so two CONNECTs with one cookie make one Session */
  private readonly resolving = new Map<string, Promise<Session | undefined>>();
  private nextId = 1;
  /** called when a write to the store fails (set by the gateway) */
  onStoreError: StoreErrorHandler = () => undefined;
  /**
   * Turns a stored record into a Session for resolve() (set by the gateway: it knows the groups
   * and pools); undefined refuses the record. Without one, only cached sessions are found.
   */
  restorer: (token: string, r: SessionRecord) => Session | undefined = () => undefined;

  /** `backing`: the durable store (the privileged process's, over the channel); memory by default. */
  constructor(readonly backing: StateStore = new MemoryStore()) {}

  /**
   * A session in the cache only, with a local id. Tests and the pieces below; a login uses
   * open(), which takes the id from the store and records the session there.
   */
  create(user: string, group: GroupConfig, pool: IpPool, remoteAddr: string, userAgent: string, limits: SessionLimits = { idleTimeout: null, sessionTimeout: null }, id?: number): Session {
    // 32 random bytes; base64url keeps the token within [A-Za-z0-9_-] (safe in a Cookie header, §2.6.10).
    const token = randomBytes(32).toString('base64url');
    const s = new Session(id ?? this.nextId++, token, user, group, pool, remoteAddr, userAgent, limits, Date.now());
    this.byHash.set(s.cookieHash, s);
    return s;
  }

  /**
   * A login's session: id from the store (unique across restarts, workers and nodes), `init`
   * fills in what the login decided, then the record is written. Rejects (and forgets the
   * session) when the store cannot record it: a session that would not survive a restart, or
   * that other nodes could not find, is not handed out.
   */
  async open(user: string, group: GroupConfig, pool: IpPool, remoteAddr: string, userAgent: string, limits: SessionLimits, init: (s: Session) => void, record: (s: Session) => SessionRecord): Promise<Session> {
    const id = await this.backing.nextSessionId();
    const s = this.create(user, group, pool, remoteAddr, userAgent, limits, id);
    init(s);
    try {
      await this.backing.putSession(record(s));
    } catch (e) {
      this.byHash.delete(s.cookieHash);
      throw e;
    }
    return s;
  }

  byCookie(token: string | null | undefined): Session | undefined {
    return token ? this.byHash.get(hashCookie(token)) : undefined;
  }

  /** Whether a stored record still makes a session (not expired, its group still there); the gateway sets it. */
  recordValid: (r: SessionRecord) => boolean = () => false;

  /**
   * Whether `token` names a live session, in this process or in the store (another worker's, or
   * one from before a restart), without taking it in here: restoring would lease its address in
   * this process's pool. For requests that only need a logged-in client, such as the profile
   * download on the downloader's fresh connection, which with several workers often lands on
   * another worker than the login. A store that cannot answer rejects.
   */
  async isKnown(token: string | null | undefined): Promise<boolean> {
    if (!token) return false;
    const hash = hashCookie(token);
    if (this.byHash.has(hash)) return true;
    const r = await this.backing.getSession(hash);
    return r !== null && r !== undefined && this.recordValid(r);
  }

  /**
   * The session of `token`: from the cache, else from the store (`restorer` turns the record into
   * a Session, or refuses it: unknown group, expired). Undefined when there is none. A store
   * that cannot answer rejects.
   */
  resolve(token: string | null | undefined): Promise<Session | undefined> {
    if (!token) return Promise.resolve(undefined);
    const hash = hashCookie(token);
    const have = this.byHash.get(hash);
    if (have) return Promise.resolve(have);
    let p = this.resolving.get(hash);
    if (!p) {
      p = this.backing
        .getSession(hash)
        .then((r) => {
          const cached = this.byHash.get(hash);
          if (cached) return cached;
          const s = r ? this.restorer(token, r) : undefined;
          if (s) this.byHash.set(hash, s);
          return s;
        })
        .finally(() => this.resolving.delete(hash));
      this.resolving.set(hash, p);
    }
    return p;
  }

  /** Writes the session's record (events and checkpoints, never per packet); failures reported. */
  persist(r: SessionRecord): Promise<void> {
    return this.backing.putSession(r).catch((e: unknown) => this.onStoreError('put', e as Error));
  }

  /** The address of `s`, leased by the store (the one it holds already, if any). */
  async lease(s: Session, hint?: number): Promise<number | null> {
    const a = await this.backing.lease(s.poolRef, s.cookieHash, hint);
    if (a !== null) {
      s.pool.note(s.cookieHash, a);
      s.leased(a);
    }
    return a;
  }

  /** Gives up the lease of `s` (a Framed-IP that was not free) without ending the session. */
  unlease(s: Session): void {
    s.pool.release(s.cookieHash);
    this.backing.release(s.poolRef, s.cookieHash).catch((e: unknown) => this.onStoreError('release', e as Error));
  }

  /**
   * Drops the session from this cache only; it stays in the store, lease included (another
   * worker or cluster node carries it now: Gateway.sessionMoved). The caller closes its tunnel.
   */
  drop(s: Session): void {
    if (this.byHash.get(s.cookieHash) === s) this.byHash.delete(s.cookieHash);
  }

  /** The cached session of a cookie hash (no store lookup). */
  cached(cookieHash: string): Session | undefined {
    return this.byHash.get(cookieHash);
  }

  /** True while `s` is a live session of this cache (not ended, not handed over). */
  holds(s: Session): boolean {
    return this.byHash.get(s.cookieHash) === s;
  }

  all(): IterableIterator<Session> {
    return this.byHash.values();
  }

  get size(): number {
    return this.byHash.size;
  }

  countFor(user: string): number {
    let n = 0;
    for (const s of this.byHash.values()) if (s.user === user) n++;
    return n;
  }

  /**
   * Forgets the session and frees its lease, here and in the store (cookie invalid everywhere).
   * The caller closes its tunnel. The returned promise settles when the store has done it.
   */
  remove(s: Session): Promise<void> {
    if (this.byHash.get(s.cookieHash) !== s) return Promise.resolve();
    this.byHash.delete(s.cookieHash);
    s.pool.release(s.cookieHash);
    s.released();
    const b = this.backing;
    return Promise.all([b.deleteSession(s.cookieHash), b.release(s.poolRef, s.cookieHash)]).then(
      () => undefined,
      (e: unknown) => this.onStoreError('delete', e as Error),
    );
  }
}
