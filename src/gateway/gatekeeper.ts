/**
 * Who may open a connection, and the limits every connection lives under: the ban guard (scores
 * fed by gateway events), the per-address connection rate, the caps and the deadline of
 * connections that are not a tunnel yet (unauth-connections.ts), HTTP header/body/cookie sizes.
 * `apply()` pushes a (re)loaded config to the parts that keep their own copy, so
 * a reload reaches connections opened afterwards.
 */
import type { Socket } from 'node:net';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from '../protocol/http.js';
import type { Logger } from '../log.js';
import { BanGuard } from './ban-guard.js';
import type { GatewayConfig } from './config.js';
import { ConnectionLimiter } from './connection-limiter.js';
import type { GatewayEvents } from './ops/events.js';
import { UnauthConnections, type RemoteEnd, type UnauthOptions } from './unauth-connections.js';

/** A connection by its remote end (as unauth-connections.ts names it): the raw and the TLS socket agree. */
const connId = (s: RemoteEnd): string => `${s.remoteAddress ?? '?'}|${s.remotePort ?? 0}`;

/** The mutable part of ConnectionDeps a reload updates. */
export interface ConnectionLimits {
  maxCookieBytes: number;
}

function unauthOptions(cfg: GatewayConfig): UnauthOptions {
  const l = cfg.limits;
  return { deadlineMs: l.authTimeout * 1000, maxPerAddress: l.maxUnauthPerAddress, maxTotal: l.maxUnauthConnections };
}

/** An address's connections in one report are those of one loop turn: far fewer than this. */
const MAX_POINTS_PER_REPORT = 100_000;

export class Gatekeeper {
  readonly guard: BanGuard;
  /** connections closed before TLS, by why (read by the metrics) */
  readonly refused = { banned: 0, 'rate-limit': 0, 'unauth-per-address': 0, 'unauth-total': 0 };
  /** connections before CONNECT: their deadline and caps */
  readonly unauth: UnauthConnections;
  /** one object shared with every connection's parser: updated in place */
  readonly httpLimits: HttpLimits = { ...DEFAULT_HTTP_LIMITS };
  private readonly limiter: ConnectionLimiter;
  private conn: ConnectionLimits | null = null;
  /**
   * workers > 1: open connections the privileged process handed over, by remote address and
   * port, each with what reports it done (handedOver); an entry goes when its socket closes
   */
  private readonly handed = new Map<string, () => void>();

  /**
   * `worker`: workers > 1, this worker's index. Worker 0 scores every worker's events (the others'
   * reach it relayed) and decides the bans of the whole gateway, so that offences spread over the
   * workers add up; the other workers only enforce bans (they arrive through the store).
   */
  constructor(cfg: GatewayConfig, events: GatewayEvents, private readonly log: Logger, worker?: number) {
    this.guard = new BanGuard(cfg.ban, (ev) => events.emit(ev));
    if (worker !== undefined && worker > 0) this.guard.decides = false;
    events.subscribe((ev) => {
      this.guard.observe(ev);
      // A good login on another worker clears the user name's score here too (as succeed() does there).
      if (ev.worker !== undefined && ev.type === 'login') this.guard.succeed(ev.remote, ev.user);
    });
    this.limiter = new ConnectionLimiter({ rate: cfg.limits.connectionRate, burst: cfg.limits.connectionBurst });
    this.unauth = new UnauthConnections(unauthOptions(cfg));
    this.apply(cfg);
  }

  /** Registers the connection settings object the HTTP layer reads. */
  attach(conn: ConnectionLimits, cfg: GatewayConfig): void {
    this.conn = conn;
    this.apply(cfg);
  }

  apply(cfg: GatewayConfig): void {
    const l = cfg.limits;
    this.guard.setPolicy(cfg.ban);
    this.limiter.setOptions({ rate: l.connectionRate, burst: l.connectionBurst });
    this.unauth.setOptions(unauthOptions(cfg));
    Object.assign(this.httpLimits, { maxHeaderBytes: l.maxHeaderBytes, maxBodyBytes: l.maxBodyBytes });
    if (this.conn) Object.assign(this.conn, { maxCookieBytes: l.maxCookieBytes });
  }

  /**
   * On accept, before TLS: a banned or over-rate address, or one over its unauthenticated
   * connections, is closed at once; an admitted connection runs under the auth deadline.
   */
  readonly admit = (raw: Socket): void => {
    const addr = raw.remoteAddress ?? '';
    const allowed = this.guard.isAllowListed(addr);
    // workers > 1: the privileged process counted the rate and the caps for the whole gateway.
    const counted = this.handed.has(connId(raw));
    let why: keyof Gatekeeper['refused'] | null = this.guard.bannedFor(addr) > 0 ? 'banned' : allowed || counted || this.limiter.take(addr) ? null : 'rate-limit';
    why ??= this.unauth.admit(raw, allowed, counted);
    if (why) {
      this.refused[why]++;
      this.log.debug({ remote: addr, why }, 'connection refused');
      raw.destroy();
      return;
    }
    // workers > 1: worker 0 scores every worker's connections, told by the privileged process
    // that handed them (connectionPoints), so that connections spread over the workers add up; the
    // other workers keep their own score only for the failed-login pause (BanGuard.decides).
    if (!counted || !this.guard.decides) this.guard.addPoints(addr, 'connection');
  };

  /**
   * worker 0 (workers > 1): connections the privileged process handed to any worker, as
   * [address key, how many], scored like admit() scores one. Checked although the privileged
   * process sent it: bounded counts, string keys (the guard normalizes them again).
   */
  connectionPoints(remotes: unknown): void {
    if (!Array.isArray(remotes)) return;
    for (const r of remotes) {
      if (!Array.isArray(r) || typeof r[0] !== 'string' || r[0].length > 64 || !Number.isSafeInteger(r[1])) continue;
      const n = Math.min(r[1] as number, MAX_POINTS_PER_REPORT);
      if (n > 0) this.guard.addPoints(r[0], 'connection', undefined, n);
    }
  }

  /** The connection became a tunnel (CONNECT accepted): its auth deadline and count end. */
  readonly tunnelUp = (sock: RemoteEnd): void => {
    this.unauth.promote(sock);
    this.handed.get(connId(sock))?.();
  };

  /**
   * workers > 1, before the connection reaches admit(): the privileged process admitted it as
   * `id` (priv/conn-admission.ts). `done(id)` runs once, when it becomes a tunnel or closes,
   * whichever comes first, so that it stops counting there.
   */
  handedOver(sock: Socket, id: number, done: (id: number) => void): void {
    const key = connId(sock);
    let open = true;
    const finish = (): void => {
      if (!open) return;
      open = false;
      if (this.handed.get(key) === finish) this.handed.delete(key);
      done(id);
    };
    this.handed.set(key, finish);
    sock.once('close', finish);
  }

  /** worker 0 (workers > 1): connections the privileged process refused at accept, for the metrics. */
  countRefused(counts: Partial<Record<keyof Gatekeeper['refused'], number>>): void {
    for (const k of Object.keys(this.refused) as Array<keyof Gatekeeper['refused']>) {
      const n = counts[k];
      if (typeof n === 'number' && Number.isSafeInteger(n) && n > 0) this.refused[k] += n;
    }
  }

  sweep(): void {
    this.guard.sweep();
    this.limiter.sweep();
  }
}
