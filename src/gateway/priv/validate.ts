/**
 * The checks every decoder of the privileged channel uses (messages.ts, state-messages.ts,
 * worker-messages.ts, cluster-messages.ts). The privileged process treats network processes as
 * hostile, so each value is checked for type AND bound; one place means the bounds cannot drift
 * apart between the decoders, and one error class (ChannelProtocolError) ends the channel.
 *
 * A Checker carries the prefix of its decoder's messages ("worker sent an invalid message"), so
 * the log says which decoder refused what. Not on a per-packet path: channel messages are events.
 * Declare a module's checker with its type (`const check: Checker = new Checker(...)`): TypeScript
 * narrows after a call of a method returning `never` (check.fail) only through an explicitly
 * typed reference.
 */
import { formatCidr, formatIpv4, parseIpv4, parseIpv4Cidr } from '../../protocol/ipv4.js';

export class ChannelProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelProtocolError';
  }
}

/**
 * Bounds shared by the decoders. Where they had drifted, the strictest one that no honest
 * sender can exceed was kept (see the commit that made this file).
 */
export const BOUNDS = {
  /** live things a process holds at once (sessions, tunnels, connections): far above any one machine */
  liveCount: 10_000_000,
  /** request ids, counters of bytes/packets/seconds: anything a JS number counts exactly */
  counter: Number.MAX_SAFE_INTEGER,
  /** a remote address as the network process writes it ("192.0.2.1", "[2001:db8::1]:443" ...) */
  remoteBytes: 64,
  /** group, node, pool, handle names */
  nameBytes: 64,
} as const;

const HEX64 = /^[0-9a-f]{64}$/;
const HEX = /^[0-9a-f]+$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export class Checker {
  /**
   * `prefix` starts every message; `makeError` makes the error thrown (a ChannelProtocolError
   * unless a store checks what it read: state/session-check.ts).
   */
  constructor(
    private readonly prefix: string,
    private readonly makeError: (message: string) => Error = (m) => new ChannelProtocolError(m),
  ) {}

  fail(why: string): never {
    throw this.makeError(`${this.prefix}: ${why}`);
  }

  /** A plain object (not null, not an array). */
  obj(v: unknown, what: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(`${what} must be an object`);
    return v as Record<string, unknown>;
  }

  /** No key beyond `keys` (a sender cannot smuggle fields through). `what` names the object. */
  onlyKeys(o: Record<string, unknown>, keys: readonly string[], what?: string): void {
    for (const k of Object.keys(o)) if (!keys.includes(k)) this.fail(`${what ? `${what}: ` : ''}unexpected key ${JSON.stringify(k.slice(0, 40))}`);
  }

  /** A string of at most `maxBytes` UTF-8 bytes. */
  str(v: unknown, what: string, maxBytes: number): string {
    if (typeof v !== 'string') this.fail(`${what} must be a string`);
    if (v.length > maxBytes || Buffer.byteLength(v) > maxBytes) this.fail(`${what} longer than ${maxBytes} bytes`);
    return v;
  }

  /** A whole number in min..max (default: non-negative, any exact JS integer). */
  int(v: unknown, what: string, min = 0, max: number = BOUNDS.counter): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      this.fail(min === 0 && max === BOUNDS.counter ? `${what} must be a non-negative integer` : `${what} must be a whole number from ${min} to ${max}`);
    }
    return v;
  }

  intOrNull(v: unknown, what: string, min = 0, max: number = BOUNDS.counter): number | null {
    return v === null ? null : this.int(v, what, min, max);
  }

  bool(v: unknown, what: string): boolean {
    if (typeof v !== 'boolean') this.fail(`${what} must be true or false`);
    return v;
  }

  /** One of `values` exactly. */
  oneOf<T extends string>(v: unknown, what: string, values: readonly T[]): T {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) this.fail(`${what} must be one of ${values.join(', ')}`);
    return v as T;
  }

  /** Dotted IPv4 in the canonical form formatIpv4 writes (no leading zeros, no spaces). */
  ipv4(v: unknown, what: string): string {
    if (typeof v !== 'string' || v.length > 15) this.fail(`${what} must be an IPv4 address`);
    const n = parseIpv4(v);
    if (n === null || formatIpv4(n) !== v) this.fail(`${what} must be an IPv4 address`);
    return v;
  }

  /** An IPv4 address as a number (0 .. 2^32-1). */
  ipv4Number(v: unknown, what: string): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > 0xffffffff) this.fail(`${what} is not an IPv4 address`);
    return v;
  }

  /** ADDRESS/PREFIX in the canonical form formatCidr writes. */
  ipv4Cidr(v: unknown, what: string): string {
    const s = this.str(v, what, 18);
    const parsed = parseIpv4Cidr(s);
    if (!parsed || formatCidr(parsed) !== s) this.fail(`not an IPv4 CIDR: ${JSON.stringify(s)}`);
    return s;
  }

  /** A hex SHA-256 (64 lower-case hex digits): cookie hashes, lease holders. */
  sha256Hex(v: unknown, what: string): string {
    if (typeof v !== 'string' || !HEX64.test(v)) this.fail(`${what} must be 64 lower-case hex digits`);
    return v;
  }

  /** Lower-case hex of whole bytes, 1 to maxBytes bytes. */
  hexBytes(v: unknown, what: string, maxBytes: number): string {
    if (typeof v !== 'string' || v.length === 0 || v.length > maxBytes * 2 || v.length % 2 !== 0 || !HEX.test(v)) this.fail(`${what} must be lower-case hex`);
    return v;
  }

  /** Base64 of at most maxBytes bytes. */
  base64(v: unknown, what: string, maxBytes: number): string {
    if (typeof v !== 'string' || v.length > Math.ceil(maxBytes / 3) * 4 || !BASE64.test(v)) this.fail(`${what} must be base64 of at most ${maxBytes} bytes`);
    return v;
  }

  /** A list of at most maxItems, each checked by `each`. */
  list<T>(v: unknown, what: string, maxItems: number, each: (x: unknown, what: string) => T): T[] {
    if (!Array.isArray(v) || v.length > maxItems) this.fail(`${what} must be a list of at most ${maxItems}`);
    return v.map((x) => each(x, what));
  }

  /** A list of at most maxItems strings of at most maxBytes each. */
  strList(v: unknown, what: string, maxItems: number, maxBytes: number): string[] {
    return this.list(v, what, maxItems, (x, w) => this.str(x, w, maxBytes));
  }
}
