/**
 * A hostile network between the gateway and freeradius, for gateway-radius.test.ts (issue 10 "bad
 * input: a RADIUS reply with a wrong authenticator, an oversized attribute"), run inside the
 * gateway's namespace:
 *
 *   node radius-forging-relay.js LISTEN_PORT UPSTREAM_PORT
 *
 * For every Access-Request it receives on 127.0.0.1:LISTEN_PORT it first answers, itself, with
 *   1. an Access-Accept whose attribute claims more bytes than the packet holds (oversized), and
 *   2. an Access-Accept with a Reply-Message, signed with a secret that is not the shared one
 *      (a wrong Response Authenticator: what an off-path attacker who guessed the id can send),
 * and only then relays the request to freeradius on 127.0.0.1:UPSTREAM_PORT and the real answer
 * back. Both forgeries come from the address and port the gateway asked, with the request's id,
 * so only the authenticator check (and the attribute parser) can tell them from the real one.
 *
 * Prints one JSON line per event ({event: ready|forged|relayed}); exits after LIFETIME_MS.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';

const [listenText = '', upstreamText = ''] = process.argv.slice(2);
const listenPort = Number(listenText);
const upstreamPort = Number(upstreamText);
const LIFETIME_MS = 300_000;
const ACCESS_ACCEPT = 2;
const REPLY_MESSAGE = 18;

setTimeout(() => process.exit(0), LIFETIME_MS).unref();

function report(o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

/** An Access-Accept for `request` with `attrs`, its authenticator made with `secret` (RFC 2865 §3). */
function accept(request: Buffer, attrs: Buffer, secret: string): Buffer {
  const p = Buffer.alloc(20 + attrs.length);
  p[0] = ACCESS_ACCEPT;
  p[1] = request[1]!;
  p.writeUInt16BE(p.length, 2);
  request.copy(p, 4, 4, 20);
  attrs.copy(p, 20);
  createHash('md5').update(p).update(secret).digest().copy(p, 4);
  return p;
}

const server = dgram.createSocket('udp4');
server.on('message', (request, client) => {
  if (request.length < 20 || request[0] !== 1) return;
  // 1. oversized attribute: a Reply-Message whose length byte says 200 in a packet of 30 bytes
  const oversized = Buffer.concat([Buffer.from([REPLY_MESSAGE, 200]), Buffer.from('oversized')]);
  server.send(accept(request, oversized, 'not-the-secret'), client.port, client.address);
  // 2. well formed, wrong authenticator
  const text = Buffer.from('forged accept');
  const forged = Buffer.concat([Buffer.from([REPLY_MESSAGE, 2 + text.length]), text]);
  server.send(accept(request, forged, randomBytes(8).toString('hex')), client.port, client.address);
  report({ event: 'forged', id: request[1] });
  // 3. the real answer, relayed unchanged
  const up = dgram.createSocket('udp4');
  const timer = setTimeout(() => up.close(), 10_000);
  up.on('message', (reply) => {
    clearTimeout(timer);
    server.send(reply, client.port, client.address, () => up.close());
    report({ event: 'relayed', id: request[1], code: reply[0] });
  });
  up.send(request, upstreamPort, '127.0.0.1');
});
server.bind(listenPort, '127.0.0.1', () => report({ event: 'ready', port: listenPort }));
