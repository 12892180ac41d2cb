/**
 * `-F AUTHID:NAME=VALUE` / `--form-entry` (openconnect's syntax, openconnect(8) and `main.c`
 * add_form_field): a value for the field NAME of the form whose `<auth id>` is AUTHID, used
 * without prompting. The value is everything after the first '=' (it may contain ':' and '=',
 * and may be empty); AUTHID is what comes before the first ':'. Given twice for the same field,
 * the later one wins (openconnect keeps them newest first). Pure: no I/O.
 */

export class FormEntryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormEntryError';
  }
}

export interface FormEntry {
  authId: string;
  name: string;
  value: string;
}

/** Bounds: a command line has no business carrying more, and a typo should not go unnoticed. */
export const MAX_FORM_ENTRIES = 64;
export const MAX_FORM_ENTRY_CHARS = 4096;

const USAGE = 'use -F AUTHID:NAME=VALUE, e.g. -F main:username=alice';

export function parseFormEntry(arg: string): FormEntry {
  if (arg.length > MAX_FORM_ENTRY_CHARS) throw new FormEntryError(`form entry is too long (${arg.length} characters, at most ${MAX_FORM_ENTRY_CHARS})`);
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new FormEntryError(`form entry ${JSON.stringify(arg.slice(0, 80))} has no "NAME=": ${USAGE}`);
  const head = arg.slice(0, eq);
  const colon = head.indexOf(':');
  if (colon <= 0) throw new FormEntryError(`form entry ${JSON.stringify(head.slice(0, 80))} has no "AUTHID:" before the field name: ${USAGE}`);
  const authId = head.slice(0, colon);
  const name = head.slice(colon + 1);
  // (openconnect lets an empty NAME through; it could never match a field, so say so instead)
  if (name === '') throw new FormEntryError(`form entry ${JSON.stringify(head.slice(0, 80))} has an empty field name: ${USAGE}`);
  for (const [what, s] of [['form id', authId], ['field name', name]] as const) {
    if (/[\s\u0000-\u001f\u007f]/.test(s)) throw new FormEntryError(`form entry ${what} ${JSON.stringify(s.slice(0, 80))} contains white space or control characters`);
  }
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(arg.slice(eq + 1))) throw new FormEntryError(`form entry value for ${authId}:${name} contains control characters`);
  return { authId, name, value: arg.slice(eq + 1) };
}

/** The entries of the command line, looked up by form and field. */
export class FormEntries {
  private readonly byKey = new Map<string, string>();

  constructor(entries: readonly FormEntry[] = []) {
    if (entries.length > MAX_FORM_ENTRIES) throw new FormEntryError(`too many form entries (${entries.length}, at most ${MAX_FORM_ENTRIES})`);
    for (const e of entries) this.byKey.set(`${e.authId}\u0000${e.name}`, e.value);
  }

  static parse(args: readonly string[]): FormEntries {
    if (args.length > MAX_FORM_ENTRIES) throw new FormEntryError(`too many form entries (${args.length}, at most ${MAX_FORM_ENTRIES})`);
    return new FormEntries(args.map(parseFormEntry));
  }

  get(authId: string, name: string): string | undefined {
    return this.byKey.get(`${authId}\u0000${name}`);
  }

  get size(): number {
    return this.byKey.size;
  }
}
