/**
 * RadiusClient / RadiusMethod against a scripted UDP peer on 127.0.0.1 (a mock: the proof
 * against a real server is test/interop/radius-freeradius.test.ts). Hostile replies — from another
 * port, with a wrong authenticator, a wrong identifier, malformed — are dropped and logged and the
 * client keeps waiting for the real answer; a reply whose attributes are malformed fails the login
 * cleanly ('error').
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { test } from 'node:test';
import { seeded } from '../helpers/seed.js';
import { Attr, Code, decodePacket, signReply, unhidePassword, type Packet } from '../../src/gateway/auth/radius/packet.js';
import { intAttr, textAttr } from '../../src/gateway/auth/radius/attributes.js';
import { RadiusMethod } from '../../src/gateway/auth/radius/method.js';
import { parseServerList, type RadiusLog } from '../../src/gateway/auth/radius/client.js';

const rng = seeded('radius-client');
const SECRET = 'unit-secret';

class LogLines implements RadiusLog {
  readonly lines: string[] = [];
  info(_o: object, msg: string): void {
    this.lines.push(msg);
  }
  warn(_o: object, msg: string): void {
    this.lines.push(msg);
  }
  debug(): void {
    // not needed
  }
}

type Handler = (req: Packet, raw: Buffer, reply: (bytes: Buffer) => void, other: (bytes: Buffer) => void) => void;

/** A scripted server socket, plus a second socket to send "from the wrong port". */
async function peer(t: { after(fn: () => void): void }, handler: Handler): Promise<{ port: number; requests: Packet[] }> {
  const s = dgram.createSocket('udp4');
  const other = dgram.createSocket('udp4');
  const requests: Packet[] = [];
  s.on('message', (msg, rinfo) => {
    const req = decodePacket(msg);
    requests.push(req);
    handler(
      req,
      msg,
      (bytes) => s.send(bytes, rinfo.port, rinfo.address),
      (bytes) => other.send(bytes, rinfo.port, rinfo.address),
    );
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => other.bind(0, '127.0.0.1', r));
  t.after(() => {
    s.close();
    other.close();
  });
  return { port: s.address().port, requests };
}

function accept(req: Packet, attributes = [textAttr(Attr.ReplyMessage, 'ok')], secret = SECRET): Buffer {
  return signReply({ code: Code.AccessAccept, id: req.id, authenticator: Buffer.alloc(16), attributes }, req.authenticator, secret);
}

const ctx = { remote: '198.51.100.7', group: 'G' };

test('the Access-Request carries what the brief lists, and the password hidden', async (t) => {
  const p = await peer(t, (req, _raw, reply) => reply(accept(req)));
  const m = new RadiusMethod({ name: 'r', servers: [{ host: '127.0.0.1', port: p.port }], secret: SECRET, nasIdentifier: 'nas-1', nasIpAddress: '192.0.2.1', timeout: 2, retries: 0 });
  const r = await m.authenticate('alice', 'pässwörd', ctx);
  assert.equal(r.kind, 'accept');
  const req = p.requests[0] as Packet;
  const get = (type: number) => req.attributes.find((a) => a.type === type)?.value;
  assert.equal(req.code, Code.AccessRequest);
  assert.equal(req.attributes[0]?.type, Attr.MessageAuthenticator);
  assert.equal(get(Attr.UserName)?.toString(), 'alice');
  assert.equal(unhidePassword(get(Attr.UserPassword) as Buffer, SECRET, req.authenticator).toString(), 'pässwörd');
  assert.equal(get(Attr.NasIdentifier)?.toString(), 'nas-1');
  assert.deepEqual(get(Attr.NasIpAddress), Buffer.from([192, 0, 2, 1]));
  assert.equal(get(Attr.CallingStationId)?.toString(), '198.51.100.7');
  assert.equal(get(Attr.NasPortType)?.readUInt32BE(0), 5);
  assert.equal(get(Attr.ServiceType)?.readUInt32BE(0), 2);
  assert.equal(get(Attr.State), undefined);
});

test('hostile replies are dropped and logged; the real answer still counts', async (t) => {
  const p = await peer(t, (req, _raw, reply, other) => {
    other(accept(req)); // right bytes, wrong source port
    reply(accept(req, [textAttr(Attr.ReplyMessage, 'forged')], 'not-the-secret')); // wrong authenticator
    reply(accept({ ...req, id: (req.id + 1) % 256 })); // wrong identifier
    reply(rng.bytes(30)); // garbage
    const bad = accept(req);
    reply(Buffer.concat([bad, Buffer.alloc(3)])); // length mismatch
    reply(accept(req, [textAttr(Attr.ReplyMessage, 'the real one')]));
  });
  const log = new LogLines();
  const m = new RadiusMethod({ name: 'r', servers: [{ host: '127.0.0.1', port: p.port }], secret: SECRET, timeout: 5, retries: 0, log });
  const r = await m.authenticate('alice', 'pw', ctx);
  assert.deepEqual(r, { kind: 'accept', message: 'the real one', attrs: {} });
  const text = log.lines.join('\n');
  assert.match(text, /dropped a datagram from 127\.0\.0\.1:\d+, which is not the server 127\.0\.0\.1:\d+ asked/);
  assert.match(text, /dropped a reply from 127\.0\.0\.1:\d+: Access-Accept has a wrong Response Authenticator/);
  assert.match(text, /dropped a reply .* does not match the request's/);
  assert.match(text, /length field says \d+ bytes but the datagram has \d+/);
  assert.equal(p.requests.length, 1);
});

test('only hostile replies: the login fails with "error" after the tries, no forged accept', async (t) => {
  const p = await peer(t, (req, _raw, reply) => reply(accept(req, [], 'wrong-secret')));
  const log = new LogLines();
  const m = new RadiusMethod({ name: 'r', servers: [{ host: '127.0.0.1', port: p.port }], secret: SECRET, timeout: 0.2, retries: 1, log });
  assert.deepEqual(await m.authenticate('alice', 'pw', ctx), { kind: 'error', message: 'The authentication server did not answer.' });
  assert.equal(p.requests.length, 2);
  // a retransmission repeats the same request (RFC 5080 §2.2.1)
  assert.equal(p.requests[0]?.id, p.requests[1]?.id);
  assert.deepEqual(p.requests[0]?.authenticator, p.requests[1]?.authenticator);
});

test('a verified reply with a malformed attribute: "error", logged', async (t) => {
  const p = await peer(t, (req, _raw, reply) => reply(accept(req, [{ type: Attr.SessionTimeout, value: Buffer.alloc(2) }])));
  const log = new LogLines();
  const m = new RadiusMethod({ name: 'r', servers: [{ host: '127.0.0.1', port: p.port }], secret: SECRET, timeout: 2, retries: 0, log });
  assert.deepEqual(await m.authenticate('alice', 'pw', ctx), { kind: 'error', message: 'The authentication server sent a malformed answer.' });
  assert.match(log.lines.join('\n'), /malformed reply: Session-Timeout has 2 bytes, must be 4/);
});

test('challenge state round trip and odd states; limits on user and password', async (t) => {
  const p = await peer(t, (req, _raw, reply) => {
    const state = req.attributes.find((a) => a.type === Attr.State);
    if (!state) {
      reply(signReply({ code: Code.AccessChallenge, id: req.id, authenticator: Buffer.alloc(16), attributes: [textAttr(Attr.ReplyMessage, 'Code?'), { type: Attr.State, value: Buffer.from([0, 1, 2, 255]) }] }, req.authenticator, SECRET));
    } else {
      reply(accept(req, [intAttr(Attr.SessionTimeout, 99)]));
    }
  });
  const m = new RadiusMethod({ name: 'r', servers: [{ host: '127.0.0.1', port: p.port }], secret: SECRET, timeout: 2, retries: 0 });
  const c = await m.authenticate('u', 'pw', ctx);
  assert.deepEqual(c, { kind: 'challenge', message: 'Code?', state: { state: Buffer.from([0, 1, 2, 255]).toString('base64') }, echo: false });
  if (c.kind !== 'challenge') return;
  assert.deepEqual(await m.respond('u', c.state, '123456', ctx), { kind: 'accept', attrs: { sessionTimeout: 99 } });
  assert.deepEqual(p.requests[1]?.attributes.find((a) => a.type === Attr.State)?.value, Buffer.from([0, 1, 2, 255]));
  // a state that is not ours: sent without State (the server decides), no throw
  assert.equal((await m.respond('u', null, 'x', ctx)).kind, 'challenge');
  assert.equal((await m.respond('u', 42, 'x', ctx)).kind, 'challenge');
  const before = p.requests.length;
  assert.deepEqual(await m.authenticate('u', 'x'.repeat(129), ctx), { kind: 'reject' });
  assert.deepEqual(await m.authenticate('', 'pw', ctx), { kind: 'reject', message: 'Invalid user name.' });
  assert.deepEqual(await m.authenticate('u'.repeat(254), 'pw', ctx), { kind: 'reject', message: 'Invalid user name.' });
  assert.equal(p.requests.length, before, 'nothing sent for refused input');
});

test('options are checked', () => {
  assert.throws(() => new RadiusMethod({ name: 'r', servers: [], secret: 's' }), /no RADIUS server configured/);
  assert.throws(() => new RadiusMethod({ name: 'r', servers: [{ host: '127.0.0.1', port: 1 }], secret: '' }), /secret is empty/);
  assert.throws(() => new RadiusMethod({ name: 'r', servers: [{ host: '127.0.0.1', port: 1 }], secret: 's', timeout: 0 }), /timeout 0 s/);
  assert.throws(() => new RadiusMethod({ name: 'r', servers: [{ host: '127.0.0.1', port: 1 }], secret: 's', retries: -1 }), /retries -1/);
});

test('server addresses from the config: host, host:port, [v6]:port, lists', () => {
  assert.deepEqual(parseServerList('127.0.0.1:1812', 1812), [{ host: '127.0.0.1', port: 1812 }]);
  assert.deepEqual(parseServerList('radius.example.org', 1813), [{ host: 'radius.example.org', port: 1813 }]);
  assert.deepEqual(parseServerList('10.0.0.1:1645, [2001:db8::1]:1812,[::1]', 1812), [
    { host: '10.0.0.1', port: 1645 },
    { host: '2001:db8::1', port: 1812 },
    { host: '::1', port: 1812 },
  ]);
  assert.deepEqual(parseServerList(['a:1', 'b'], 2), [{ host: 'a', port: 1 }, { host: 'b', port: 2 }]);
  assert.throws(() => parseServerList('a:0', 1812), /port 0 is outside/);
  assert.throws(() => parseServerList('a:99999', 1812), /port 99999 is outside/);
  assert.throws(() => parseServerList('a,,b', 1812), /empty entry/);
  assert.throws(() => parseServerList('2001:db8::1', 1812), /not host, host:port or \[ipv6\]:port/);
  assert.throws(() => parseServerList('a b', 1812), /not host/);
});
