/**
 * Typed RADIUS attribute values (RFC 2865 §5: text, string, address, integer) and
 * Vendor-Specific sub-attributes (§5.26). Reading checks the length each type must have.
 */
import { formatIpv4, parseIpv4 } from '../../../protocol/ipv4.js';
import { Attr, RadiusError, type Attribute } from './packet.js';

export const VENDOR_MICROSOFT = 311;
/** RFC 2548 §2.2.1 (numbers as in freeradius's dictionary.microsoft and ocserv's radius.c) */
export const MS_PRIMARY_DNS_SERVER = 28;
export const MS_SECONDARY_DNS_SERVER = 29;

export function textAttr(type: number, value: string): Attribute {
  return { type, value: Buffer.from(value, 'utf8') };
}

export function bytesAttr(type: number, value: Buffer): Attribute {
  return { type, value };
}

export function intAttr(type: number, value: number): Attribute {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RadiusError(`attribute ${type}: ${value} is not a 32-bit unsigned integer`);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return { type, value: b };
}

export function ipv4Attr(type: number, address: string): Attribute {
  const n = parseIpv4(address);
  if (n === null) throw new RadiusError(`attribute ${type}: ${JSON.stringify(address)} is not a dotted IPv4 address`);
  return intAttr(type, n);
}

export function readInt(a: Attribute, name: string): number {
  if (a.value.length !== 4) throw new RadiusError(`${name} has ${a.value.length} bytes, must be 4`);
  return a.value.readUInt32BE(0);
}

export function readIpv4(a: Attribute, name: string): string {
  if (a.value.length !== 4) throw new RadiusError(`${name} has ${a.value.length} bytes, must be 4`);
  return formatIpv4(a.value.readUInt32BE(0));
}

/** text (RFC 2865 §5: UTF-8); invalid sequences become U+FFFD rather than failing the login */
export function readText(a: Attribute): string {
  return a.value.toString('utf8');
}

export interface VendorAttribute {
  vendor: number;
  type: number;
  value: Buffer;
}

/**
 * The sub-attributes of one Vendor-Specific attribute in the RFC 2865 §5.26 layout (vendor id,
 * then vendor-type / vendor-length / value, which Microsoft uses, RFC 2548). Throws on a
 * sub-attribute that does not fit.
 */
export function readVendorSpecific(a: Attribute): VendorAttribute[] {
  if (a.type !== Attr.VendorSpecific) throw new RadiusError(`attribute ${a.type} is not Vendor-Specific`);
  if (a.value.length < 4) throw new RadiusError(`Vendor-Specific of ${a.value.length} bytes has no vendor id`);
  const vendor = a.value.readUInt32BE(0);
  const out: VendorAttribute[] = [];
  let off = 4;
  while (off < a.value.length) {
    if (off + 2 > a.value.length) throw new RadiusError(`Vendor-Specific (vendor ${vendor}): sub-attribute at ${off} is truncated`);
    const type = a.value[off] as number;
    const len = a.value[off + 1] as number;
    if (len < 2 || off + len > a.value.length) {
      throw new RadiusError(`Vendor-Specific (vendor ${vendor}): sub-attribute ${type} has length ${len}, outside the ${a.value.length}-byte attribute`);
    }
    out.push({ vendor, type, value: Buffer.from(a.value.subarray(off + 2, off + len)) });
    off += len;
  }
  return out;
}

/** One sub-attribute wrapped in a Vendor-Specific attribute. */
export function vendorAttr(vendor: number, type: number, value: Buffer): Attribute {
  if (value.length > 247) throw new RadiusError(`vendor ${vendor} attribute ${type}: value of ${value.length} bytes exceeds 247`);
  const v = Buffer.alloc(6 + value.length);
  v.writeUInt32BE(vendor, 0);
  v[4] = type;
  v[5] = value.length + 2;
  value.copy(v, 6);
  return { type: Attr.VendorSpecific, value: v };
}
