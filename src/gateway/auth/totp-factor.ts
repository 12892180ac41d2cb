/**
 * The `totp` second factor (RFC 6238, auth/totp.ts): after the first factor accepted the user,
 * `begin` asks for the code from the authenticator app (a `challenge`, which the engine shows as
 * an `<auth id="challenge">` form that openconnect fills by itself with --token-mode=totp), and
 * `respond` checks it against the secret `sslgate user totp NAME` stored.
 *
 * A code is accepted once: the time step it belongs to is recorded for the user (users.json,
 * atomically with the check) and only later steps are accepted after it. From reading the
 * record to recording the step nothing awaits, so two logins racing with the same code in this
 * process are decided one after the other: the first wins, the second is a replay.
 */
import type { LoginContext, MethodResult, SecondFactor } from './types.js';
import { parseTotpSecret, verifyTotp } from '../../protocol/totp.js';
import { storeGetter, type UserStoreSource } from './user-store-source.js';

export type { SecondFactor } from './types.js';

export const TOTP_MESSAGES = {
  prompt: 'Enter the code from your authenticator app',
  notEnrolled: 'This account has no authenticator app enrolled.',
  malformed: 'The code must be 6 digits.',
  wrong: 'Wrong code.',
  replay: 'This code was already used; wait for the next one.',
  badSecret: 'The authenticator secret of this account cannot be read',
  notRecorded: 'The code could not be recorded',
} as const;

/** What a check came to, for the caller's log line and metrics. */
export type TotpOutcome = 'accepted' | 'not-enrolled' | 'malformed' | 'wrong' | 'replay' | 'error';

export interface TotpFactorOptions {
  /** the user store, or a getter for the current one (see user-store-source.ts) */
  users: UserStoreSource;
  /** milliseconds since the epoch; default Date.now (tests inject a clock) */
  now?: () => number;
  /** time steps either side of now a code may come from (clock skew); default 1 */
  window?: number;
  /** the factor's name in logs and Identity.methods; default "totp" */
  name?: string;
  /** told every outcome of respond (and a begin for a user without TOTP), to log it with its reason */
  onOutcome?: (e: { user: string; outcome: TotpOutcome; counter?: number; detail?: string }) => void;
}

/** The challenge state: which user it was for (never sent to the client). */
interface TotpState {
  readonly factor: 'totp';
  readonly user: string;
}

function isTotpState(v: unknown, user: string): v is TotpState {
  return typeof v === 'object' && v !== null && (v as TotpState).factor === 'totp' && (v as TotpState).user === user;
}

export class TotpFactor implements SecondFactor {
  readonly name: string;
  private readonly store;
  private readonly now: () => number;
  private readonly window: number;

  constructor(private readonly opts: TotpFactorOptions) {
    this.name = opts.name ?? 'totp';
    this.store = storeGetter(opts.users);
    this.now = opts.now ?? Date.now;
    this.window = opts.window ?? 1;
  }

  private tell(user: string, outcome: TotpOutcome, extra: { counter?: number; detail?: string } = {}): void {
    this.opts.onOutcome?.({ user, outcome, ...extra });
  }

  async begin(user: string, _ctx: LoginContext): Promise<MethodResult> {
    if (!this.store().get(user)?.totp) {
      this.tell(user, 'not-enrolled');
      return { kind: 'reject', message: TOTP_MESSAGES.notEnrolled };
    }
    const state: TotpState = Object.freeze({ factor: 'totp', user });
    return { kind: 'challenge', message: TOTP_MESSAGES.prompt, state };
  }

  async respond(user: string, state: unknown, answer: string, _ctx: LoginContext): Promise<MethodResult> {
    // No await from here to the end: the check and the recording of the step are one step.
    if (!isTotpState(state, user)) {
      // The engine mixed up conversations: fail this login rather than check a code for it.
      this.tell(user, 'error', { detail: 'challenge state of another factor or user' });
      return { kind: 'error', message: 'totp: the answer does not belong to a TOTP challenge for this user' };
    }
    const store = this.store();
    const enrolment = store.get(user)?.totp;
    if (!enrolment) {
      // Removed by a reload between the challenge and the answer.
      this.tell(user, 'not-enrolled');
      return { kind: 'reject', message: TOTP_MESSAGES.notEnrolled };
    }
    let key: Buffer;
    try {
      key = parseTotpSecret(enrolment.secret);
    } catch (e) {
      this.tell(user, 'error', { detail: (e as Error).message });
      return { kind: 'error', message: `${TOTP_MESSAGES.badSecret} (${(e as Error).message})` };
    }
    const check = verifyTotp(key, answer, this.now() / 1000, { window: this.window, ...(enrolment.lastCounter !== undefined ? { lastCounter: enrolment.lastCounter } : {}) });
    if (!check.ok) {
      this.tell(user, check.reason);
      return { kind: 'reject', message: TOTP_MESSAGES[check.reason] };
    }
    let fresh: boolean;
    try {
      fresh = store.acceptTotpCounter(user, check.counter);
    } catch (e) {
      this.tell(user, 'error', { counter: check.counter, detail: (e as Error).message });
      return { kind: 'error', message: `${TOTP_MESSAGES.notRecorded} (${(e as Error).message})` };
    }
    if (!fresh) {
      // Accepted meanwhile through another store instance (the file has this step or a later one).
      this.tell(user, 'replay', { counter: check.counter });
      return { kind: 'reject', message: TOTP_MESSAGES.replay };
    }
    this.tell(user, 'accepted', { counter: check.counter });
    return { kind: 'accept' };
  }
}
