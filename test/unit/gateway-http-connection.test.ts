/**
 * serveConnection on its own (src/gateway/http-connection.ts), over a real TLS connection on
 * 127.0.0.1: answers in request order, the profile download (only with a session cookie), the
 * downloader stubs, the CONNECT hand-off to openTunnel (bytes after the CONNECT head reach the
 * tunnel), a bad cookie, an oversized header or cookie, a malformed request. Fakes: the password
 * checker and the router. (The auth deadline and pipelining limits are issue 9 §2 work and are
 * tested with it.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TLSSocket } from 'node:tls';
import { DEFAULT_HTTP_LIMITS } from '../../src/protocol/http.js';
import { encodeCstp } from '../../src/protocol/cstp.js';
import { profileManifest } from '../../src/protocol/profile.js';
import { serveConnection, type ConnectionDeps, type ServedProfile } from '../../src/gateway/http-connection.js';
import { formFacts, glue, initBody, replyBody, silentLog, tlsLoopback, waitFor, type ClientConn, type Glue } from './gateway-glue-helpers.js';

const PROFILE = Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n<AnyConnectProfile><ServerList/></AnyConnectProfile>\n');
const HOST = 'Host: 127.0.0.1\r\n';

let g: Glue;
let served: ServedProfile | null;
let lb: Awaited<ReturnType<typeof tlsLoopback>>;

function deps(): ConnectionDeps {
  return {
    auth: g.auth,
    tunnel: g.tunnelDeps,
    sessions: g.sessions,
    profile: () => served,
    log: silentLog,
    httpLimits: DEFAULT_HTTP_LIMITS,
    tunnelUp: () => undefined, // the auth deadline is Gatekeeper's (limits-unauth.test.ts)
    maxCookieBytes: 512,
    events: g.events,
  };
}

before(async () => {
  lb = await tlsLoopback((sock: TLSSocket) => serveConnection(sock, deps()));
});
after(() => lb.close());

function fresh(): void {
  g = glue();
  const m = profileManifest('profile.xml', PROFILE);
  served = { uri: m.uri, sha1: m.sha1, content: PROFILE };
}

const post = (body: string, path = '/'): string => `POST ${path} HTTP/1.1\r\n${HOST}X-Aggregate-Auth: 1\r\nX-Transcend-Version: 1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const get = (path: string, extra = '', method = 'GET'): string => `${method} ${path} HTTP/1.1\r\n${HOST}${extra}\r\n`;

async function login(c: ClientConn, user = 'alice'): Promise<string> {
  c.write(post(replyBody(user, `${user}-pw`)));
  const r = await c.next();
  const token = /<session-token>([^<]+)</.exec(r.body.toString())?.[1];
  assert.ok(token, r.body.toString());
  return token;
}

test('answers come in request order, also when an earlier one is slower (async password check)', async () => {
  fresh();
  // the password check of the first request finishes after the stub could have been answered
  const verify = g.passwords.verify.bind(g.passwords);
  g.passwords.verify = (u, p) => new Promise((r) => setTimeout(() => r(verify(u, p)), 50));
  const c = await lb.connect();
  c.write(post(replyBody('alice', 'alice-pw')) + get('/+CSCOT+/translation-table') + post(initBody('Contractors')));
  const a = await c.next();
  const b = await c.next();
  const d = await c.next();
  assert.match(a.body.toString(), /type="complete"/);
  assert.equal(b.body.toString(), '<?xml version="1.0" encoding="UTF-8"?>\n<vpn rev="1.0">\n</vpn>\n');
  assert.equal(formFacts(d.body.toString()).selected, 'Contractors');
  assert.equal(c.closed, false, 'the connection stays open for more requests');
  c.end();
});

test('profile: 401 and close without a session cookie, the file with one, HEAD without a body', async () => {
  fresh();
  const anon = await lb.connect();
  anon.write(get('/profiles/profile.xml'));
  const denied = await anon.next();
  assert.equal(denied.status, 401);
  assert.equal(denied.headers.get('connection'), 'close');
  await anon.waitClosed();
  const bad = g.seen.filter((e) => e.type === 'auth-failure');
  assert.deepEqual(bad.map((e) => e.type === 'auth-failure' && e.reason), ['bad-cookie']);

  const c = await lb.connect();
  const token = await login(c);
  c.write(get('/profiles/profile.xml', `Cookie: webvpn=${token}\r\n`));
  const r = await c.next();
  assert.equal(r.status, 200);
  assert.deepEqual([r.headers.get('content-type'), r.headers.get('x-transcend-version')], ['text/xml', '1']);
  assert.deepEqual(r.body, PROFILE);
  // openconnect's spellings (quirk 32): ":port" appended, the slash %-encoded
  c.write(get('/profiles%2Fprofile.xml:4443', `Cookie: webvpn=${token}\r\n`));
  assert.deepEqual((await c.next()).body, PROFILE);
  c.write(get('/profiles/profile.xml', `Cookie: webvpn=${token}\r\n`, 'HEAD'));
  const h = await c.next(true);
  assert.equal(h.status, 200);
  assert.equal(h.body.length, 0);
  c.write(get('/', ''));
  assert.equal(formFacts((await c.next()).body.toString()).selected, 'Employees', 'HEAD sent no body: the next answer parses');
  c.end();
});

test('stubs: the downloader and +CSCOT+ URLs answer 200; GET / is the login form; others 404 and close', async () => {
  fresh();
  const c = await lb.connect();
  const want: Array<[string, string, RegExp]> = [
    ['/+CSCOT+/translation-table?type=po&textdomain=AnyConnect&lang=en', 'text/xml', /^<\?xml .*\n<vpn rev="1\.0">\n<\/vpn>\n$/],
    ['/+CSCOT+/oem-customization?app=AnyConnect&type=oem&platform=linux-64', 'text/xml', /<vpn rev="1\.0">/],
    ['/VPNManifest.xml', 'text/xml', /<vpn rev="1\.0">/],
    ['/1/VPNManifest.xml', 'text/xml', /<vpn rev="1\.0">/],
    ['/1/binaries/update.txt', 'text/plain', /^0,0,0000\n$/],
    ['/1/binaries/vpndownloader.sh', 'text/plain', /^#!\/bin\/sh\nexit 0\n$/],
    ['/1/index.html', 'text/html', /^<html><\/html>\n$/],
    ['/logout', 'text/html', /^<html><\/html>\n$/],
  ];
  for (const [path, type, body] of want) {
    c.write(get(path));
    const r = await c.next();
    assert.deepEqual([r.status, r.headers.get('content-type')], [200, type], path);
    assert.match(r.body.toString(), body, path);
  }
  c.write(get('/?a=b'));
  const form = await c.next();
  assert.equal(formFacts(form.body.toString()).selected, 'Employees');
  c.write(get('/etc/passwd'));
  const nf = await c.next();
  assert.deepEqual([nf.status, nf.headers.get('connection')], [404, 'close']);
  await c.waitClosed();
});

test('CONNECT hands the socket to the tunnel: 200 CONNECTED, and a packet sent with the head arrives', async () => {
  fresh();
  const c = await lb.connect();
  const token = await login(c);
  const packet = Buffer.alloc(28, 0x45);
  c.write(Buffer.concat([
    Buffer.from(`CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\n${HOST}Cookie: webvpn=${token}\r\nX-CSTP-Version: 1\r\nX-CSTP-Base-MTU: 1400\r\nX-CSTP-Address-Type: IPv4\r\n\r\n`),
    encodeCstp(0x00, packet), // CSTP data frame right behind the head, in the same write
  ]));
  const head = await c.nextHead();
  assert.deepEqual([head.status, head.reason], [200, 'CONNECTED']);
  const addr = head.headers.find(([k]) => k === 'X-CSTP-Address')?.[1];
  assert.equal(addr, '10.60.0.2');
  const s = g.sessions.byCookie(token)!;
  assert.ok(s.channel, 'the session has its channel');
  assert.equal(g.router.attached.get(s.address!), s.tunnel);
  await waitFor(() => g.router.packets.length > 0, 'the packet at the router');
  assert.deepEqual(g.router.packets, [[s.address, packet]]);
  c.end();
});

test('CONNECT: a bad cookie gets 401 and the close; a wrong path 404; both end the connection', async () => {
  fresh();
  const c = await lb.connect();
  c.write(`CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\n${HOST}Cookie: webvpn=not-a-session\r\nX-CSTP-Version: 1\r\n\r\n`);
  const h = await c.nextHead();
  assert.deepEqual([h.status, h.reason], [401, 'Cookie is not acceptable']);
  await c.waitClosed();
  assert.deepEqual(g.seen.map((e) => e.type === 'auth-failure' && e.reason), ['bad-cookie']);

  const d = await lb.connect();
  const token = await login(d);
  d.write(`CONNECT /elsewhere HTTP/1.1\r\n${HOST}Cookie: webvpn=${token}\r\n\r\n`);
  assert.equal((await d.nextHead()).status, 404);
  await d.waitClosed();
  assert.equal(g.sessions.byCookie(token)?.channel, null, 'no tunnel');
});

test('an oversized header -> 431 and close; an oversized cookie -> 431 and close; both are bad-request events', async () => {
  fresh();
  const c = await lb.connect();
  c.write(`GET / HTTP/1.1\r\n${HOST}X-Big: ${'a'.repeat(DEFAULT_HTTP_LIMITS.maxHeaderBytes)}\r\n\r\n`);
  const r = await c.next();
  assert.deepEqual([r.status, r.headers.get('connection')], [431, 'close']);
  await c.waitClosed();
  const k = await lb.connect();
  k.write(get('/', `Cookie: webvpn=${'b'.repeat(600)}\r\n`));
  const rk = await k.next();
  assert.equal(rk.status, 431);
  await k.waitClosed();
  assert.deepEqual(g.seen.map((e) => e.type === 'bad-request' && e.reason), ['http-431', 'cookie-too-large']);
});

test('a malformed request -> 400 and close, nothing after it is read', async () => {
  for (const bad of ['GARBAGE\r\n\r\n', 'GET / HTTP/1.1\r\nno colon here\r\n\r\n', `POST / HTTP/1.1\r\n${HOST}Content-Length: -5\r\n\r\n`]) {
    fresh();
    const c = await lb.connect();
    c.write(bad + post(replyBody('alice', 'alice-pw')));
    const r = await c.next();
    assert.deepEqual([r.status, r.headers.get('connection')], [400, 'close'], JSON.stringify(bad));
    await c.waitClosed();
    assert.equal(c.pending().length, 0, 'one answer only');
    assert.equal(g.sessions.size, 0, 'the login behind the bad request was not served');
    assert.deepEqual(g.seen.map((e) => e.type === 'bad-request' && e.reason), ['http-400']);
  }
});
