/**
 * The `local` method over anything that checks a password and returns the user's groups (the
 * UserStore, or a fake in unit tests). LocalMethod (local-method.ts) adds expiry on top.
 */
import type { MethodResult, PasswordMethod } from './types.js';

export interface PasswordChecker {
  /** The user's allowed groups (undefined = every group) when the password is right, else null. */
  verify(user: string, password: string): Promise<{ groups?: string[] | undefined } | null>;
}

export function checkerMethod(checker: PasswordChecker, name = 'local'): PasswordMethod {
  return {
    name,
    async authenticate(user: string, password: string): Promise<MethodResult> {
      const rec = await checker.verify(user, password);
      if (!rec) return { kind: 'reject' };
      return rec.groups ? { kind: 'accept', groups: rec.groups } : { kind: 'accept' };
    },
  };
}
