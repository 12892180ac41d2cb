/**
 * TLS client certificates (issue 10, the `certificate` method), as pure functions:
 *
 *   certVerdict()   what the handshake left on the socket (getPeerCertificate(), authorized,
 *                   authorizationError) -> no certificate / verified ClientCertInfo / refused with
 *                   a message a person understands ("... has expired", "... has been revoked")
 *   certIdentity()  a verified certificate -> user and groups, from the fields named by
 *                   tls.cert-user / tls.cert-group
 *   parseCertField() a config value (CN, OU, UID, emailAddress, SAN:email, or ocserv's OIDs) ->
 *                   the canonical field name
 *   checkClientCertInfo() a ClientCertInfo that crossed the privileged channel -> the same,
 *                   shape and size checked
 *
 * The verification itself (chain to tls.client-ca, dates, tls.crl, key usage for clients) is
 * OpenSSL's, run by Node during the handshake (gateway.ts: requestCert with the CA and CRL,
 * rejectUnauthorized false so that the refusal can be explained in the login form instead of a
 * bare TLS alert). Node reports the result as `authorized` plus one OpenSSL error code.
 */
import { isValidUserName } from '../user-name.js';
import type { ClientCertInfo } from './types.js';

/** What tls.TLSSocket.getPeerCertificate() returns, as far as it is read here (all unchecked). */
export interface PeerCertificateLike {
  subject?: unknown;
  issuer?: unknown;
  subjectaltname?: unknown;
  fingerprint256?: unknown;
  serialNumber?: unknown;
  valid_from?: unknown;
  valid_to?: unknown;
}

export type CertVerdict =
  /** the client sent no certificate */
  | { kind: 'none' }
  | { kind: 'verified'; info: ClientCertInfo }
  | {
      kind: 'refused';
      /** OpenSSL's code as Node reports it (CERT_HAS_EXPIRED ...), or BAD_CERTIFICATE_FIELDS */
      code: string;
      /** for the user (login form) and the log */
      error: string;
      /** "CN=alice, OU=Employees" as far as readable, for the log */
      subject: string;
      issuer: string;
      serial: string;
    };

/** Bounds on what a certificate may carry into a ClientCertInfo (X.509 upper bounds are 64..255 characters a value). */
export const CERT_LIMITS = {
  fields: 32,
  valuesPerField: 16,
  valueChars: 256,
  sanEmails: 16,
  serialHex: 64,
} as const;

const FIELD_NAME = /^(?:[A-Za-z][A-Za-z0-9-]{0,31}|[0-9]{1,9}(?:\.[0-9]{1,9}){1,15})$/;
const FINGERPRINT = /^[0-9A-F]{64}$/;
const SERIAL = /^[0-9A-F]{1,64}$/;

/** The pseudo-field for the certificate's subjectAltName e-mail addresses (ocserv: SAN(rfc822name)). */
export const SAN_EMAIL = 'SAN:email';

/**
 * Config names of certificate fields -> the name Node's subject object uses (OpenSSL short
 * names). ocserv configures the same fields by OID (cert-user-oid / cert-group-oid), so those
 * are accepted too: a migrated config keeps working.
 */
const FIELD_ALIASES: Record<string, string> = {
  CN: 'CN',
  commonName: 'CN',
  '2.5.4.3': 'CN',
  OU: 'OU',
  organizationalUnitName: 'OU',
  '2.5.4.11': 'OU',
  O: 'O',
  organizationName: 'O',
  '2.5.4.10': 'O',
  UID: 'UID',
  userId: 'UID',
  '0.9.2342.19200300.100.1.1': 'UID',
  emailAddress: 'emailAddress',
  '1.2.840.113549.1.9.1': 'emailAddress',
  serialNumber: 'serialNumber',
  '2.5.4.5': 'serialNumber',
  title: 'title',
  '2.5.4.12': 'title',
  DC: 'DC',
  '0.9.2342.19200300.100.1.25': 'DC',
  L: 'L',
  ST: 'ST',
  C: 'C',
  [SAN_EMAIL]: SAN_EMAIL,
  'SAN(rfc822name)': SAN_EMAIL,
};

/** The fields tls.cert-user / tls.cert-group accept, for error messages. */
export const CERT_FIELD_NAMES = ['CN', 'UID', 'emailAddress', 'OU', 'O', 'serialNumber', 'title', 'DC', 'L', 'ST', 'C', SAN_EMAIL];

/** A config value -> the canonical field name, or null when it names no field we read. */
export function parseCertField(text: string): string | null {
  const t = text.trim();
  return Object.prototype.hasOwnProperty.call(FIELD_ALIASES, t) ? FIELD_ALIASES[t]! : null;
}

class CertFieldError extends Error {}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Node's subject object ({ CN: 'a', OU: ['x', 'y'] }) -> arrays, bounded. `arraysOnly`: the
 * ClientCertInfo form (every value already a list). Throws CertFieldError.
 */
function readSubject(v: unknown, arraysOnly = false): Record<string, string[]> {
  if (!isRecord(v)) throw new CertFieldError('the certificate has no readable subject');
  const keys = Object.keys(v);
  if (keys.length > CERT_LIMITS.fields) throw new CertFieldError(`the certificate subject has ${keys.length} fields (at most ${CERT_LIMITS.fields})`);
  // FIELD_NAME admits no "__proto__"; an inherited name like "constructor" is never read as a
  // field (fieldValues looks at own keys only).
  const out: Record<string, string[]> = {};
  for (const k of keys) {
    if (!FIELD_NAME.test(k)) throw new CertFieldError(`the certificate subject has an unreadable field name ${JSON.stringify(k.slice(0, 40))}`);
    const raw = v[k];
    if (arraysOnly && !Array.isArray(raw)) throw new CertFieldError(`the certificate's ${k} is not a list`);
    const values = Array.isArray(raw) ? (raw as unknown[]) : [raw];
    if (values.length === 0) throw new CertFieldError(`the certificate's ${k} is empty`);
    if (values.length > CERT_LIMITS.valuesPerField) throw new CertFieldError(`the certificate subject has ${values.length} ${k} values (at most ${CERT_LIMITS.valuesPerField})`);
    out[k] = values.map((x) => {
      if (typeof x !== 'string') throw new CertFieldError(`the certificate's ${k} is not text`);
      if (x.length > CERT_LIMITS.valueChars) throw new CertFieldError(`the certificate's ${k} is ${x.length} characters long (at most ${CERT_LIMITS.valueChars})`);
      return x;
    });
  }
  return out;
}

/**
 * The e-mail entries of Node's subjectaltname string: `email:a@x, DNS:host, email:"odd,one"`.
 * Node (since the 2022 fix for CVE-2021-44532) writes a value with a comma, quote or other
 * special character as a JSON string, so the string splits unambiguously.
 */
export function sanEmails(v: unknown): string[] {
  if (typeof v !== 'string' || v === '') return [];
  if (v.length > 16 * 1024) throw new CertFieldError('the certificate subjectAltName is too long');
  const out: string[] = [];
  let i = 0;
  for (;;) {
    const colon = v.indexOf(':', i);
    if (colon < 0) throw new CertFieldError('the certificate subjectAltName is not readable');
    const type = v.slice(i, colon);
    let value: string;
    let next: number;
    if (v[colon + 1] === '"') {
      // A JSON string: find its closing quote (a backslash escapes the next character).
      let j = colon + 2;
      while (j < v.length && v[j] !== '"') j += v[j] === '\\' ? 2 : 1;
      if (j >= v.length) throw new CertFieldError('the certificate subjectAltName is not readable');
      try {
        value = JSON.parse(v.slice(colon + 1, j + 1)) as string;
      } catch {
        throw new CertFieldError('the certificate subjectAltName is not readable');
      }
      next = j + 1;
    } else {
      const end = v.indexOf(', ', colon + 1);
      next = end < 0 ? v.length : end;
      value = v.slice(colon + 1, next);
    }
    if (type === 'email') {
      if (value.length > CERT_LIMITS.valueChars) throw new CertFieldError(`a certificate e-mail address is ${value.length} characters long (at most ${CERT_LIMITS.valueChars})`);
      out.push(value);
      if (out.length > CERT_LIMITS.sanEmails) throw new CertFieldError(`the certificate has more than ${CERT_LIMITS.sanEmails} e-mail addresses`);
    }
    if (next >= v.length) return out;
    // Another entry follows the separator (a trailing ", " is not Node's format).
    if (v.slice(next, next + 2) !== ', ' || next + 2 >= v.length) throw new CertFieldError('the certificate subjectAltName is not readable');
    i = next + 2;
  }
}

/** "CN=alice, OU=Employees" for logs: printable ASCII only, at most 200 characters. */
export function describeName(v: unknown): string {
  if (!isRecord(v)) return '';
  const parts: string[] = [];
  for (const [k, raw] of Object.entries(v).slice(0, CERT_LIMITS.fields)) {
    for (const x of (Array.isArray(raw) ? (raw as unknown[]) : [raw]).slice(0, 4)) parts.push(`${k}=${String(x)}`);
  }
  const s = parts.join(', ').replace(/[^\x20-\x7e]/g, '?');
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

function hexOf(v: unknown, re: RegExp): string | null {
  if (typeof v !== 'string') return null;
  const h = v.replace(/:/g, '').toUpperCase();
  return re.test(h) ? h : null;
}

function dateOf(v: unknown): string {
  return typeof v === 'string' && v.length <= 40 ? v.replace(/\s+/g, ' ') : '?';
}

/** OpenSSL verify codes (as Node names them) -> what went wrong, for the person logging in. */
function refusalMessage(code: string, peer: PeerCertificateLike): string {
  const issuer = describeName(peer.issuer) || 'an unknown issuer';
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return `The client certificate has expired (valid until ${dateOf(peer.valid_to)}).`;
    case 'CERT_NOT_YET_VALID':
      return `The client certificate is not valid yet (valid from ${dateOf(peer.valid_from)}).`;
    case 'CERT_REVOKED':
      return 'The client certificate has been revoked.';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'CERT_UNTRUSTED':
    case 'CERT_REJECTED':
      return `The client certificate was not issued by a CA this gateway trusts (issuer: ${issuer}).`;
    case 'CERT_SIGNATURE_FAILURE':
    case 'UNABLE_TO_DECRYPT_CERT_SIGNATURE':
    case 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY':
      return `The client certificate's signature does not verify with its CA (issuer: ${issuer}).`;
    case 'INVALID_PURPOSE':
      return 'The client certificate is not meant for client authentication (its extended key usage lacks clientAuth).';
    case 'INVALID_CA':
    case 'PATH_LENGTH_EXCEEDED':
    case 'CERT_CHAIN_TOO_LONG':
    case 'INVALID_EXTENSION':
    case 'INVALID_NON_CA':
      return `The client certificate's chain is not valid (${code}).`;
    case 'ERROR_IN_CERT_NOT_BEFORE_FIELD':
    case 'ERROR_IN_CERT_NOT_AFTER_FIELD':
      return 'The client certificate has an unreadable validity date.';
    case 'UNABLE_TO_GET_CRL':
      return 'The gateway has no revocation list for the certificate\'s CA (tls.crl); ask the administrator.';
    case 'CRL_HAS_EXPIRED':
      return 'The gateway\'s certificate revocation list has expired (tls.crl); ask the administrator.';
    case 'CRL_NOT_YET_VALID':
    case 'CRL_SIGNATURE_FAILURE':
    case 'UNABLE_TO_DECRYPT_CRL_SIGNATURE':
    case 'ERROR_IN_CRL_LAST_UPDATE_FIELD':
    case 'ERROR_IN_CRL_NEXT_UPDATE_FIELD':
      return `The gateway's certificate revocation list is not usable (${code}, tls.crl); ask the administrator.`;
    default:
      return `The client certificate was not accepted (${code}).`;
  }
}

/** Node's authorizationError (an OpenSSL code name; older Node versions an Error) -> a short code. */
function codeOf(e: unknown): string {
  const s = e instanceof Error ? ((e as NodeJS.ErrnoException).code ?? e.message) : typeof e === 'string' ? e : '';
  return /^[A-Z0-9_]{1,64}$/.test(s) ? s : 'UNKNOWN';
}

/**
 * The handshake's result for one connection. `peer` is getPeerCertificate() (an empty object
 * when the client sent none: Node then reports authorized false with UNABLE_TO_GET_ISSUER_CERT,
 * which must not read as "wrong CA").
 */
export function certVerdict(peer: PeerCertificateLike | null | undefined, authorized: boolean, authorizationError: unknown): CertVerdict {
  if (!peer || !isRecord(peer) || Object.keys(peer).length === 0 || peer.fingerprint256 === undefined) return { kind: 'none' };
  const refused = (code: string, error: string): CertVerdict => ({
    kind: 'refused',
    code,
    error,
    subject: describeName(peer.subject),
    issuer: describeName(peer.issuer),
    serial: hexOf(peer.serialNumber, SERIAL) ?? '?',
  });
  if (!authorized) {
    const code = codeOf(authorizationError);
    return refused(code, refusalMessage(code, peer));
  }
  const fingerprint = hexOf(peer.fingerprint256, FINGERPRINT);
  const serial = hexOf(peer.serialNumber, SERIAL);
  if (!fingerprint || !serial) return refused('BAD_CERTIFICATE_FIELDS', 'The client certificate has an unreadable fingerprint or serial number.');
  try {
    const info: ClientCertInfo = { subject: readSubject(peer.subject), fingerprint, serial };
    const emails = sanEmails(peer.subjectaltname);
    if (emails.length) info.sanEmail = emails;
    return { kind: 'verified', info };
  } catch (e) {
    if (e instanceof CertFieldError) return refused('BAD_CERTIFICATE_FIELDS', `The client certificate was not accepted: ${e.message}.`);
    throw e;
  }
}

function fieldValues(info: ClientCertInfo, field: string): string[] {
  if (field === SAN_EMAIL) return info.sanEmail ?? [];
  return Object.prototype.hasOwnProperty.call(info.subject, field) ? info.subject[field]! : [];
}

export type CertIdentity = { ok: true; user: string; groups?: string[] } | { ok: false; error: string };

/**
 * The user (one value of `certUser`, a valid user name) and groups (every value of
 * `certGroup`; undefined when no cert-group is configured: the certificate does not restrict).
 * With cert-group configured, a certificate without that field allows no group. Fields are
 * canonical names (parseCertField).
 */
export function certIdentity(info: ClientCertInfo, certUser: string, certGroup?: string): CertIdentity {
  const users = fieldValues(info, certUser);
  if (users.length === 0) return { ok: false, error: `The client certificate has no ${certUser} to take the user name from (tls.cert-user).` };
  if (users.length > 1) return { ok: false, error: `The client certificate has ${users.length} ${certUser} values; the user name must be one (tls.cert-user).` };
  const user = users[0]!;
  if (!isValidUserName(user)) {
    const shown = user.slice(0, 64).replace(/[^\x20-\x7e]/g, '?');
    return { ok: false, error: `The client certificate's ${certUser} "${shown}" is not a valid user name (1-64 of A-Z a-z 0-9 . _ @ + -).` };
  }
  if (certGroup === undefined) return { ok: true, user };
  return { ok: true, user, groups: [...new Set(fieldValues(info, certGroup))] };
}

/**
 * A ClientCertInfo from the other side of the privileged channel: same shape, same bounds as
 * certVerdict() produces, else null. (The network process terminates TLS, so it is trusted to
 * report the certificate; this only keeps a confused or compromised one from sending nonsense.)
 */
export function checkClientCertInfo(v: unknown): ClientCertInfo | null {
  if (!isRecord(v)) return null;
  for (const k of Object.keys(v)) if (!['subject', 'fingerprint', 'serial', 'sanEmail'].includes(k)) return null;
  if (typeof v['fingerprint'] !== 'string' || !FINGERPRINT.test(v['fingerprint'])) return null;
  if (typeof v['serial'] !== 'string' || !SERIAL.test(v['serial'])) return null;
  try {
    const subject = readSubject(v['subject'], true);
    const info: ClientCertInfo = { subject, fingerprint: v['fingerprint'], serial: v['serial'] };
    if (v['sanEmail'] !== undefined) {
      const e = v['sanEmail'];
      if (!Array.isArray(e) || e.length === 0 || e.length > CERT_LIMITS.sanEmails) return null;
      if (!e.every((x): x is string => typeof x === 'string' && x.length <= CERT_LIMITS.valueChars)) return null;
      info.sanEmail = [...e];
    }
    return info;
  } catch (e) {
    if (e instanceof CertFieldError) return null;
    throw e;
  }
}
