/**
 * The logins the network processes ask the privileged process to check (auth-start, then an
 * auth-answer per further step): run by the auth engine (auth/engine.ts), answered with an
 * auth-outcome. At most MAX_LOGINS_IN_FLIGHT run at once; more are answered "busy" at once. The
 * local password checks inside them are bounded again by the AuthQueue (auth/queued-method.ts),
 * RADIUS/LDAP by their own timeouts.
 */
import type { Logger } from '../../log.js';
import type { AuthEngine } from '../auth/engine.js';
import { MAX_LOGINS_IN_FLIGHT } from './limits.js';
import type { NetworkMessage, PrivilegedMessage } from './messages.js';

type LoginStep = Extract<NetworkMessage, { t: 'auth-start' | 'auth-answer' }>;

export class LoginRunner {
  private inFlight = 0;

  constructor(
    /** the engine of the running config (rebuilt on reload) */
    private readonly engine: () => AuthEngine,
    private readonly log: Logger,
  ) {}

  run(m: LoginStep, reply: (a: PrivilegedMessage) => void): void {
    const { id } = m;
    if (this.inFlight >= MAX_LOGINS_IN_FLIGHT) {
      reply({ t: 'auth-outcome', id, outcome: { kind: 'failure', reason: 'busy', message: 'The gateway is busy; please try again later.' } });
      return;
    }
    this.inFlight++;
    const engine = this.engine();
    void (m.t === 'auth-start' ? engine.start(m.req) : engine.answer(m.req))
      .then(
        (outcome) => reply({ t: 'auth-outcome', id, outcome }),
        (e: unknown) => {
          this.log.error({ err: (e as Error).message }, 'login check failed');
          reply({ t: 'auth-outcome', id, outcome: { kind: 'failure', reason: 'backend-error', message: 'The login could not be checked; please try again.' } });
        },
      )
      .finally(() => this.inFlight--);
  }
}
