/**
 * RADIUS packets (RFC 2865 §3, RFC 2866 §3): encoding, strict decoding, and the authenticators.
 * Pure: no sockets, no clock; randomness comes in as arguments.
 *
 * Hand-written rather than the npm `radius` package (node-radius 1.1.x): that package has no
 * types, reads its dictionaries from files at run time, and decodes leniently (it accepts a
 * packet whose length field disagrees with the datagram, and it does not make a reply carry a
 * valid Message-Authenticator). A gateway must refuse those replies (BlastRADIUS, CVE-2024-3596),
 * and the part of RADIUS we use is small: one header, type-length-value attributes, three MD5
 * constructions and one HMAC-MD5.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const Code = {
  AccessRequest: 1,
  AccessAccept: 2,
  AccessReject: 3,
  AccountingRequest: 4,
  AccountingResponse: 5,
  AccessChallenge: 11,
} as const;

const CODE_NAMES: Record<number, string> = {
  1: 'Access-Request',
  2: 'Access-Accept',
  3: 'Access-Reject',
  4: 'Accounting-Request',
  5: 'Accounting-Response',
  11: 'Access-Challenge',
  12: 'Status-Server',
  13: 'Status-Client',
};

export function codeName(code: number): string {
  return CODE_NAMES[code] ?? `code ${code}`;
}

/** RFC 2865 §3: "The minimum length is 20 and maximum length is 4096." */
export const MIN_PACKET = 20;
export const MAX_PACKET = 4096;
/** an attribute's value: its length octet counts type and length, and is at most 255 */
export const MAX_ATTR_VALUE = 253;
const HEADER = 20;

/** Attribute type numbers used here (RFC 2865 §5, RFC 2866 §5, RFC 2869 §5, RFC 3579 §3.2). */
export const Attr = {
  UserName: 1,
  UserPassword: 2,
  NasIpAddress: 4,
  ServiceType: 6,
  FramedIpAddress: 8,
  ReplyMessage: 18,
  FramedRoute: 22,
  State: 24,
  Class: 25,
  VendorSpecific: 26,
  SessionTimeout: 27,
  IdleTimeout: 28,
  CallingStationId: 31,
  NasIdentifier: 32,
  AcctStatusType: 40,
  AcctDelayTime: 41,
  AcctInputOctets: 42,
  AcctOutputOctets: 43,
  AcctSessionId: 44,
  AcctAuthentic: 45,
  AcctSessionTime: 46,
  AcctInputPackets: 47,
  AcctOutputPackets: 48,
  AcctTerminateCause: 49,
  AcctInputGigawords: 52,
  AcctOutputGigawords: 53,
  EventTimestamp: 55,
  NasPortType: 61,
  MessageAuthenticator: 80,
  AcctInterimInterval: 85,
} as const;

export interface Attribute {
  type: number;
  value: Buffer;
}

export interface Packet {
  code: number;
  /** the Identifier octet, 0..255 */
  id: number;
  /** 16 octets */
  authenticator: Buffer;
  attributes: Attribute[];
}

/** Bad input: the message says what is wrong, for the log. */
export class RadiusError extends Error {
  override readonly name = 'RadiusError';
}

/**
 * Decodes a datagram. Strict: 20..4096 octets, the Length field equal to the datagram's size
 * (RFC 2865 §3 lets a receiver ignore trailing octets; a reply that needs it is not one we
 * trust), every attribute at least 2 octets and inside the packet.
 */
export function decodePacket(buf: Buffer): Packet {
  if (buf.length < MIN_PACKET) throw new RadiusError(`packet of ${buf.length} bytes is shorter than the RADIUS header (20)`);
  if (buf.length > MAX_PACKET) throw new RadiusError(`packet of ${buf.length} bytes is longer than RADIUS allows (4096)`);
  const length = buf.readUInt16BE(2);
  if (length !== buf.length) throw new RadiusError(`packet length field says ${length} bytes but the datagram has ${buf.length}`);
  const attributes: Attribute[] = [];
  let off = HEADER;
  while (off < length) {
    if (off + 2 > length) throw new RadiusError(`attribute at offset ${off} is truncated (1 byte left)`);
    const type = buf[off] as number;
    const alen = buf[off + 1] as number;
    if (alen < 2) throw new RadiusError(`attribute ${type} at offset ${off} has length ${alen} (minimum 2)`);
    if (off + alen > length) {
      throw new RadiusError(`attribute ${type} at offset ${off} has length ${alen}, past the end of the ${length}-byte packet`);
    }
    attributes.push({ type, value: Buffer.from(buf.subarray(off + 2, off + alen)) });
    off += alen;
  }
  return { code: buf[0] as number, id: buf[1] as number, authenticator: Buffer.from(buf.subarray(4, HEADER)), attributes };
}

/** Encodes a packet; refuses values over 253 octets and packets over 4096. */
export function encodePacket(p: Packet): Buffer {
  if (p.authenticator.length !== 16) throw new RadiusError(`authenticator must be 16 bytes, got ${p.authenticator.length}`);
  if (!Number.isInteger(p.id) || p.id < 0 || p.id > 255) throw new RadiusError(`identifier ${p.id} is not an octet`);
  let length = HEADER;
  for (const a of p.attributes) {
    if (a.value.length > MAX_ATTR_VALUE) throw new RadiusError(`attribute ${a.type} value of ${a.value.length} bytes exceeds 253`);
    length += 2 + a.value.length;
  }
  if (length > MAX_PACKET) throw new RadiusError(`packet of ${length} bytes exceeds 4096`);
  const out = Buffer.alloc(length);
  out[0] = p.code;
  out[1] = p.id;
  out.writeUInt16BE(length, 2);
  p.authenticator.copy(out, 4);
  let off = HEADER;
  for (const a of p.attributes) {
    out[off] = a.type;
    out[off + 1] = a.value.length + 2;
    a.value.copy(out, off + 2);
    off += 2 + a.value.length;
  }
  return out;
}

function md5(...parts: Buffer[]): Buffer {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Offset of the Message-Authenticator value in an encoded packet, or -1. Rejects two of them. */
function messageAuthenticatorOffset(buf: Buffer): number {
  let found = -1;
  let off = HEADER;
  while (off + 2 <= buf.length) {
    const type = buf[off] as number;
    const alen = buf[off + 1] as number;
    if (alen < 2) break;
    if (type === Attr.MessageAuthenticator) {
      if (alen !== 18) throw new RadiusError(`Message-Authenticator has length ${alen}, must be 18`);
      if (found !== -1) throw new RadiusError('more than one Message-Authenticator');
      found = off + 2;
    }
    off += alen;
  }
  return found;
}

/**
 * Message-Authenticator (RFC 3579 §3.2, RFC 2869 §5.14): HMAC-MD5 keyed with the secret over the
 * whole packet with the attribute's value zeroed, and — in a reply — the request's authenticator
 * in the header.
 */
function messageAuthenticator(buf: Buffer, maOffset: number, headerAuth: Buffer, secret: Buffer): Buffer {
  const copy = Buffer.from(buf);
  headerAuth.copy(copy, 4);
  copy.fill(0, maOffset, maOffset + 16);
  return createHmac('md5', secret).update(copy).digest();
}

export interface BuiltRequest {
  bytes: Buffer;
  id: number;
  /** the Request Authenticator (needed to check the reply) */
  authenticator: Buffer;
  code: number;
}

/**
 * An Access-Request. `authenticator`: 16 random octets (RFC 2865 §3: unpredictable and unique).
 * A Message-Authenticator goes first (the BlastRADIUS advice: before any attribute an attacker
 * could use to build an MD5 collision prefix), so a server that requires it accepts us.
 */
export function buildAccessRequest(opts: { id: number; authenticator: Buffer; secret: string | Buffer; attributes: Attribute[] }): BuiltRequest {
  const secret = Buffer.from(opts.secret);
  const attrs: Attribute[] = [{ type: Attr.MessageAuthenticator, value: Buffer.alloc(16) }, ...opts.attributes.filter((a) => a.type !== Attr.MessageAuthenticator)];
  const bytes = encodePacket({ code: Code.AccessRequest, id: opts.id, authenticator: opts.authenticator, attributes: attrs });
  const ma = messageAuthenticator(bytes, HEADER + 2, opts.authenticator, secret);
  ma.copy(bytes, HEADER + 2);
  return { bytes, id: opts.id, authenticator: Buffer.from(opts.authenticator), code: Code.AccessRequest };
}

/** An Accounting-Request: its authenticator is MD5(Code+Identifier+Length+16 zero octets+Attributes+Secret) (RFC 2866 §3). */
export function buildAccountingRequest(opts: { id: number; secret: string | Buffer; attributes: Attribute[] }): BuiltRequest {
  const bytes = encodePacket({ code: Code.AccountingRequest, id: opts.id, authenticator: Buffer.alloc(16), attributes: opts.attributes });
  const auth = md5(bytes, Buffer.from(opts.secret));
  auth.copy(bytes, 4);
  return { bytes, id: opts.id, authenticator: auth, code: Code.AccountingRequest };
}

/** Checks an Accounting-Request's authenticator (what a server does; used by tests). */
export function verifyAccountingRequest(bytes: Buffer, secret: string | Buffer): boolean {
  const zeroed = Buffer.from(bytes);
  zeroed.fill(0, 4, HEADER);
  return timingSafeEqual(md5(zeroed, Buffer.from(secret)), bytes.subarray(4, HEADER));
}

/** The codes a server may answer a request with. */
function allowedReplies(requestCode: number): number[] {
  if (requestCode === Code.AccessRequest) return [Code.AccessAccept, Code.AccessReject, Code.AccessChallenge];
  if (requestCode === Code.AccountingRequest) return [Code.AccountingResponse];
  return [];
}

/**
 * Decodes and authenticates a reply to `request`: the identifier must match, the code must be an
 * answer to the request's code, the Response Authenticator MD5(Code+ID+Length+RequestAuth+
 * Attributes+Secret) must match (RFC 2865 §3), and a Message-Authenticator, when present (or
 * when `requireMessageAuthenticator`), must be valid. Throws RadiusError saying which check failed.
 */
export function verifyReply(bytes: Buffer, request: BuiltRequest, secret: string | Buffer, opts: { requireMessageAuthenticator?: boolean } = {}): Packet {
  const packet = decodePacket(bytes);
  if (packet.id !== request.id) throw new RadiusError(`reply identifier ${packet.id} does not match the request's ${request.id}`);
  if (!allowedReplies(request.code).includes(packet.code)) {
    throw new RadiusError(`${codeName(packet.code)} is not an answer to ${codeName(request.code)}`);
  }
  const key = Buffer.from(secret);
  const withRequestAuth = Buffer.from(bytes);
  request.authenticator.copy(withRequestAuth, 4);
  const expected = md5(withRequestAuth, key);
  if (!timingSafeEqual(expected, packet.authenticator)) {
    throw new RadiusError(`${codeName(packet.code)} has a wrong Response Authenticator (wrong shared secret or forged reply)`);
  }
  const maOffset = messageAuthenticatorOffset(bytes);
  if (maOffset === -1) {
    if (opts.requireMessageAuthenticator) throw new RadiusError(`${codeName(packet.code)} has no Message-Authenticator (required)`);
  } else {
    const ma = messageAuthenticator(bytes, maOffset, request.authenticator, key);
    if (!timingSafeEqual(ma, bytes.subarray(maOffset, maOffset + 16))) {
      throw new RadiusError(`${codeName(packet.code)} has a wrong Message-Authenticator`);
    }
  }
  return packet;
}

/**
 * Signs a reply as a server does (Message-Authenticator if the packet has one, then the Response
 * Authenticator). For tests: a fake server in unit tests and the RFC vectors.
 */
export function signReply(packet: Packet, requestAuthenticator: Buffer, secret: string | Buffer): Buffer {
  const key = Buffer.from(secret);
  const bytes = encodePacket({ ...packet, authenticator: requestAuthenticator });
  const maOffset = messageAuthenticatorOffset(bytes);
  if (maOffset !== -1) messageAuthenticator(bytes, maOffset, requestAuthenticator, key).copy(bytes, maOffset);
  md5(bytes, key).copy(bytes, 4);
  return bytes;
}

/** RFC 2865 §5.2: the password is padded to a multiple of 16 and at most 128 octets. */
export const MAX_PASSWORD = 128;

/**
 * User-Password hiding (RFC 2865 §5.2): c(1) = p1 xor MD5(S + RA), c(i) = pi xor MD5(S + c(i-1)).
 * An empty password becomes 16 zero octets before hiding.
 */
export function hidePassword(password: string | Buffer, secret: string | Buffer, requestAuthenticator: Buffer): Buffer {
  const p = Buffer.from(password);
  if (p.length > MAX_PASSWORD) throw new RadiusError(`password of ${p.length} bytes exceeds RADIUS's 128`);
  const padded = Buffer.alloc(Math.max(16, Math.ceil(p.length / 16) * 16));
  p.copy(padded);
  const key = Buffer.from(secret);
  const out = Buffer.alloc(padded.length);
  let prev = requestAuthenticator;
  for (let i = 0; i < padded.length; i += 16) {
    const b = md5(key, prev);
    for (let j = 0; j < 16; j++) out[i + j] = (padded[i + j] as number) ^ (b[j] as number);
    prev = out.subarray(i, i + 16);
  }
  return out;
}

/** The reverse of hidePassword (what a server does; for tests). Trailing NULs are padding. */
export function unhidePassword(hidden: Buffer, secret: string | Buffer, requestAuthenticator: Buffer): Buffer {
  if (hidden.length === 0 || hidden.length % 16 !== 0 || hidden.length > MAX_PASSWORD) {
    throw new RadiusError(`hidden password of ${hidden.length} bytes is not 16..128 in steps of 16`);
  }
  const key = Buffer.from(secret);
  const out = Buffer.alloc(hidden.length);
  let prev = requestAuthenticator;
  for (let i = 0; i < hidden.length; i += 16) {
    const b = md5(key, prev);
    for (let j = 0; j < 16; j++) out[i + j] = (hidden[i + j] as number) ^ (b[j] as number);
    prev = hidden.subarray(i, i + 16);
  }
  let end = out.length;
  while (end > 0 && out[end - 1] === 0) end--;
  return out.subarray(0, end);
}
