/**
 * RADIUS accounting (RFC 2866): Start, Interim-Update (RFC 2869 §5.1) and Stop for a session,
 * with session time, octets (the high 32 bits in Acct-Input/Output-Gigawords, RFC 2869 §5.1-2),
 * packets, Class echoed (RFC 2865 §5.25) and Acct-Terminate-Cause. Retries and failover as for
 * logins (RadiusClient); never throws into the caller: a lost record is logged.
 */
import { bytesAttr, intAttr, ipv4Attr, textAttr } from './attributes.js';
import { RadiusClient, silentLog, type RadiusLog, type RadiusServer } from './client.js';
import { NAS_PORT_TYPE_VIRTUAL, SERVICE_TYPE_FRAMED } from './method.js';
import { Attr, buildAccountingRequest, type Attribute } from './packet.js';
import type { AcctCause } from '../accounting-record.js';

export const AcctStatus = { Start: 1, Stop: 2, InterimUpdate: 3 } as const;

/** RFC 2866 §5.10 Acct-Terminate-Cause values. */
export const TERMINATE_CAUSES: Readonly<Record<AcctCause, number>> = {
  'user-request': 1,
  'lost-carrier': 2,
  'idle-timeout': 4,
  'session-timeout': 5,
  'admin-reset': 6,
  'nas-reboot': 7,
  'port-error': 8,
  'nas-request': 10,
};
/** The gateway's causes (accounting-record.ts): the table above has a value for each. */
export type TerminateCause = AcctCause;

/** RFC 2866 §5.6 Acct-Authentic: RADIUS (1). */
const ACCT_AUTHENTIC_RADIUS = 1;

export interface AccountingSession {
  /** Acct-Session-Id (RFC 2866 §5.5): unique per session, the same in Start, Interim and Stop */
  sessionId: string;
  user: string;
  /** the client's address (Calling-Station-Id) */
  remote: string;
  /** the tunnel address (Framed-IP-Address) */
  framedIp?: string;
  /** Class values from the Access-Accept, base64 (SessionAttributes.radiusClass) */
  radiusClass?: string[];
  /** seconds since the session started */
  sessionTime: number;
  /** from the client (what the gateway received from it) */
  inOctets: bigint | number;
  /** to the client */
  outOctets: bigint | number;
  inPackets: number;
  outPackets: number;
}

export interface RadiusAccountingOptions {
  servers: RadiusServer[];
  secret: string;
  nasIdentifier?: string;
  nasIpAddress?: string;
  timeout?: number;
  retries?: number;
  log?: RadiusLog;
}

const TWO_32 = 1n << 32n;
const TWO_64 = 1n << 64n;

/** [low 32 bits, high 32 bits (gigawords)] of a counter; negative or over 2^64 is clamped. */
export function splitOctets(n: bigint | number): [number, number] {
  let v = typeof n === 'bigint' ? n : BigInt(Math.max(0, Math.floor(Number.isFinite(n) ? n : 0)));
  if (v < 0n) v = 0n;
  if (v >= TWO_64) v = TWO_64 - 1n;
  return [Number(v % TWO_32), Number(v / TWO_32)];
}

/** A 32-bit counter field: clamped into 0..2^32-1 (RADIUS integers are unsigned 32-bit). */
function u32(n: number): number {
  if (!Number.isFinite(n) || n < 0) return 0;
  return Math.min(Math.floor(n), 0xffffffff);
}

/** The attributes of one accounting record (pure; exported for tests). */
export function accountingAttributes(
  status: number,
  s: AccountingSession,
  opts: { nasIdentifier?: string; nasIpAddress?: string; cause?: TerminateCause; withCounters: boolean },
): Attribute[] {
  const attrs: Attribute[] = [
    intAttr(Attr.AcctStatusType, status),
    textAttr(Attr.AcctSessionId, s.sessionId),
    textAttr(Attr.UserName, s.user),
  ];
  if (opts.nasIpAddress !== undefined) attrs.push(ipv4Attr(Attr.NasIpAddress, opts.nasIpAddress));
  attrs.push(textAttr(Attr.NasIdentifier, opts.nasIdentifier ?? 'sslgate'));
  attrs.push(textAttr(Attr.CallingStationId, s.remote));
  attrs.push(intAttr(Attr.NasPortType, NAS_PORT_TYPE_VIRTUAL));
  attrs.push(intAttr(Attr.ServiceType, SERVICE_TYPE_FRAMED));
  attrs.push(intAttr(Attr.AcctAuthentic, ACCT_AUTHENTIC_RADIUS));
  if (s.framedIp !== undefined) attrs.push(ipv4Attr(Attr.FramedIpAddress, s.framedIp));
  for (const c of s.radiusClass ?? []) attrs.push(bytesAttr(Attr.Class, Buffer.from(c, 'base64')));
  if (opts.withCounters) {
    const [inLow, inHigh] = splitOctets(s.inOctets);
    const [outLow, outHigh] = splitOctets(s.outOctets);
    attrs.push(
      intAttr(Attr.AcctSessionTime, u32(s.sessionTime)),
      intAttr(Attr.AcctInputOctets, inLow),
      intAttr(Attr.AcctOutputOctets, outLow),
      intAttr(Attr.AcctInputGigawords, inHigh),
      intAttr(Attr.AcctOutputGigawords, outHigh),
      intAttr(Attr.AcctInputPackets, u32(s.inPackets)),
      intAttr(Attr.AcctOutputPackets, u32(s.outPackets)),
    );
  }
  if (opts.cause !== undefined) attrs.push(intAttr(Attr.AcctTerminateCause, TERMINATE_CAUSES[opts.cause]));
  return attrs;
}

export class RadiusAccounting {
  private readonly client: RadiusClient;
  private readonly log: RadiusLog;

  constructor(private readonly opts: RadiusAccountingOptions) {
    this.log = opts.log ?? silentLog;
    this.client = new RadiusClient({
      servers: opts.servers,
      secret: opts.secret,
      log: this.log,
      ...(opts.timeout !== undefined ? { timeout: opts.timeout } : {}),
      ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
    });
  }

  /** true when a server acknowledged the record */
  start(s: AccountingSession): Promise<boolean> {
    return this.record(AcctStatus.Start, 'Start', s, undefined);
  }

  interim(s: AccountingSession): Promise<boolean> {
    return this.record(AcctStatus.InterimUpdate, 'Interim-Update', s, undefined);
  }

  stop(s: AccountingSession, cause: TerminateCause): Promise<boolean> {
    return this.record(AcctStatus.Stop, 'Stop', s, cause);
  }

  private async record(status: number, what: string, s: AccountingSession, cause: TerminateCause | undefined): Promise<boolean> {
    try {
      const attrs = accountingAttributes(status, s, {
        ...(this.opts.nasIdentifier !== undefined ? { nasIdentifier: this.opts.nasIdentifier } : {}),
        ...(this.opts.nasIpAddress !== undefined ? { nasIpAddress: this.opts.nasIpAddress } : {}),
        ...(cause !== undefined ? { cause } : {}),
        withCounters: status !== AcctStatus.Start,
      });
      const r = await this.client.send((id) => buildAccountingRequest({ id, secret: this.opts.secret, attributes: attrs }), `Accounting ${what} for ${s.user}`);
      if (!r.ok) {
        this.log.warn({ sessionId: s.sessionId, user: s.user }, `RADIUS accounting ${what} lost: ${r.message}`);
        return false;
      }
      return true;
    } catch (err) {
      this.log.warn({ sessionId: s.sessionId, user: s.user, err: (err as Error).message }, `RADIUS accounting ${what} not sent: ${(err as Error).message}`);
      return false;
    }
  }
}

/** The accounting client of a RADIUS auth server's options (its `accounting` addresses), or undefined when it has none. */
export function accountingFor(opts: {
  accounting?: RadiusServer[];
  secret: string;
  nasIdentifier?: string;
  nasIpAddress?: string;
  timeout?: number;
  retries?: number;
  log?: RadiusLog;
}): RadiusAccounting | undefined {
  if (opts.accounting === undefined || opts.accounting.length === 0) return undefined;
  return new RadiusAccounting({
    servers: opts.accounting,
    secret: opts.secret,
    ...(opts.nasIdentifier !== undefined ? { nasIdentifier: opts.nasIdentifier } : {}),
    ...(opts.nasIpAddress !== undefined ? { nasIpAddress: opts.nasIpAddress } : {}),
    ...(opts.timeout !== undefined ? { timeout: opts.timeout } : {}),
    ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
    ...(opts.log !== undefined ? { log: opts.log } : {}),
  });
}
