/**
 * The privileged process's side of the `state-*` requests (state-messages.ts): it runs them on
 * the StateStore it owns and answers. It checks what validation of shapes cannot: a lease or
 * release must name a pool subnet of the configuration (the network process cannot make the
 * store hand out addresses outside the pools). A failing store (a full disk, SQLITE_FULL) is
 * answered as an error of that request, logged and counted; the network process keeps its
 * tunnels (it decides what a failure means for a login, see auth-handler.ts).
 */
import type { Logger } from '../../log.js';
import type { StateStore } from '../state/types.js';
import type { StateAnswer, StateRequest } from './state-messages.js';

export class StateService {
  /** store calls that failed (logged, and rate-limited in the log) */
  failures = 0;
  private lastLogAt = 0;

  constructor(
    private readonly store: StateStore,
    /** the pool subnets (formatCidr of the config's, running and pending reload) */
    private readonly pools: () => Set<string>,
    private readonly log: Logger,
  ) {}

  handle(m: StateRequest, reply: (a: StateAnswer) => void): void {
    void this.run(m).then(
      (value) => reply(value === undefined ? { t: 'state-result', id: m.id, ok: true } : { t: 'state-result', id: m.id, ok: true, value }),
      (e: unknown) => {
        this.failures++;
        const error = (e as Error).message ?? String(e);
        const now = Date.now();
        // A full disk fails every write: one line per 10 s says so without flooding the log.
        if (now - this.lastLogAt > 10_000) {
          this.lastLogAt = now;
          this.log.error({ op: m.t, err: error, failures: this.failures, store: this.store.kind }, 'session store request failed; tunnels keep running');
        }
        reply({ t: 'state-result', id: m.id, ok: false, error });
      },
    );
  }

  private run(m: StateRequest): Promise<unknown> {
    const s = this.store;
    switch (m.t) {
      case 'state-next-id':
        return s.nextSessionId();
      case 'state-put':
        return s.putSession(m.record);
      case 'state-get':
        return s.getSession(m.cookieHash);
      case 'state-delete':
        return s.deleteSession(m.cookieHash);
      case 'state-list':
        return s.listSessions();
      case 'state-lease':
      case 'state-release':
        if (!this.pools().has(m.pool.cidr)) {
          this.log.warn({ pool: m.pool.cidr }, 'network process asked for a lease outside the configured pools; refused');
          return Promise.reject(new Error(`${m.pool.cidr} is not a pool of the configuration`));
        }
        return m.t === 'state-lease' ? s.lease(m.pool, m.holder, m.hint) : s.release(m.pool, m.holder);
      case 'state-ban':
        return s.putBan(m.ban);
      case 'state-unban':
        return s.deleteBan(m.kind, m.key);
      case 'state-bans':
        return s.listBans();
    }
  }
}
