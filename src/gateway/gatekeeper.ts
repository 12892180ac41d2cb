/**
 * Who may open a connection, and the limits every connection lives under: the ban guard (scores
 * fed by gateway events), the per-address connection rate, HTTP header/body/cookie sizes and the
 * auth timeout. `apply()` pushes a (re)loaded config to the parts that keep their own copy, so
 * a reload reaches connections opened afterwards.
 */
import type { Socket } from 'node:net';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from '../protocol/http.js';
import type { Logger } from '../log.js';
import { BanGuard } from './ban-guard.js';
import type { GatewayConfig } from './config.js';
import { ConnectionLimiter } from './connection-limiter.js';
import type { GatewayEvents } from './ops/events.js';

/** The mutable part of ConnectionDeps a reload updates. */
export interface ConnectionLimits {
  authTimeout: number;
  maxCookieBytes: number;
}

export class Gatekeeper {
  readonly guard: BanGuard;
  /** connections closed before TLS, by why (read by the metrics) */
  readonly refused = { banned: 0, 'rate-limit': 0 };
  /** one object shared with every connection's parser: updated in place */
  readonly httpLimits: HttpLimits = { ...DEFAULT_HTTP_LIMITS };
  private readonly limiter: ConnectionLimiter;
  private conn: ConnectionLimits | null = null;

  constructor(cfg: GatewayConfig, events: GatewayEvents, private readonly log: Logger) {
    this.guard = new BanGuard(cfg.ban, (ev) => events.emit(ev));
    events.subscribe(this.guard.observe);
    this.limiter = new ConnectionLimiter({ rate: cfg.limits.connectionRate, burst: cfg.limits.connectionBurst });
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
    Object.assign(this.httpLimits, { maxHeaderBytes: l.maxHeaderBytes, maxBodyBytes: l.maxBodyBytes });
    if (this.conn) Object.assign(this.conn, { authTimeout: l.authTimeout, maxCookieBytes: l.maxCookieBytes });
  }

  /** On accept, before TLS: a banned or over-rate address is closed at once. */
  readonly admit = (raw: Socket): void => {
    const addr = raw.remoteAddress ?? '';
    const why = this.guard.bannedFor(addr) > 0 ? 'banned' : this.guard.isAllowListed(addr) || this.limiter.take(addr) ? null : 'rate-limit';
    if (why) {
      this.refused[why]++;
      this.log.debug({ remote: addr, why }, 'connection refused');
      raw.destroy();
      return;
    }
    this.guard.addPoints(addr, 'connection');
  };

  sweep(): void {
    this.guard.sweep();
    this.limiter.sweep();
  }
}
