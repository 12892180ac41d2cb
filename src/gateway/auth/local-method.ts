/**
 * The `local` method: users and scrypt (or imported crypt) hashes from the state folder's
 * users.json (user-store.ts). An expired password (`sslgate user expire NAME`) is answered
 * `expired` with canChange, and the engine asks for a new one (the `passwd-change` form,
 * PROTOCOL.md §2.6.7); changePassword re-checks the old password, applies the policy below and
 * stores the new hash, which also clears the expiry.
 */
import type { LoginContext, MethodResult, PasswordMethod } from './types.js';
import { storeGetter, type UserStoreSource } from './user-store-source.js';
import type { UserRecord } from '../user-store.js';

/** Longest new password accepted, in UTF-8 bytes (the privileged channel carries at most 512). */
export const NEW_PASSWORD_MAX_BYTES = 256;

export const LOCAL_MESSAGES = {
  expired: 'Your password has expired. Please choose a new one.',
  empty: 'The new password must not be empty.',
  same: 'The new password must differ from the old one.',
  tooLong: `The new password must be at most ${NEW_PASSWORD_MAX_BYTES} bytes long.`,
  gone: 'This account no longer exists.',
  notSaved: 'The new password could not be saved',
} as const;

export interface LocalMethodOptions {
  /** the user store, or a getter for the current one (see user-store-source.ts) */
  users: UserStoreSource;
  /** the method's name in logs and Identity.methods; default "local" */
  name?: string;
}

/** Why `next` may not replace `old` (a LOCAL_MESSAGES text), or null when it may. */
export function newPasswordProblem(old: string, next: string): string | null {
  if (next.length === 0) return LOCAL_MESSAGES.empty;
  if (Buffer.byteLength(next, 'utf8') > NEW_PASSWORD_MAX_BYTES) return LOCAL_MESSAGES.tooLong;
  // The store hashes the NFKC form, so two spellings of one password are the same password.
  if (next.normalize('NFKC') === old.normalize('NFKC')) return LOCAL_MESSAGES.same;
  return null;
}

function accepted(rec: UserRecord): MethodResult {
  return rec.groups ? { kind: 'accept', groups: [...rec.groups] } : { kind: 'accept' };
}

export class LocalMethod implements PasswordMethod {
  readonly name: string;
  private readonly store;

  constructor(opts: LocalMethodOptions) {
    this.name = opts.name ?? 'local';
    this.store = storeGetter(opts.users);
  }

  /** accept with the user's groups; expired when the password must change; reject otherwise (no message: the engine says "login failed"). */
  async authenticate(user: string, password: string, _ctx: LoginContext): Promise<MethodResult> {
    const rec = await this.store().verify(user, password);
    if (!rec) return { kind: 'reject' };
    if (rec.mustChange) return { kind: 'expired', message: LOCAL_MESSAGES.expired, canChange: true };
    return accepted(rec);
  }

  /**
   * The answer to the new-password form. The old password is checked again (the state carries
   * nothing secret). A new password the policy refuses gives `expired` again with the reason,
   * so the form is shown once more; a wrong old password is a reject.
   */
  async changePassword(user: string, oldPassword: string, newPassword: string, _state: unknown): Promise<MethodResult> {
    const store = this.store();
    const rec = await store.verify(user, oldPassword);
    if (!rec) return { kind: 'reject' };
    const problem = newPasswordProblem(oldPassword, newPassword);
    if (problem) return { kind: 'expired', message: problem, canChange: true };
    let updated: UserRecord | null;
    try {
      updated = await store.changePassword(user, newPassword);
    } catch (e) {
      // users.json could not be read or written: the old password stays, the user may retry later.
      return { kind: 'error', message: `${LOCAL_MESSAGES.notSaved} (${(e as Error).message})` };
    }
    if (!updated) return { kind: 'reject', message: LOCAL_MESSAGES.gone };
    return accepted(updated);
  }
}
