/**
 * Distinguished names (RFC 4514): escaping a typed value into a DN template, and a canonical
 * form to compare the group DNs a directory returns with the ones in `group-map`. Pure: no I/O.
 *
 * Directories disagree on spelling: OpenLDAP returns "cn=vpn-staff,ou=groups,dc=example,dc=org",
 * Active Directory "CN=VPN Staff,OU=Groups,DC=corp,DC=example", an administrator types
 * "cn=VPN-Staff, ou=groups, dc=example, dc=org". The canonical form lowercases attribute types
 * and values (group names and the usual naming attributes match case-insensitively), drops the
 * spaces around separators, collapses runs of spaces inside a value (insignificant-space
 * handling of caseIgnoreMatch, RFC 4518 §2.6.1), decodes escapes, and re-escapes what must be.
 */

/** Limits for DNs read from a directory or a configuration. */
export const DN_LIMITS = { maxLength: 4096, maxRdns: 64, maxAvasPerRdn: 16 } as const;

/** One attribute type and value of an RDN, as parsed (value unescaped). */
export interface Ava {
  type: string;
  /** the unescaped value; for a hex BER value ("#04..."), the lowercase hex digits */
  value: string;
  /** true for a hex BER value (RFC 4514 hexstring), kept as written */
  ber: boolean;
}

export class DnSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DnSyntaxError';
  }
}

// RFC 4514 §2.4: characters escaped anywhere in a value; ' ' and '#' only at the edges.
const DN_SPECIALS = new Set(['"', '+', ',', ';', '<', '>', '\\', '=']);

/**
 * `value` escaped for use as an attribute value in a DN string (RFC 4514 §2.4): the specials
 * get a backslash, a leading '#' or space and a trailing space are escaped, NUL and other
 * control characters become \XX. `a,b` -> `a\,b`.
 */
export function escapeDnValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    const code = c.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) out += '\\' + code.toString(16).padStart(2, '0');
    else if (DN_SPECIALS.has(c)) out += '\\' + c;
    else if ((c === ' ' || c === '#') && i === 0) out += '\\' + c;
    else if (c === ' ' && i === value.length - 1) out += '\\ ';
    else out += c;
  }
  return out;
}

/** `template` with every `{user}` replaced by the DN-escaped `user`. */
export function fillDnTemplate(template: string, user: string): string {
  return template.split('{user}').join(escapeDnValue(user));
}

const TYPE_RE = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)*)$/;

/**
 * Parses a DN string into RDNs (each a list of AVAs), leniently as directories write them:
 * spaces around ',', '+' and '=' are allowed, ';' is accepted as a separator (RFC 1779),
 * values may be quoted ("...") or hex BER ("#04..."; kept as the lowercase hex text).
 * The empty string is the empty DN (no RDNs). Throws DnSyntaxError on anything else.
 */
export function parseDn(dn: string): Ava[][] {
  if (dn.length > DN_LIMITS.maxLength) throw new DnSyntaxError(`DN longer than ${DN_LIMITS.maxLength} characters`);
  const rdns: Ava[][] = [];
  let i = 0;
  const n = dn.length;
  const skipSpaces = (): void => {
    while (i < n && dn[i] === ' ') i++;
  };
  skipSpaces();
  if (i === n) return rdns;
  for (;;) {
    const rdn: Ava[] = [];
    for (;;) {
      // attribute type
      skipSpaces();
      const typeStart = i;
      while (i < n && dn[i] !== '=' && dn[i] !== ' ' && dn[i] !== ',' && dn[i] !== '+' && dn[i] !== ';') i++;
      const type = dn.slice(typeStart, i);
      if (!TYPE_RE.test(type)) throw new DnSyntaxError(`bad attribute type ${JSON.stringify(type.slice(0, 40))} at offset ${typeStart}`);
      skipSpaces();
      if (dn[i] !== '=') throw new DnSyntaxError(`'=' expected at offset ${i}`);
      i++;
      skipSpaces();
      const ber = dn[i] === '#';
      const value = readValue();
      rdn.push({ type: type.toLowerCase(), value, ber });
      if (rdn.length > DN_LIMITS.maxAvasPerRdn) throw new DnSyntaxError(`more than ${DN_LIMITS.maxAvasPerRdn} values in one RDN`);
      skipSpaces();
      if (dn[i] === '+') {
        i++;
        continue;
      }
      break;
    }
    rdns.push(rdn);
    if (rdns.length > DN_LIMITS.maxRdns) throw new DnSyntaxError(`more than ${DN_LIMITS.maxRdns} RDNs`);
    if (i === n) return rdns;
    if (dn[i] !== ',' && dn[i] !== ';') throw new DnSyntaxError(`',' expected at offset ${i}`);
    i++;
  }

  function readValue(): string {
    if (dn[i] === '#') {
      const start = i++;
      while (i < n && /[0-9a-fA-F]/.test(dn[i] as string)) i++;
      const hex = dn.slice(start + 1, i);
      if (hex.length === 0 || hex.length % 2 !== 0) throw new DnSyntaxError(`bad hex value at offset ${start}`);
      return hex.toLowerCase();
    }
    if (dn[i] === '"') {
      // RFC 1779 quoted value: everything up to the closing quote, '\' still escapes.
      i++;
      const bytes: number[] = [];
      while (i < n && dn[i] !== '"') readChar(bytes);
      if (i >= n) throw new DnSyntaxError('unterminated quoted value');
      i++;
      return decodeUtf8(bytes);
    }
    const bytes: number[] = [];
    // Spaces at the end of a value are insignificant unless escaped: remember where the last
    // significant character ended.
    let significant = 0;
    while (i < n && dn[i] !== ',' && dn[i] !== '+' && dn[i] !== ';') {
      const c = dn[i] as string;
      if (c === '"' || c === '<' || c === '>') throw new DnSyntaxError(`unescaped ${JSON.stringify(c)} at offset ${i}`);
      const wasEscape = c === '\\';
      readChar(bytes);
      if (wasEscape || c !== ' ') significant = bytes.length;
    }
    bytes.length = significant;
    return decodeUtf8(bytes);
  }

  /** One character (or escape) of a value as UTF-8 bytes. */
  function readChar(bytes: number[]): void {
    const c = dn[i] as string;
    if (c === '\\') {
      const next = dn[i + 1];
      if (next === undefined) throw new DnSyntaxError('dangling \\ at the end');
      const hex = dn.slice(i + 1, i + 3);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        bytes.push(parseInt(hex, 16));
        i += 3;
        return;
      }
      if (!DN_SPECIALS.has(next) && next !== ' ' && next !== '#') throw new DnSyntaxError(`bad escape \\${next} at offset ${i}`);
      bytes.push(next.charCodeAt(0));
      i += 2;
      return;
    }
    const code = c.charCodeAt(0);
    if (code === 0) throw new DnSyntaxError(`NUL at offset ${i}`);
    // A code point (surrogate pairs are two UTF-16 units).
    const cp = dn.codePointAt(i) as number;
    const ch = String.fromCodePoint(cp);
    for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
    i += ch.length;
  }
}

function decodeUtf8(bytes: number[]): string {
  const buf = Buffer.from(bytes);
  const s = buf.toString('utf8');
  // A value whose escapes are not valid UTF-8 would decode with U+FFFD and compare equal to
  // other broken values: refuse it.
  if (!Buffer.from(s, 'utf8').equals(buf)) throw new DnSyntaxError('value is not valid UTF-8');
  return s;
}

/** A value in canonical form: NFC, lowercase, runs of white space one space, edges trimmed. */
function canonicalValue(value: string): string {
  return value.normalize('NFC').toLowerCase().normalize('NFC').replace(/\s+/g, ' ').trim();
}

/**
 * The canonical string of a DN (see the file comment), or null when `dn` is not a DN.
 * Two DNs name the same entry for our purposes when their canonical strings are equal.
 */
export function normalizeDn(dn: string): string | null {
  let rdns: Ava[][];
  try {
    rdns = parseDn(dn);
  } catch (err) {
    if (err instanceof DnSyntaxError) return null;
    throw err;
  }
  return rdns
    .map((rdn) =>
      rdn
        .map((ava) => `${ava.type}=${ava.ber ? '#' + ava.value : escapeDnValue(canonicalValue(ava.value))}`)
        .sort()
        .join('+'),
    )
    .join(',');
}
