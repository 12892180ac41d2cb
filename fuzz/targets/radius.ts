/**
 * RADIUS replies (src/gateway/auth/radius/): what comes back on the UDP socket may be from
 * anyone who can reach it. Any datagram either verifies against the request (authenticator,
 * Message-Authenticator) and reads into the attributes the gateway uses, or is refused with
 * RadiusError, never another exception; what reads has its values within their bounds.
 */
import { buildAccessRequest, decodePacket, RadiusError, signReply, Code, Attr, MAX_PACKET } from '../../src/gateway/auth/radius/packet.js';
import { readReply } from '../../src/gateway/auth/radius/reply.js';
import { parseIpv4Cidr } from '../../src/protocol/ipv4.js';
import { allowing, check, type FuzzTarget } from './target.js';
import { verifyReply } from '../../src/gateway/auth/radius/packet.js';

const SECRET = 'testing123';
const REQUEST = buildAccessRequest({ id: 7, authenticator: Buffer.alloc(16, 0x42), secret: SECRET, attributes: [{ type: Attr.UserName, value: Buffer.from('alice') }] });

function reply(code: number, attributes: Array<{ type: number; value: Buffer }>): Buffer {
  return signReply({ code, id: 7, authenticator: Buffer.alloc(16), attributes }, REQUEST.authenticator, SECRET);
}

export const radius: FuzzTarget = {
  name: 'radius',
  description: 'RADIUS replies: decode, verify against the request, read the attributes',
  maxLen: MAX_PACKET + 64,
  covers: ['/dist/src/gateway/auth/radius/packet', '/dist/src/gateway/auth/radius/reply'],
  dictionary: ['\x02\x07', '\x0b\x07', '\x03\x07', '\x12', '\x18', '\x19', '\x08\x06', '\x16', '\x1a', '\x00\x00\x01\x37', 'OU=', ';', '10.0.0.0/8 0.0.0.0 1', '\x50\x12'],
  seeds: () => [
    reply(Code.AccessAccept, [
      { type: Attr.ReplyMessage, value: Buffer.from('Welcome') },
      { type: Attr.Class, value: Buffer.from('OU=Employees;Admins') },
      { type: Attr.FramedIpAddress, value: Buffer.from([10, 1, 0, 9]) },
      { type: Attr.FramedRoute, value: Buffer.from('10.9.0.0/16 0.0.0.0 1') },
      { type: Attr.SessionTimeout, value: Buffer.from([0, 0, 14, 16]) },
    ]),
    reply(Code.AccessChallenge, [{ type: Attr.State, value: Buffer.from('abc') }, { type: Attr.ReplyMessage, value: Buffer.from('PIN?') }]),
    reply(Code.AccessReject, []),
  ],
  run(data) {
    const decoded = allowing([RadiusError], () => decodePacket(data));
    // Random bytes rarely carry a right authenticator: re-sign what decodes, so the attribute
    // readers see everything a server holding the secret could send.
    const bytes = decoded ? allowing([RadiusError], () => signReply({ ...decoded, id: 7 }, REQUEST.authenticator, SECRET)) ?? data : data;
    const p = allowing([RadiusError], () => verifyReply(bytes, REQUEST, SECRET));
    if (!p) return;
    check(p.id === 7, 'a reply with another id verified');
    const info = allowing([RadiusError], () => readReply(p));
    if (!info) return;
    for (const r of info.attrs.routes ?? []) check(parseIpv4Cidr(r) !== null, `route ${r} is not a CIDR`);
    check((info.message ?? '').length <= MAX_PACKET, 'message longer than the packet');
    for (const g of info.groups ?? []) check(g.length > 0 && g.length <= 253, `group ${JSON.stringify(g)}`);
  },
};
