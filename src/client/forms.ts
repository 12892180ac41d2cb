/**
 * Filling the gateway's forms (step 3 of the flow, [SEED] §3): which value goes in which field.
 * Sources, in order: the options (--user), stdin lines (--passwd-on-stdin: one line per password
 * field, as openconnect reads them), then the terminal when interactive. Without any source a
 * field is an error that names it, so a script knows what is missing.
 *
 * The wire mapping (renames, group-select) is not here: see replyParts() in auth-xml-client.ts.
 */
import type { AuthForm, FormField, FormValues } from '../protocol/auth-xml-client.js';
import type { Progress } from './progress.js';
import type { Prompter } from './prompts.js';

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
}

/** Fields whose value must equal another one's (checked locally, not sent; §2.4). */
const VERIFY_OF: Record<string, string> = { verify_password: 'new_password', verify_pin: 'pin' };

export class FormFiller {
  /** a value was typed by a person (so a failed login can be retried by asking again) */
  prompted = false;
  /** values from options/stdin were submitted (a failure with them is final) */
  submittedFixed = false;

  constructor(
    private readonly src: FillSources,
    private readonly progress: Progress,
  ) {}

  /**
   * Values for every field of the form. `group` fills the group_list select; `retry` means the
   * previous submission failed, so option values are not reused (they would fail again).
   */
  async fill(form: AuthForm, group: string | undefined, retry: boolean): Promise<FormValues> {
    const values: FormValues = new Map();
    for (const f of form.fields) {
      if (f.name === 'group_list' && group !== undefined) {
        values.set(f.name, group);
        continue;
      }
      if (VERIFY_OF[f.name]) continue; // second pass
      values.set(f.name, await this.value(f, retry));
    }
    for (const f of form.fields) {
      const of = VERIFY_OF[f.name];
      if (of) values.set(f.name, values.get(of) ?? '');
    }
    return values;
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

  private async value(f: FormField, retry: boolean): Promise<string> {
    if (f.kind === 'select') {
      const pick = f.options.find((o) => o.selected) ?? f.options[0];
      if (!pick) throw new MissingInputError(`the gateway's choice "${f.label}" has no options`);
      this.progress.info(`${f.label} ${pick.label}`);
      return pick.value;
    }
    switch (f.type) {
      case 'hidden':
        return f.value ?? '';
      case 'sso':
        throw new MissingInputError('the gateway wants single sign-on (SAML) in a browser, which sslgate does not support');
      case 'password':
        return this.secret(f, retry);
      default:
        return this.text(f, retry);
    }
  }

  private async text(f: Extract<FormField, { kind: 'input' }>, retry: boolean): Promise<string> {
    if (f.name.toLowerCase() === 'username' && this.src.user !== undefined && !retry) {
      this.submittedFixed = true;
      return this.src.user;
    }
    if (this.src.prompter.interactive) {
      this.prompted = true;
      return this.src.prompter.ask(f.label, false);
    }
    if (retry) throw new MissingInputError(`the gateway asks again for "${f.label}"`);
    const hint = f.name.toLowerCase() === 'username' ? ' (use --user)' : '';
    throw new MissingInputError(`the gateway asks for "${f.label}" and sslgate is not interactive${hint}`);
  }

  private async secret(f: Extract<FormField, { kind: 'input' }>, retry: boolean): Promise<string> {
    if (this.src.passwordOnStdin && !retry) {
      const line = await this.src.prompter.stdinLine();
      if (line !== undefined) {
        this.submittedFixed = true;
        return line;
      }
    }
    if (this.src.prompter.interactive) {
      this.prompted = true;
      return this.src.prompter.ask(f.label, true);
    }
    if (retry) throw new MissingInputError(`the gateway asks again for "${f.label}"`);
    throw new MissingInputError(
      this.src.passwordOnStdin
        ? `the gateway asks for "${f.label}" but stdin has no more lines`
        : `the gateway asks for "${f.label}" and sslgate is not interactive (use --passwd-on-stdin)`,
    );
  }
}
