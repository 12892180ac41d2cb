/**
 * workers > 1: one place that admits a user's new session at a time, so that
 * `limits.max-sessions-per-user` holds for the whole gateway without a race. A login's worker
 * counts the user's sessions on every worker (through the ctl relay), ends the oldest if
 * `session-overflow: end-oldest` says so, and records the new session; two logins of one user on
 * two workers at the same instant could both count before either recorded its session, and both
 * pass. Holding the user's lock (granted here, in the privileged process, first come first
 * served) from the count until the new session is recorded makes that sequence atomic: the
 * next login of the user counts after the previous one's session exists.
 *
 * Bounded: a lock is held at most `maxHoldMs` (then the next waiter gets it, and the holder's
 * late unlock is ignored), at most `maxWaiting` requests wait in all (more are refused: the login
 * is answered "busy"), and a worker that exits gives up its locks and requests. Other users'
 * logins never wait for this one. The timer is the only I/O.
 */

export interface UserLockOptions {
  /** longest a lock is held before it passes on without an unlock */
  maxHoldMs: number;
  /** requests that may wait (holders not counted), over every user */
  maxWaiting: number;
}

interface Req {
  worker: number;
  id: number;
  grant: () => void;
}

interface UserQueue {
  holder: Req | null;
  timer: NodeJS.Timeout | null;
  waiting: Req[];
}

export class UserLocks {
  private readonly users = new Map<string, UserQueue>();
  private waitingCount = 0;
  /** locks that passed on because their holder kept them past maxHoldMs */
  expired = 0;

  constructor(
    private readonly opts: UserLockOptions,
    private readonly onExpired: (user: string, worker: number) => void = () => undefined,
  ) {}

  /**
   * Worker `worker` asks for `user`'s lock as its request `id`; `grant` runs when it holds it
   * (perhaps at once). False when too many wait: the caller refuses the login.
   */
  lock(user: string, worker: number, id: number, grant: () => void): boolean {
    let q = this.users.get(user);
    if (!q) {
      q = { holder: null, timer: null, waiting: [] };
      this.users.set(user, q);
    }
    const r: Req = { worker, id, grant };
    if (q.holder === null) {
      this.hold(user, q, r);
      return true;
    }
    if (this.waitingCount >= this.opts.maxWaiting) return false;
    q.waiting.push(r);
    this.waitingCount++;
    return true;
  }

  /**
   * The holder's worker recorded the session (or gave up): the next waiter goes on. A request
   * still waiting is withdrawn (its worker stopped waiting): true then (the caller answers it
   * as not granted). Anything else is ignored.
   */
  unlock(user: string, worker: number, id: number): boolean {
    const q = this.users.get(user);
    if (!q) return false;
    if (q.holder && q.holder.worker === worker && q.holder.id === id) {
      this.next(user, q);
      return false;
    }
    const i = q.waiting.findIndex((r) => r.worker === worker && r.id === id);
    if (i < 0) return false;
    q.waiting.splice(i, 1);
    this.waitingCount--;
    return true;
  }

  /** A worker that exited holds and waits for nothing. */
  workerGone(worker: number): void {
    for (const [user, q] of this.users) {
      const before = q.waiting.length;
      q.waiting = q.waiting.filter((r) => r.worker !== worker);
      this.waitingCount -= before - q.waiting.length;
      if (q.holder?.worker === worker) this.next(user, q);
      else if (!q.holder && !q.waiting.length) this.users.delete(user);
    }
  }

  /** Users with a lock held or asked for (for tests and the log). */
  get size(): number {
    return this.users.size;
  }

  private hold(user: string, q: UserQueue, r: Req): void {
    q.holder = r;
    q.timer = setTimeout(() => {
      this.expired++;
      this.onExpired(user, r.worker);
      if (q.holder === r) this.next(user, q);
    }, this.opts.maxHoldMs);
    q.timer.unref?.();
    r.grant();
  }

  private next(user: string, q: UserQueue): void {
    if (q.timer) clearTimeout(q.timer);
    q.timer = null;
    q.holder = null;
    const r = q.waiting.shift();
    if (r) {
      this.waitingCount--;
      this.hold(user, q, r);
    } else this.users.delete(user);
  }
}
