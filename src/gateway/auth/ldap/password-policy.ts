/**
 * Telling an expired password from a wrong one, from what a directory answers to a bind.
 *
 * - OpenLDAP's ppolicy overlay (draft-behera-ldap-password-policy-10): the bind request carries
 *   the Password Policy control; the response carries it back with error passwordExpired (the
 *   bind fails with invalidCredentials, 49) or changeAfterReset (the bind succeeds, but the user
 *   must set a new password first), and warnings (time before expiration, grace logins left).
 *   slapd sends the response control only when the request had it, and only when the password
 *   was right (a wrong password to an expired account is a plain 49).
 * - Active Directory: 49 with a diagnostic "... AcceptSecurityContext error, data 532, ..."
 *   (password expired) or "data 773" (user must reset the password).
 * - Other servers (389-ds, OpenDJ): a diagnostic text saying "password expired" / "must change".
 *
 * The DER decoding of the control value is here, pure, with bounds checks; the Control subclass
 * only hands the bytes over.
 */
import { Control, type BerReader } from 'ldapts';

export const PPOLICY_OID = '1.3.6.1.4.1.42.2.27.8.5.1';

/** PasswordPolicyResponseValue error codes (draft-behera §6.2). */
export const PpolicyError = {
  passwordExpired: 0,
  accountLocked: 1,
  changeAfterReset: 2,
  passwordModNotAllowed: 3,
  mustSupplyOldPassword: 4,
  insufficientPasswordQuality: 5,
  passwordTooShort: 6,
  passwordTooYoung: 7,
  passwordInHistory: 8,
} as const;

export interface PpolicyResponse {
  /** seconds until the password expires (warning) */
  timeBeforeExpiration?: number;
  /** logins left after expiry (warning) */
  graceAuthNsRemaining?: number;
  error?: number;
}

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

/** One DER TLV at `off` inside buf[..limit]; definite lengths of at most 4 bytes. */
function readTlv(buf: Buffer, off: number, limit: number): Tlv {
  if (off + 2 > limit) throw new Error('truncated');
  const tag = buf[off] as number;
  let len = buf[off + 1] as number;
  let p = off + 2;
  if (len & 0x80) {
    const count = len & 0x7f;
    if (count === 0 || count > 4) throw new Error('unsupported length');
    if (p + count > limit) throw new Error('truncated length');
    len = 0;
    for (let k = 0; k < count; k++) len = len * 256 + (buf[p + k] as number);
    p += count;
  }
  if (p + len > limit) throw new Error('value runs past its container');
  return { tag, start: p, end: p + len };
}

/** A non-negative INTEGER / ENUMERATED of at most 4 bytes. */
function readSmallInt(buf: Buffer, t: Tlv): number {
  const len = t.end - t.start;
  if (len < 1 || len > 5) throw new Error('bad integer length');
  if (((buf[t.start] as number) & 0x80) !== 0) throw new Error('negative integer');
  let v = 0;
  for (let k = t.start; k < t.end; k++) v = v * 256 + (buf[k] as number);
  if (v > 0xffffffff) throw new Error('integer too large');
  return v;
}

/**
 * Decodes a PasswordPolicyResponseValue:
 *   SEQUENCE { warning [0] CHOICE { timeBeforeExpiration [0] INTEGER,
 *                                   graceAuthNsRemaining [1] INTEGER } OPTIONAL,
 *              error [1] ENUMERATED OPTIONAL }
 * Throws on anything else (the caller treats an unreadable control as absent).
 */
export function parsePpolicyValue(buf: Buffer): PpolicyResponse {
  if (buf.length > 64) throw new Error('password policy control longer than 64 bytes');
  const seq = readTlv(buf, 0, buf.length);
  if (seq.tag !== 0x30) throw new Error('SEQUENCE expected');
  if (seq.end !== buf.length) throw new Error('bytes after the SEQUENCE');
  const out: PpolicyResponse = {};
  let p = seq.start;
  let seen = 0; // order: warning, then error, each at most once
  while (p < seq.end) {
    const t = readTlv(buf, p, seq.end);
    if (t.tag === 0xa0 && seen < 1) {
      const w = readTlv(buf, t.start, t.end);
      if (w.end !== t.end) throw new Error('bytes after the warning');
      if (w.tag === 0x80) out.timeBeforeExpiration = readSmallInt(buf, w);
      else if (w.tag === 0x81) out.graceAuthNsRemaining = readSmallInt(buf, w);
      else throw new Error(`unknown warning tag 0x${w.tag.toString(16)}`);
      seen = 1;
    } else if (t.tag === 0x81 && seen < 2) {
      out.error = readSmallInt(buf, t);
      seen = 2;
    } else {
      throw new Error(`unexpected tag 0x${t.tag.toString(16)}`);
    }
    p = t.end;
  }
  return out;
}

/**
 * The request control (no value), and the holder of the response: ldapts hands a response
 * control to the request control of the same OID (ControlParser.parse), so one instance per bind.
 */
export class PasswordPolicyControl extends Control {
  response: PpolicyResponse | undefined;
  /** why the response value could not be read (for the log), if it could not */
  parseError: string | undefined;

  constructor() {
    super(PPOLICY_OID, { critical: false });
  }

  protected override parseControl(reader: BerReader): void {
    try {
      this.response = parsePpolicyValue(reader.buffer);
    } catch (err) {
      this.parseError = (err as Error).message;
    }
  }
}

/** What a failed or succeeded user bind means for the login. */
export type BindVerdict =
  | { kind: 'ok'; warning?: string }
  | { kind: 'invalid' }
  /** reset: an administrator reset it (must change) rather than it aged out */
  | { kind: 'expired'; why: string; reset: boolean }
  | { kind: 'locked' };

/** Human text for a number of seconds: "3 days", "5 hours", "10 minutes". */
export function describeSeconds(s: number): string {
  if (s >= 2 * 86400) return `${Math.floor(s / 86400)} days`;
  if (s >= 2 * 3600) return `${Math.floor(s / 3600)} hours`;
  if (s >= 120) return `${Math.floor(s / 60)} minutes`;
  return `${s} seconds`;
}

/** A bind that the server accepted: changeAfterReset still means the user must change it. */
export function verdictOfSuccess(ppolicy: PpolicyResponse | undefined): BindVerdict {
  if (ppolicy?.error === PpolicyError.changeAfterReset) return { kind: 'expired', why: 'the password was reset and must be changed (ppolicy)', reset: true };
  if (ppolicy?.error === PpolicyError.passwordExpired) return { kind: 'expired', why: 'password expired (ppolicy)', reset: false };
  if (ppolicy?.graceAuthNsRemaining !== undefined) {
    return { kind: 'ok', warning: `Your password has expired: ${ppolicy.graceAuthNsRemaining} more logins allowed before you must change it.` };
  }
  if (ppolicy?.timeBeforeExpiration !== undefined) {
    return { kind: 'ok', warning: `Your password expires in ${describeSeconds(ppolicy.timeBeforeExpiration)}.` };
  }
  return { kind: 'ok' };
}

// AD: "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 532, v4563"
const AD_EXPIRED = /\bdata (532|773)\b/i;
const AD_LOCKED = /\bdata 775\b/i;
const TEXT_EXPIRED = /password (has )?expired|password must be (changed|reset)|must change (the|your) password/i;

/**
 * A bind that the server refused with result `code` and diagnostic `diagnostic`. Only 49
 * (invalidCredentials) can mean "expired"; every other refusal is up to the caller.
 */
export function verdictOfFailure(code: number, diagnostic: string, ppolicy: PpolicyResponse | undefined): BindVerdict {
  if (code !== 49) return { kind: 'invalid' };
  if (ppolicy?.error === PpolicyError.passwordExpired) return { kind: 'expired', why: 'password expired (ppolicy)', reset: false };
  if (ppolicy?.error === PpolicyError.changeAfterReset) return { kind: 'expired', why: 'the password was reset and must be changed (ppolicy)', reset: true };
  if (ppolicy?.error === PpolicyError.accountLocked) return { kind: 'locked' };
  const ad = AD_EXPIRED.exec(diagnostic);
  if (ad) return ad[1] === '532' ? { kind: 'expired', why: 'password expired (AD data 532)', reset: false } : { kind: 'expired', why: 'password must be reset (AD data 773)', reset: true };
  if (AD_LOCKED.test(diagnostic)) return { kind: 'locked' };
  if (TEXT_EXPIRED.test(diagnostic)) return { kind: 'expired', why: 'password expired (server says so)', reset: false };
  return { kind: 'invalid' };
}
