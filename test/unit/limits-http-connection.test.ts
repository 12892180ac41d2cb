/**
 * Issue 9 §2, HTTP pipelining: serveConnection handles one request at a time with the socket
 * paused, parses no request ahead of the one in work, and closes after MAX_REQUESTS (32). A fake
 * socket stands in for the TLS socket: this is the mechanism; the interop test
 * (gateway-limits.test.ts) floods a real gateway.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { DEFAULT_HTTP_LIMITS } from '../../src/protocol/http.js';
import { createLogger } from '../../src/log.js';
import type { AuthHandler, HttpReply } from '../../src/gateway/auth-handler.js';
import { serveConnection, type ConnectionDeps } from '../../src/gateway/http-connection.js';
import { GatewayEvents } from '../../src/gateway/ops/events.js';
import { SessionStore } from '../../src/gateway/sessions.js';
import type { TunnelDeps } from '../../src/gateway/tunnel-setup.js';

class FakeTlsSocket extends EventEmitter {
  readonly remoteAddress = '10.0.0.9';
  readonly remotePort = 50000;
  destroyed = false;
  ended = false;
  paused = false;
  readonly written: string[] = [];
  setNoDelay(): this {
    return this;
  }
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  write(data: string | Buffer): boolean {
    this.written.push(data.toString());
    return true;
  }
  end(data?: string | Buffer): this {
    if (data !== undefined) this.written.push(data.toString());
    this.ended = true;
    // as a socket does once its last bytes are handed to the kernel
    setImmediate(() => this.emit('finish'));
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }
  /** what a readable in flowing mode does: data only while not paused */
  receive(chunk: string): boolean {
    if (this.paused) return false;
    this.emit('data', Buffer.from(chunk, 'latin1'));
    return true;
  }
  statuses(): string[] {
    return this.written.map((w) => w.split('\r\n', 1)[0]!);
  }
}

function deps(post: (body: string) => Promise<HttpReply>): { d: ConnectionDeps; posts: string[] } {
  const posts: string[] = [];
  const auth = {
    handlePost: (body: string) => {
      posts.push(body);
      return post(body);
    },
    form: () => ({ status: 200, reason: 'OK', headers: [], body: 'form' }),
  } as unknown as AuthHandler;
  const d: ConnectionDeps = {
    auth,
    tunnel: {} as TunnelDeps,
    sessions: new SessionStore(),
    profile: () => null,
    log: createLogger({ level: 'silent' }),
    httpLimits: { ...DEFAULT_HTTP_LIMITS },
    tunnelUp: () => assert.fail('no CONNECT here'),
    maxCookieBytes: 4096,
    events: new GatewayEvents(),
  };
  return { d, posts };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('pipelining: while a request is in work the socket is paused and nothing more is parsed', async () => {
  const gates: Array<() => void> = [];
  const { d, posts } = deps((body) => new Promise((r) => gates.push(() => r({ status: 200, reason: 'OK', headers: [], body: `re:${body}` }))));
  const sock = new FakeTlsSocket();
  serveConnection(sock as unknown as TLSSocket, d);
  const post = (b: string): string => `POST / HTTP/1.1\r\nContent-Length: ${b.length}\r\n\r\n${b}`;
  assert.ok(sock.receive(post('one') + post('two') + post('thr')));
  await tick();
  assert.equal(sock.paused, true);
  assert.deepEqual(posts, ['one'], 'the second request is not even parsed while the first is in work');
  assert.equal(sock.receive(post('four')), false, 'a paused socket delivers nothing');
  gates.shift()!();
  await tick();
  assert.deepEqual(posts, ['one', 'two']);
  assert.equal(sock.paused, true);
  gates.shift()!();
  await tick();
  gates.shift()!();
  await tick();
  assert.deepEqual(posts, ['one', 'two', 'thr']);
  assert.equal(sock.paused, false, 'all answered: reading again');
  assert.deepEqual(sock.written.map((w) => w.slice(-6)), ['re:one', 're:two', 're:thr']);
});

test('pipelining flood: thousands of requests in one write get 32 answers and a 429, then the connection closes', async () => {
  const { d } = deps(async () => ({ status: 200, reason: 'OK', headers: [], body: '' }));
  const sock = new FakeTlsSocket();
  serveConnection(sock as unknown as TLSSocket, d);
  const n = 5000;
  assert.ok(sock.receive('GET /1/index.html HTTP/1.1\r\nHost: gw\r\n\r\n'.repeat(n)));
  for (let i = 0; i < 50 && !sock.destroyed; i++) await tick();
  const st = sock.statuses();
  assert.equal(st.length, 33, 'no answer beyond the limit');
  assert.ok(st.slice(0, 32).every((s) => s === 'HTTP/1.1 200 OK'));
  assert.equal(st[32], 'HTTP/1.1 429 Too Many Requests');
  assert.equal(sock.ended, true);
  assert.equal(sock.destroyed, true, 'closed for good once the last answer is out');
  assert.equal(sock.paused, true, 'the rest of the flood is never read');
});

test('a malformed request in a pipeline: the earlier ones are answered, then 400 and close', async () => {
  const { d } = deps(async () => ({ status: 200, reason: 'OK', headers: [], body: '' }));
  const events: string[] = [];
  d.events.subscribe((e) => events.push(e.type));
  const sock = new FakeTlsSocket();
  serveConnection(sock as unknown as TLSSocket, d);
  sock.receive('GET /1/index.html HTTP/1.1\r\n\r\nGARBAGE\r\n\r\nGET /1/index.html HTTP/1.1\r\n\r\n');
  for (let i = 0; i < 10 && !sock.destroyed; i++) await tick();
  assert.deepEqual(sock.statuses(), ['HTTP/1.1 200 OK', 'HTTP/1.1 400 Bad Request']);
  assert.equal(sock.destroyed, true);
  assert.ok(events.includes('bad-request'));
});
