/**
 * What an Access-Accept / Reject / Challenge says, in the gateway's terms: groups (Class),
 * SessionAttributes (Framed-IP-Address, Framed-Route, MS DNS, timeouts, interim interval) and
 * the Reply-Message text. Pure.
 */
import { formatIpv4, maskToPrefix, networkOf, parseIpv4 } from '../../../protocol/ipv4.js';
import type { SessionAttributes } from '../types.js';
import { MS_PRIMARY_DNS_SERVER, MS_SECONDARY_DNS_SERVER, VENDOR_MICROSOFT, readInt, readIpv4, readText, readVendorSpecific } from './attributes.js';
import { Attr, type Packet } from './packet.js';

/**
 * Groups from Class values the way ocserv reads them: a Class whose text starts with "OU=" holds
 * the groups separated by ';' ("OU=g1;g2" — ocserv doc/README-radius.md, "Sets group name using
 * format OU=group1;group2"), and only the first such Class counts (ocserv commit 6be284dd
 * "radius: ignore redundant group class", in Debian's ocserv changelog). Other Class values are
 * opaque (they are still echoed in accounting). undefined: no group Class.
 */
export function groupsFromClass(classes: Buffer[]): string[] | undefined {
  for (const c of classes) {
    const text = c.toString('utf8');
    if (!text.startsWith('OU=')) continue;
    const groups = text
      .slice(3)
      .split(';')
      .map((g) => g.trim())
      .filter((g) => g !== '');
    return [...new Set(groups)];
  }
  return undefined;
}

/**
 * A Framed-Route (RFC 2865 §5.22: "destination prefix in dotted quad form optionally followed by
 * a slash and a decimal length specifier ... a space, a gateway address ..., a space, and one or
 * more metrics"; also the older "10.1.0.0 255.255.0.0" destination-and-netmask form) as
 * canonical CIDR "10.1.0.0/16". Host bits in the destination are an error (a typo the admin must
 * see, not a route silently widened). Returns an error text instead of throwing.
 */
export function parseFramedRoute(text: string): { cidr: string } | { error: string } {
  const tokens = text.trim().split(/\s+/);
  const dest = tokens[0] ?? '';
  if (dest === '') return { error: 'empty Framed-Route' };
  let address: number | null;
  let prefix: number;
  const slash = dest.indexOf('/');
  if (slash !== -1) {
    address = parseIpv4(dest.slice(0, slash));
    const len = dest.slice(slash + 1);
    if (!/^\d{1,2}$/.test(len) || Number(len) > 32) return { error: `Framed-Route ${JSON.stringify(text)}: bad prefix length ${JSON.stringify(len)}` };
    prefix = Number(len);
  } else {
    address = parseIpv4(dest);
    const mask = tokens[1] !== undefined ? parseIpv4(tokens[1]) : null;
    // "dest mask": the second word is a netmask (not 0.0.0.0, which is the "no gateway" of the
    // RFC form); otherwise a bare destination is a host route.
    const maskPrefix = mask !== null && mask !== 0 ? maskToPrefix(mask) : null;
    prefix = maskPrefix ?? 32;
  }
  if (address === null) return { error: `Framed-Route ${JSON.stringify(text)}: ${JSON.stringify(dest)} is not an IPv4 destination` };
  if (networkOf({ address, prefix }) !== address) {
    return { error: `Framed-Route ${JSON.stringify(text)}: ${formatIpv4(address)} has host bits set for /${prefix}` };
  }
  return { cidr: `${formatIpv4(address)}/${prefix}` };
}

export interface ReplyInfo {
  /** Reply-Message values joined by newlines (RFC 2865 §5.18: displayed in order) */
  message?: string;
  /** State (RFC 2865 §5.24), to echo in the next Access-Request */
  state?: Buffer;
  groups?: string[];
  attrs: SessionAttributes;
  /** values that were ignored, for the log (a bad Framed-Route, a special Framed-IP-Address) */
  warnings: string[];
}

/**
 * Reads the attributes the gateway uses. Wrong-sized integers and addresses throw RadiusError
 * (the reply is malformed); text values that do not parse become warnings.
 */
export function readReply(p: Packet): ReplyInfo {
  const messages: string[] = [];
  const classes: Buffer[] = [];
  const routes: string[] = [];
  const warnings: string[] = [];
  const attrs: SessionAttributes = {};
  let state: Buffer | undefined;
  let primaryDns: string | undefined;
  let secondaryDns: string | undefined;
  for (const a of p.attributes) {
    switch (a.type) {
      case Attr.ReplyMessage:
        messages.push(readText(a));
        break;
      case Attr.State:
        state = a.value;
        break;
      case Attr.Class:
        classes.push(a.value);
        break;
      case Attr.FramedIpAddress: {
        const ip = readIpv4(a, 'Framed-IP-Address');
        // RFC 2865 §5.8: 255.255.255.255 "let the user select", 255.255.255.254 "the NAS should
        // select": both mean the gateway's pool.
        if (ip === '255.255.255.255' || ip === '255.255.255.254') warnings.push(`Framed-IP-Address ${ip}: the pool assigns the address`);
        else attrs.framedIp = ip;
        break;
      }
      case Attr.FramedRoute: {
        const r = parseFramedRoute(readText(a));
        if ('cidr' in r) {
          if (!routes.includes(r.cidr)) routes.push(r.cidr);
        } else warnings.push(r.error);
        break;
      }
      case Attr.SessionTimeout:
        attrs.sessionTimeout = readInt(a, 'Session-Timeout');
        break;
      case Attr.IdleTimeout:
        attrs.idleTimeout = readInt(a, 'Idle-Timeout');
        break;
      case Attr.AcctInterimInterval:
        attrs.acctInterim = readInt(a, 'Acct-Interim-Interval');
        break;
      case Attr.VendorSpecific: {
        if (a.value.length >= 4 && a.value.readUInt32BE(0) !== VENDOR_MICROSOFT) break;
        for (const v of readVendorSpecific(a)) {
          if (v.type === MS_PRIMARY_DNS_SERVER) primaryDns = readIpv4({ type: v.type, value: v.value }, 'MS-Primary-DNS-Server');
          else if (v.type === MS_SECONDARY_DNS_SERVER) secondaryDns = readIpv4({ type: v.type, value: v.value }, 'MS-Secondary-DNS-Server');
        }
        break;
      }
      default:
        break;
    }
  }
  if (routes.length > 0) attrs.routes = routes;
  const dns = [primaryDns, secondaryDns].filter((d): d is string => d !== undefined);
  if (dns.length > 0) attrs.dns = dns;
  if (classes.length > 0) attrs.radiusClass = classes.map((c) => c.toString('base64'));
  const info: ReplyInfo = { attrs, warnings };
  if (messages.length > 0) info.message = messages.join('\n');
  if (state !== undefined) info.state = state;
  const groups = groupsFromClass(classes);
  if (groups !== undefined) info.groups = groups;
  return info;
}

/**
 * Whether a reject says the password expired. RADIUS has no standard code for it (MS-CHAP has
 * E=648, not used with PAP); freeradius in front of a directory answers with a Reply-Message
 * such as "Password has expired" / "Your password has expired".
 */
export function saysPasswordExpired(message: string | undefined): boolean {
  return message !== undefined && /password\b.*\bexpired|\bexpired\b.*\bpassword/i.test(message);
}
