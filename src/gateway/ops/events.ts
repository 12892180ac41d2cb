/**
 * The gateway's operational events: what an admin watches (`ctl events`), what the metrics count
 * and what the ban guard scores. Emitted from the control plane only (login, CONNECT, tunnel
 * close, session end), never per packet; listeners run synchronously and must be cheap.
 *
 * Events carry session ids, users and addresses, never a password or a cookie.
 */

/** Why a login or a cookie was refused (also the `reason` label of the auth metrics). */
export type AuthFailureReason =
  | 'bad-credentials'
  | 'group-not-allowed'
  | 'address-banned'
  | 'user-locked'
  | 'max-clients'
  | 'max-sessions'
  | 'bad-cookie'
  /** RADIUS/LDAP did not answer (not the user's fault: not scored by the ban guard) */
  | 'backend-error'
  /** too many logins waiting for an answer */
  | 'auth-busy'
  | 'bad-certificate'
  | 'password-expired';

/** What one tunnel connection carried (rx = from the client, tx = to the client). */
export interface TunnelCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  txDrops: number;
  /** TLS only: writes to the socket (a run of frames is one write) */
  txWrites?: number;
}

export type GatewayEventBody =
  /** methods: the auth methods that passed, in order (local, certificate, an auth-servers name, totp) */
  | { type: 'login'; session: number; user: string; group: string; remote: string; agent: string; methods?: string[] }
  | { type: 'auth-failure'; remote: string; user?: string; group?: string; reason: AuthFailureReason }
  | { type: 'bad-request'; remote: string; reason: string }
  | { type: 'connect'; session: number; user: string; group: string; remote: string; address: string; channel: 'TLS' | 'DTLS'; cipher: string; mtu: number; reconnect: boolean }
  /** a tunnel connection closed; the session may live on (reconnect window) */
  | { type: 'disconnect'; session: number; user: string; channel: 'TLS' | 'DTLS'; reason: string; sessionKept: boolean; counters: TunnelCounters; dtlsCounters?: TunnelCounters }
  /** the session is gone: address freed, cookie invalid */
  | { type: 'session-end'; session: number; user: string; reason: string }
  | { type: 'ban'; kind: 'address' | 'user'; key: string; seconds: number; score: number }
  | { type: 'unban'; kind: 'address' | 'user'; key: string; by: 'admin' | 'expiry' }
  | { type: 'reload'; ok: boolean; error?: string; restartNeeded?: string[] }
  /** for the DTLS listener to emit, one per handshake (counted by sslgate_dtls_handshakes_total) */
  | { type: 'dtls-handshake'; session: number; mode: string; result: 'ok' | 'failed' | 'timeout' };

/** `worker`: set on another worker's event relayed to worker 0 (workers > 1, relayedEvent()) */
export type GatewayEvent = GatewayEventBody & { time: string; worker?: number };
export type GatewayEventType = GatewayEvent['type'];
export type EventListener = (ev: GatewayEvent) => void;

export class GatewayEvents {
  private readonly listeners = new Set<EventListener>();
  /** events emitted by a listener wait for the current one: the stream keeps cause before effect */
  private readonly queue: GatewayEvent[] = [];
  private emitting = false;

  /** Returns the function that unsubscribes. */
  subscribe(fn: EventListener): () => void {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  emit(body: GatewayEventBody): void {
    if (this.listeners.size === 0) return;
    this.deliver({ ...body, time: new Date().toISOString() } as GatewayEvent);
  }

  /** Another worker's event (workers > 1), as it happened there: delivered like this process's own. */
  relay(ev: GatewayEvent): void {
    if (this.listeners.size === 0) return;
    this.deliver(ev);
  }

  private deliver(ev0: GatewayEvent): void {
    this.queue.push(ev0);
    // The ban guard emits `ban` while it handles an `auth-failure`: deliver that one afterwards.
    if (this.emitting) return;
    this.emitting = true;
    try {
      for (let ev = this.queue.shift(); ev; ev = this.queue.shift()) {
        for (const fn of this.listeners) {
          // A faulty listener (a closed stream, a metrics bug) must not break a login.
          try {
            fn(ev);
          } catch {
            // ignored on purpose
          }
        }
      }
    } finally {
      this.emitting = false;
    }
  }
}
