/**
 * The RADIUS codec: RFC 2865 §7.1's example exchange byte for byte, our own requests checked the
 * way a server checks them, and hostile replies (wrong authenticator, wrong Message-Authenticator,
 * oversized or truncated attributes, length mismatch, random bytes) refused with a clear error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHash, createHmac } from 'node:crypto';
import { seeded } from '../helpers/seed.js';
import {
  Attr,
  buildAccessRequest,
  buildAccountingRequest,
  Code,
  decodePacket,
  encodePacket,
  hidePassword,
  RadiusError,
  signReply,
  unhidePassword,
  verifyAccountingRequest,
  verifyReply,
  type BuiltRequest,
} from '../../src/gateway/auth/radius/packet.js';
import { intAttr, readVendorSpecific, textAttr, vendorAttr } from '../../src/gateway/auth/radius/attributes.js';
import { groupsFromClass, parseFramedRoute, readReply, saysPasswordExpired } from '../../src/gateway/auth/radius/reply.js';
import { accountingAttributes, splitOctets, TERMINATE_CAUSES } from '../../src/gateway/auth/radius/accounting.js';

const rng = seeded('radius-codec');

// RFC 2865 §7.1: "nemo" logs in with "arctangent", secret "xyzzy5461".
const RFC_SECRET = 'xyzzy5461';
const RFC_REQUEST = Buffer.from(
  '010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a80110050600000003',
  'hex',
);
const RFC_ACCEPT = Buffer.from('0200002686fe220e7624ba2a1005f6bf9b55e0b20606000000010f06000000000e06c0a80103', 'hex');
const RFC_AUTH = RFC_REQUEST.subarray(4, 20);
const rfcRequest: BuiltRequest = { bytes: RFC_REQUEST, id: 0, authenticator: Buffer.from(RFC_AUTH), code: Code.AccessRequest };

test('RFC 2865 §7.1: User-Password hiding and the Access-Request bytes', () => {
  const hidden = hidePassword('arctangent', RFC_SECRET, RFC_AUTH);
  assert.equal(hidden.toString('hex'), '0dbe708d93d413ce3196e43f782a0aee');
  assert.equal(unhidePassword(hidden, RFC_SECRET, RFC_AUTH).toString(), 'arctangent');
  const encoded = encodePacket({
    code: Code.AccessRequest,
    id: 0,
    authenticator: Buffer.from(RFC_AUTH),
    attributes: [textAttr(Attr.UserName, 'nemo'), { type: Attr.UserPassword, value: hidden }, { type: 4, value: Buffer.from([192, 168, 1, 16]) }, intAttr(5, 3)],
  });
  assert.deepEqual(encoded, RFC_REQUEST);
  assert.deepEqual(encodePacket(decodePacket(RFC_REQUEST)), RFC_REQUEST);
});

test('RFC 2865 §7.1: the Access-Accept verifies, and a changed byte or secret does not', () => {
  const p = verifyReply(RFC_ACCEPT, rfcRequest, RFC_SECRET);
  assert.equal(p.code, Code.AccessAccept);
  assert.equal(p.attributes.length, 3);
  assert.throws(() => verifyReply(RFC_ACCEPT, rfcRequest, 'wrong'), /wrong Response Authenticator/);
  const tampered = Buffer.from(RFC_ACCEPT);
  tampered[tampered.length - 1] ^= 1; // Login-IP-Host 192.168.1.3 -> .2
  assert.throws(() => verifyReply(tampered, rfcRequest, RFC_SECRET), /wrong Response Authenticator/);
  assert.throws(() => verifyReply(RFC_ACCEPT, { ...rfcRequest, id: 1 }, RFC_SECRET), /identifier 0 does not match the request's 1/);
  assert.throws(() => verifyReply(RFC_ACCEPT, rfcRequest, RFC_SECRET, { requireMessageAuthenticator: true }), /no Message-Authenticator/);
});

test('passwords: 0..128 bytes round-trip, padded to 16, longer refused', () => {
  for (const len of [0, 1, 15, 16, 17, 100, 127, 128]) {
    const pw = Buffer.from(rng.bytes(len).map((b) => (b % 255) + 1)); // no NUL: trailing NULs are padding
    const ra = rng.bytes(16);
    const hidden = hidePassword(pw, 'secret', ra);
    assert.equal(hidden.length, Math.max(16, Math.ceil(len / 16) * 16), `length ${len}`);
    assert.deepEqual(unhidePassword(hidden, 'secret', ra), pw);
  }
  assert.throws(() => hidePassword(Buffer.alloc(129, 0x41), 'secret', rng.bytes(16)), /exceeds RADIUS's 128/);
});

test('Access-Request: Message-Authenticator first and valid (RFC 3579 §3.2)', () => {
  const auth = rng.bytes(16);
  const req = buildAccessRequest({ id: 7, authenticator: auth, secret: 's3cret', attributes: [textAttr(Attr.UserName, 'alice')] });
  const p = decodePacket(req.bytes);
  assert.equal(p.attributes[0]?.type, Attr.MessageAuthenticator);
  const zeroed = Buffer.from(req.bytes);
  zeroed.fill(0, 22, 38);
  assert.deepEqual(p.attributes[0]?.value, createHmac('md5', 's3cret').update(zeroed).digest());
});

test('replies with a Message-Authenticator: verified; a wrong one refused', () => {
  const req = buildAccessRequest({ id: 9, authenticator: rng.bytes(16), secret: 'k', attributes: [textAttr(Attr.UserName, 'a')] });
  const reply = signReply(
    { code: Code.AccessAccept, id: 9, authenticator: Buffer.alloc(16), attributes: [{ type: Attr.MessageAuthenticator, value: Buffer.alloc(16) }, textAttr(Attr.ReplyMessage, 'hi')] },
    req.authenticator,
    'k',
  );
  assert.equal(verifyReply(reply, req, 'k', { requireMessageAuthenticator: true }).code, Code.AccessAccept);
  // Forge: a valid Response Authenticator over a wrong Message-Authenticator (what an attacker
  // with an MD5 collision prefix gets, BlastRADIUS): refused for the Message-Authenticator.
  const forged = Buffer.from(reply);
  forged[22] ^= 0xff;
  req.authenticator.copy(forged, 4);
  createHash('md5').update(forged).update('k').digest().copy(forged, 4);
  assert.throws(() => verifyReply(forged, req, 'k'), /wrong Message-Authenticator/);
  const twoMa = rawReply(
    { code: Code.AccessAccept, id: 9, authenticator: Buffer.alloc(16), attributes: [{ type: Attr.MessageAuthenticator, value: Buffer.alloc(16) }, { type: Attr.MessageAuthenticator, value: Buffer.alloc(16) }] },
    req.authenticator,
    'k',
  );
  assert.throws(() => verifyReply(twoMa, req, 'k'), /more than one Message-Authenticator/);
  const shortMa = rawReply({ code: Code.AccessAccept, id: 9, authenticator: Buffer.alloc(16), attributes: [{ type: Attr.MessageAuthenticator, value: Buffer.alloc(4) }] }, req.authenticator, 'k');
  assert.throws(() => verifyReply(shortMa, req, 'k'), /Message-Authenticator has length 6, must be 18/);
});

/** A reply with a correct Response Authenticator and its Message-Authenticators left as given. */
function rawReply(p: Parameters<typeof encodePacket>[0], requestAuth: Buffer, secret: string): Buffer {
  const bytes = encodePacket({ ...p, authenticator: requestAuth });
  createHash('md5').update(bytes).update(secret).digest().copy(bytes, 4);
  return bytes;
}

test('reply codes must answer the request: an Accounting-Response to an Access-Request is refused', () => {
  const req = buildAccessRequest({ id: 1, authenticator: rng.bytes(16), secret: 'k', attributes: [] });
  const reply = signReply({ code: Code.AccountingResponse, id: 1, authenticator: Buffer.alloc(16), attributes: [] }, req.authenticator, 'k');
  assert.throws(() => verifyReply(reply, req, 'k'), /Accounting-Response is not an answer to Access-Request/);
});

test('Accounting-Request authenticator (RFC 2866 §3) and its response', () => {
  const req = buildAccountingRequest({ id: 3, secret: 'acct', attributes: [intAttr(Attr.AcctStatusType, 1), textAttr(Attr.AcctSessionId, 'x')] });
  assert.ok(verifyAccountingRequest(req.bytes, 'acct'));
  assert.ok(!verifyAccountingRequest(req.bytes, 'other'));
  const resp = signReply({ code: Code.AccountingResponse, id: 3, authenticator: Buffer.alloc(16), attributes: [] }, req.authenticator, 'acct');
  assert.equal(verifyReply(resp, req, 'acct').code, Code.AccountingResponse);
});

test('garbage: short, long, length mismatch, truncated and oversized attributes', () => {
  const ok = signReply({ code: Code.AccessAccept, id: 0, authenticator: Buffer.alloc(16), attributes: [textAttr(Attr.ReplyMessage, 'hello')] }, Buffer.alloc(16), 'k');
  assert.throws(() => decodePacket(ok.subarray(0, 19)), /shorter than the RADIUS header/);
  assert.throws(() => decodePacket(Buffer.alloc(4097)), /longer than RADIUS allows/);
  assert.throws(() => decodePacket(Buffer.concat([ok, Buffer.alloc(1)])), /length field says 27 bytes but the datagram has 28/);
  assert.throws(() => decodePacket(ok.subarray(0, ok.length - 1)), /length field says 27 bytes but the datagram has 26/);
  const oversized = Buffer.from(ok);
  oversized[21] = 40; // Reply-Message claims 40 bytes in a 27-byte packet
  assert.throws(() => decodePacket(oversized), /attribute 18 at offset 20 has length 40, past the end of the 27-byte packet/);
  const zeroLen = Buffer.from(ok);
  zeroLen[21] = 1;
  assert.throws(() => decodePacket(zeroLen), /has length 1 \(minimum 2\)/);
  const dangling = Buffer.concat([ok, Buffer.from([18])]);
  dangling.writeUInt16BE(dangling.length, 2);
  assert.throws(() => decodePacket(dangling), /truncated/);
  assert.throws(() => encodePacket({ code: 2, id: 0, authenticator: Buffer.alloc(16), attributes: [{ type: 18, value: Buffer.alloc(254) }] }), /exceeds 253/);
  assert.throws(
    () => encodePacket({ code: 2, id: 0, authenticator: Buffer.alloc(16), attributes: Array.from({ length: 17 }, () => ({ type: 18, value: Buffer.alloc(253) })) }),
    /exceeds 4096/,
  );
});

test('random datagrams: decodePacket and verifyReply throw RadiusError or succeed, nothing else', () => {
  const req = buildAccessRequest({ id: 5, authenticator: rng.bytes(16), secret: 'k', attributes: [] });
  for (let i = 0; i < 2000; i++) {
    const len = rng.int(120);
    const buf = rng.bytes(len);
    if (len >= 4 && rng.int(2) === 0) buf.writeUInt16BE(len, 2); // often a consistent length field
    if (len >= 2 && rng.int(2) === 0) buf[1] = 5;
    for (const f of [() => decodePacket(buf), () => verifyReply(buf, req, 'k'), () => readReply(decodePacket(buf))]) {
      try {
        f();
      } catch (err) {
        assert.ok(err instanceof RadiusError, `non-RadiusError on ${buf.toString('hex')}: ${String(err)}`);
      }
    }
  }
});

test('Class groups as ocserv reads them: "OU=g1;g2", the first OU= Class only', () => {
  assert.deepEqual(groupsFromClass([Buffer.from('OU=Employees;Admins')]), ['Employees', 'Admins']);
  assert.deepEqual(groupsFromClass([Buffer.from('opaque-cookie'), Buffer.from('OU=A;;B;'), Buffer.from('OU=C')]), ['A', 'B']);
  assert.equal(groupsFromClass([Buffer.from('ou=lower')]), undefined);
  assert.equal(groupsFromClass([]), undefined);
});

test('Framed-Route: both RFC 2865 §5.22 text forms, and refusals', () => {
  assert.deepEqual(parseFramedRoute('10.1.0.0/16 0.0.0.0 1'), { cidr: '10.1.0.0/16' });
  assert.deepEqual(parseFramedRoute('10.2.0.0 255.255.0.0'), { cidr: '10.2.0.0/16' });
  assert.deepEqual(parseFramedRoute('192.168.5.7 0.0.0.0 1'), { cidr: '192.168.5.7/32' });
  assert.deepEqual(parseFramedRoute('192.168.5.7'), { cidr: '192.168.5.7/32' });
  assert.match((parseFramedRoute('10.1.0.1/16 0.0.0.0 1') as { error: string }).error, /host bits set/);
  assert.match((parseFramedRoute('10.1.0.0/33') as { error: string }).error, /bad prefix length/);
  assert.match((parseFramedRoute('example.org/8') as { error: string }).error, /not an IPv4 destination/);
  assert.match((parseFramedRoute('   ') as { error: string }).error, /empty/);
});

test('readReply: the attributes of an Access-Accept', () => {
  const classText = 'OU=Employees;Admins';
  const p = decodePacket(
    signReply(
      {
        code: Code.AccessAccept,
        id: 0,
        authenticator: Buffer.alloc(16),
        attributes: [
          textAttr(Attr.Class, classText),
          intAttr(Attr.FramedIpAddress, 0xc0a84d0a),
          textAttr(Attr.FramedRoute, '10.1.0.0/16 0.0.0.0 1'),
          textAttr(Attr.FramedRoute, '10.2.0.0 255.255.0.0'),
          textAttr(Attr.FramedRoute, 'garbage'),
          vendorAttr(311, 28, Buffer.from([10, 0, 0, 53])),
          vendorAttr(311, 29, Buffer.from([10, 0, 0, 54])),
          vendorAttr(9, 1, Buffer.from('cisco-avpair')),
          textAttr(Attr.ReplyMessage, 'Welcome'),
          textAttr(Attr.ReplyMessage, 'alice'),
          intAttr(Attr.SessionTimeout, 3600),
          intAttr(Attr.IdleTimeout, 600),
          intAttr(Attr.AcctInterimInterval, 60),
        ],
      },
      Buffer.alloc(16),
      'k',
    ),
  );
  const r = readReply(p);
  assert.deepEqual(r.groups, ['Employees', 'Admins']);
  assert.equal(r.message, 'Welcome\nalice');
  assert.deepEqual(r.attrs, {
    framedIp: '192.168.77.10',
    routes: ['10.1.0.0/16', '10.2.0.0/16'],
    dns: ['10.0.0.53', '10.0.0.54'],
    sessionTimeout: 3600,
    idleTimeout: 600,
    acctInterim: 60,
    radiusClass: [Buffer.from(classText).toString('base64')],
  });
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0] ?? '', /garbage/);
});

test('readReply: wrong-sized integers and addresses, and a broken Microsoft VSA, are errors', () => {
  const mk = (a: { type: number; value: Buffer }) => ({ code: 2, id: 0, authenticator: Buffer.alloc(16), attributes: [a] });
  assert.throws(() => readReply(mk({ type: Attr.SessionTimeout, value: Buffer.alloc(3) })), /Session-Timeout has 3 bytes, must be 4/);
  assert.throws(() => readReply(mk({ type: Attr.FramedIpAddress, value: Buffer.alloc(5) })), /Framed-IP-Address has 5 bytes/);
  const vsa = vendorAttr(311, 28, Buffer.from([10, 0, 0, 53]));
  vsa.value[5] = 30; // sub-attribute longer than the attribute
  assert.throws(() => readReply(mk(vsa)), /sub-attribute 28 has length 30/);
  assert.throws(() => readVendorSpecific({ type: 26, value: Buffer.alloc(3) }), /no vendor id/);
  assert.throws(() => readReply(mk(vendorAttr(311, 28, Buffer.alloc(6)))), /MS-Primary-DNS-Server has 6 bytes/);
  // 255.255.255.254: "the NAS selects" -> the pool, with a warning
  const r = readReply(mk(intAttr(Attr.FramedIpAddress, 0xfffffffe)));
  assert.equal(r.attrs.framedIp, undefined);
  assert.equal(r.warnings.length, 1);
});

test('password expired: recognised from the Reply-Message', () => {
  assert.ok(saysPasswordExpired('Your password has expired'));
  assert.ok(saysPasswordExpired('Password expired'));
  assert.ok(saysPasswordExpired('Expired password, change it'));
  assert.ok(!saysPasswordExpired('Access denied'));
  assert.ok(!saysPasswordExpired(undefined));
});

test('accounting: octets beyond 2^32 go to Gigawords; causes map to RFC 2866 values', () => {
  assert.deepEqual(splitOctets(5), [5, 0]);
  assert.deepEqual(splitOctets((3n << 32n) + 7n), [7, 3]);
  assert.deepEqual(splitOctets(2 ** 33 + 1), [1, 2]);
  assert.deepEqual(splitOctets(-4), [0, 0]);
  assert.deepEqual(splitOctets(1n << 70n), [0xffffffff, 0xffffffff]);
  assert.deepEqual(TERMINATE_CAUSES, { 'user-request': 1, 'lost-carrier': 2, 'idle-timeout': 4, 'session-timeout': 5, 'admin-reset': 6, 'port-error': 8, 'nas-reboot': 7, 'nas-request': 10 });
  const attrs = accountingAttributes(2, { sessionId: 's1', user: 'u', remote: '192.0.2.1', framedIp: '10.0.0.2', radiusClass: [Buffer.from('OU=A').toString('base64')], sessionTime: 61, inOctets: (1n << 32n) + 10n, outOctets: 20, inPackets: 3, outPackets: 4 }, { cause: 'idle-timeout', withCounters: true });
  const get = (t: number) => attrs.filter((a) => a.type === t).map((a) => (a.value.length === 4 && t !== Attr.Class ? a.value.readUInt32BE(0) : a.value.toString()));
  assert.deepEqual(get(Attr.AcctInputOctets), [10]);
  assert.deepEqual(get(Attr.AcctInputGigawords), [1]);
  assert.deepEqual(get(Attr.AcctOutputOctets), [20]);
  assert.deepEqual(get(Attr.AcctOutputGigawords), [0]);
  assert.deepEqual(get(Attr.AcctTerminateCause), [4]);
  assert.deepEqual(get(Attr.AcctSessionTime), [61]);
  assert.deepEqual(get(Attr.Class), ['OU=A']);
});
