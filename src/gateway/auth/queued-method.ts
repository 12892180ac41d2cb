/**
 * A method whose checks go through the privileged process's AuthQueue: the local method's
 * scrypt costs CPU and 16 MiB a check, so only a few run at once. Network backends (RADIUS,
 * LDAP) are not queued here: they wait on a server, not on our CPU, and a slow or dead server
 * must not hold the slots local logins need (they have their own timeouts and limits).
 */
import type { AuthQueue } from '../priv/auth-queue.js';
import type { MethodResult, PasswordMethod } from './types.js';

export const QUEUE_FULL = 'too many password checks waiting';

function inQueue(q: AuthQueue, job: () => Promise<MethodResult>): Promise<MethodResult> {
  return new Promise((resolve) => {
    const queued = q.run(async () => {
      try {
        resolve(await job());
      } catch (e) {
        resolve({ kind: 'error', message: (e as Error).message });
      }
    });
    if (!queued) resolve({ kind: 'error', message: QUEUE_FULL });
  });
}

export function queuedMethod(m: PasswordMethod, q: AuthQueue): PasswordMethod {
  const out: PasswordMethod = {
    name: m.name,
    authenticate: (user, password, ctx) => inQueue(q, () => m.authenticate(user, password, ctx)),
  };
  if (m.respond) out.respond = (user, state, answer, ctx) => inQueue(q, () => m.respond!(user, state, answer, ctx));
  if (m.changePassword) out.changePassword = (user, oldPw, newPw, state) => inQueue(q, () => m.changePassword!(user, oldPw, newPw, state));
  if (m.close) out.close = () => m.close!();
  return out;
}
