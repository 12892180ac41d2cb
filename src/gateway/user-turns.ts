/**
 * One login per user name at a time in this process, for `limits.max-sessions-per-user`: a
 * login counts the user's sessions and then waits for the store to record its new one, so two
 * logins of one user in flight together could both count the same number and both pass. Each
 * takes its turn from counting until its session is recorded (or refused); other users never
 * wait. With several workers the turn is the privileged process's (priv/user-locks.ts), which
 * covers every worker; this is the one-process form.
 *
 * A chain of promises per user, dropped when its last turn ends: the map holds only users with
 * a login in flight.
 */
export class UserTurns {
  private readonly tails = new Map<string, Promise<void>>();

  /** Resolves when it is this login's turn, to the function that ends the turn (once). */
  async take(user: string): Promise<() => void> {
    const before = this.tails.get(user) ?? Promise.resolve();
    let end!: () => void;
    const mine = new Promise<void>((resolve) => (end = resolve));
    const tail = before.then(() => mine);
    this.tails.set(user, tail);
    await before;
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      end();
      if (this.tails.get(user) === tail) this.tails.delete(user);
    };
  }

  /** Users with a login in flight (for tests). */
  get size(): number {
    return this.tails.size;
  }
}
