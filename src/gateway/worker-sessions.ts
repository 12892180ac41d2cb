/**
 * workers > 1: a user's sessions on the other workers, for max-sessions-per-user
 * (session-limits.ts): counted and ended through the ctl relay (ops/ctl-relay.ts), one login of
 * a user at a time (the privileged process's user lock, priv/user-locks.ts).
 */
import type { Logger } from '../log.js';
import type { AuthDeps } from './auth-handler.js';
import { askOthers, checkTerminate, checkViews } from './ops/ctl-relay.js';
import type { WorkerMesh } from './worker-mesh.js';

export function otherWorkersSessions(mesh: WorkerMesh, log: Logger): NonNullable<AuthDeps['elsewhere']> {
  return {
    lock: (user) => mesh.userLock(user),
    sessionsOf: async (user) => {
      const r = await askOthers(mesh.ctl, { op: 'sessions', user }, checkViews, log);
      return r.answers.flatMap((a) => a.value.filter((v) => v.user === user).map((v) => ({ id: v.id, createdAt: Date.parse(v.since) || 0 })));
    },
    end: async (ids) => {
      for (const id of ids) {
        const r = await askOthers(mesh.ctl, { op: 'terminate', id }, checkTerminate, log);
        log.info({ session: id, ended: r.answers.some((a) => a.value.terminated.includes(id)) }, 'session on another worker replaced by a newer login (max-sessions-per-user)');
      }
    },
  };
}
