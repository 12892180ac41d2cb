/**
 * `--token-mode=totp`: which form field gets a generated code, and which code.
 *
 * The rule is openconnect's (`auth.c` cstp_can_gen_tokencode, OATH branch): a *password* input
 * named `secondary_password`, or any password input of a form with `<auth id="challenge">`.
 * Nothing else, in particular not ocserv's `plain[otp=...]` round, which asks for the code in an
 * input named `password` of form `main` ("Please enter your OTP password."): there the code
 * comes from --passwd-on-stdin's next line or `-F main:password=CODE`, as with openconnect.
 *
 * Codes, as openconnect's `oath.c` can_gen_totp_code/do_gen_totp_code: the first from the time
 * of the first request, the second for the next 30 s step (the server may have seen the first
 * one as late), and then no more, so a rejected token does not lock the account: the field is
 * then asked like any other password. Pure: the clock is given.
 */
import type { AuthForm, FormField } from '../protocol/auth-xml-client.js';
import { TOTP_STEP_S, totpCode } from './totp-code.js';
import type { TokenSecret } from './token-secret.js';

/** openconnect's limit on generated codes per login (token_tries). */
export const MAX_TOKEN_TRIES = 2;

/** The field openconnect fills with a token code (see above). */
export function isTokenField(form: Pick<AuthForm, 'authId'>, field: FormField): boolean {
  if (field.kind !== 'input' || field.type !== 'password') return false;
  return field.name === 'secondary_password' || form.authId === 'challenge';
}

export class TotpSource {
  private tries = 0;
  private firstTime = 0;

  constructor(
    private readonly secret: TokenSecret,
    /** seconds since the epoch */
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  /** A code can still be generated in this login. */
  get available(): boolean {
    return this.tries < MAX_TOKEN_TRIES;
  }

  /** The next code, or undefined once openconnect would switch to asking. */
  next(): string | undefined {
    if (!this.available) return undefined;
    if (this.tries === 0) this.firstTime = this.now();
    const t = this.firstTime + this.tries * TOTP_STEP_S;
    this.tries++;
    return totpCode(this.secret.key, t, this.secret.algorithm);
  }
}
