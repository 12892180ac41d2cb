/**
 * Filling the gateway's forms (step 3 of the flow, [SEED] §3): which value goes in which field.
 * The order of sources is openconnect's (`main.c` process_auth_form_cb, `auth.c`
 * cstp_can_gen_tokencode), so scripts written for it behave the same:
 *
 *   - a password field openconnect fills with a token code (--token-mode=totp; token-source.ts)
 *     gets a generated code, before anything else;
 *   - the first password field of the login takes the first line of stdin (--passwd-on-stdin);
 *     a `username` field takes --user;
 *   - then `-F AUTHID:NAME=VALUE` (form-entries.ts);
 *   - then, with --passwd-on-stdin, each further password field takes the next line of stdin
 *     (one line per password prompt, in order: e.g. the password, then an OTP code);
 *   - then the terminal, when a person is there.
 *
 * New-password forms (`new_password` + `verify_password`, `pin` + `verify_pin`): a person types
 * the new one twice and the two must match; from stdin or -F it is given once. The verify field
 * is never sent (§2.4; replyParts drops it).
 *
 * Without any source a field is an error that names it, so a script knows what is missing.
 * The wire mapping (renames, group-select) is not here: see replyParts() in auth-xml-client.ts.
 */
import type { AuthForm, FormField, FormValues } from '../protocol/auth-xml-client.js';
import type { FormEntries } from './form-entries.js';
import type { Progress } from './progress.js';
import type { Prompter } from './prompts.js';
import { isTokenField, type TotpSource } from './token-source.js';

export class MissingInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingInputError';
  }
}

export interface FillSources {
  /** --user */
  user?: string;
  /** --passwd-on-stdin */
  passwordOnStdin: boolean;
  prompter: Prompter;
  /** -F / --form-entry */
  formEntries?: FormEntries;
  /** --token-mode=totp --token-secret=... */
  token?: TotpSource;
}

/** Fields whose value must equal another one's (checked locally, not sent; §2.4). */
const VERIFY_OF: Record<string, string> = { verify_password: 'new_password', verify_pin: 'pin' };

/** A person gets this many tries to type a new password the same way twice. */
const MAX_CONFIRM_TRIES = 3;

type InputField = Extract<FormField, { kind: 'input' }>;

export class FormFiller {
  /** a value was typed by a person (so a failed login can be retried by asking again) */
  prompted = false;
  /** values from options/stdin were submitted (a failure with them is final) */
  submittedFixed = false;
  /** the first line of stdin went to the first password field already */
  private stdinPasswordTaken = false;

  constructor(
    private readonly src: FillSources,
    private readonly progress: Progress,
  ) {}

  /**
   * Values for every field of the form. `group` fills the group_list select; `retry` means the
   * previous submission failed, so values from options/stdin are not reused (they would fail
   * again); a token may give its next code.
   */
  async fill(form: AuthForm, group: string | undefined, retry: boolean): Promise<FormValues> {
    const values: FormValues = new Map();
    for (const f of form.fields) {
      if (f.name === 'group_list' && group !== undefined) {
        values.set(f.name, group);
        continue;
      }
      if (VERIFY_OF[f.name]) continue; // filled from the field it verifies, below
      values.set(f.name, await this.value(form, f, retry));
    }
    for (const f of form.fields) {
      const of = VERIFY_OF[f.name];
      if (of) values.set(f.name, values.get(of) ?? '');
    }
    return values;
  }

  /**
   * After a failed submission of `form`: can another try succeed without a person? Only when a
   * token fills one of its fields and may still give a code (openconnect's second try).
   */
  canRetryUnattended(form: AuthForm): boolean {
    const token = this.src.token;
    return token !== undefined && token.available && form.fields.some((f) => isTokenField(form, f));
  }

  /** The -F value for a field, if any. */
  entry(authId: string, name: string): string | undefined {
    return this.src.formEntries?.get(authId, name);
  }

  /** A person is answering. */
  get interactive(): boolean {
    return this.src.prompter.interactive;
  }

  /**
   * Asks a person to pick a group from the gateway's list ([SEED] §2: all connection profiles,
   * one marked as the default). Accepts the number, the value or the label.
   */
  async chooseGroup(f: Extract<FormField, { kind: 'select' }>): Promise<string> {
    const dflt = f.options.find((o) => o.selected) ?? f.options[0]!;
    this.progress.notice(f.options.map((o, i) => `  ${i + 1}. ${o.label}${o.label !== o.value ? ` (${o.value})` : ''}${o === dflt ? '  [default]' : ''}`).join('\n'));
    for (;;) {
      const a = (await this.src.prompter.ask(`${f.label.replace(/:?\s*$/, '')} [${dflt.label}]:`, false)).trim();
      this.prompted = true;
      if (a === '') return dflt.value;
      const n = Number(a);
      const o = Number.isInteger(n) && n >= 1 && n <= f.options.length ? f.options[n - 1] : f.options.find((x) => x.value === a || x.label === a);
      if (o) return o.value;
      this.progress.notice(`no such group: ${a}`);
    }
  }

  private async value(form: AuthForm, f: FormField, retry: boolean): Promise<string> {
    if (f.kind === 'select') {
      const wanted = retry ? undefined : this.src.formEntries?.get(form.authId, f.name);
      const pick =
        (wanted !== undefined ? f.options.find((o) => o.value === wanted || o.label === wanted) : undefined) ??
        f.options.find((o) => o.selected) ??
        f.options[0];
      if (!pick) throw new MissingInputError(`the gateway's choice "${f.label}" has no options`);
      if (wanted !== undefined && pick.value !== wanted && pick.label !== wanted) {
        this.progress.warn(`-F ${form.authId}:${f.name}=${wanted}: no such choice; using ${pick.label}`);
      }
      this.progress.info(`${f.label} ${pick.label}`);
      return pick.value;
    }
    switch (f.type) {
      case 'hidden':
        return f.value ?? '';
      case 'sso':
        throw new MissingInputError('the gateway wants single sign-on (SAML) in a browser, which sslgate does not support');
      case 'password':
        return this.secret(form, f, retry);
      default:
        return this.text(form, f, retry);
    }
  }

  private async text(form: AuthForm, f: InputField, retry: boolean): Promise<string> {
    if (f.name.toLowerCase() === 'username' && this.src.user !== undefined && !retry) {
      this.submittedFixed = true;
      return this.src.user;
    }
    const entry = retry ? undefined : this.src.formEntries?.get(form.authId, f.name);
    if (entry !== undefined) {
      this.submittedFixed = true;
      return entry;
    }
    if (this.src.prompter.interactive) {
      this.prompted = true;
      return this.src.prompter.ask(f.label, false);
    }
    if (retry) throw new MissingInputError(`the gateway asks again for "${f.label}"`);
    const hint = f.name.toLowerCase() === 'username' ? ' (use --user)' : ` (use -F ${form.authId}:${f.name}=VALUE)`;
    throw new MissingInputError(`the gateway asks for "${f.label}" and sslgate is not interactive${hint}`);
  }

  private async secret(form: AuthForm, f: InputField, retry: boolean): Promise<string> {
    const token = this.src.token;
    if (token && isTokenField(form, f)) {
      const code = token.next();
      if (code !== undefined) {
        this.progress.info(`${f.label.replace(/:?\s*$/, '')}: generated a TOTP code`);
        return code;
      }
      this.progress.warn('the gateway refuses the generated codes; asking for the code instead');
    }
    const stdin = this.src.passwordOnStdin && !retry;
    if (stdin && !this.stdinPasswordTaken) {
      this.stdinPasswordTaken = true;
      const line = await this.src.prompter.stdinLine();
      if (line !== undefined) {
        this.submittedFixed = true;
        return line;
      }
    }
    const entry = retry ? undefined : this.src.formEntries?.get(form.authId, f.name);
    if (entry !== undefined) {
      this.submittedFixed = true;
      return entry;
    }
    if (stdin) {
      const line = await this.src.prompter.stdinLine();
      if (line !== undefined) {
        this.submittedFixed = true;
        return line;
      }
    }
    if (this.src.prompter.interactive) {
      this.prompted = true;
      const verify = form.fields.find((v): v is InputField => v.kind === 'input' && VERIFY_OF[v.name] === f.name);
      return verify ? this.askTwice(f, verify) : this.src.prompter.ask(f.label, true);
    }
    if (retry) throw new MissingInputError(`the gateway asks again for "${f.label}"`);
    throw new MissingInputError(
      this.src.passwordOnStdin
        ? `the gateway asks for "${f.label}" but stdin has no more lines`
        : `the gateway asks for "${f.label}" and sslgate is not interactive (use --passwd-on-stdin)`,
    );
  }

  /** A new password typed twice; the two must match (openconnect checks this locally too). */
  private async askTwice(f: InputField, verify: InputField): Promise<string> {
    for (let i = 1; ; i++) {
      const first = await this.src.prompter.ask(f.label, true);
      const second = await this.src.prompter.ask(verify.label, true);
      if (first === second) return first;
      if (i >= MAX_CONFIRM_TRIES) throw new MissingInputError(`the two entries of "${f.label}" differ ${MAX_CONFIRM_TRIES} times; giving up`);
      this.progress.notice('the two entries differ; please type them again');
    }
  }
}
