/**
 * Attacker for the resource-limit test (gateway-limits.test.ts, issue 9 §2), run inside the
 * client namespace with raw TCP/TLS sockets:
 *   node limits-attacker.js slow HOST PORT N          N slow connections from this address
 *   node limits-attacker.js pipeline HOST PORT N      N pipelined requests in one write, never read
 *   node limits-attacker.js dpd-flood HOST PORT USER PASSWORD N   log in, CONNECT, N DPD requests, never read
 *   node limits-attacker.js dpd-idle HOST PORT USER PASSWORD GROUP   log in, CONNECT, a DPD request a second, reading
 *   node limits-attacker.js burst HOST PORT N         N TLS connections at once: how many finish the handshake
 *   node limits-attacker.js logins HOST PORT N USER PASSWORD GROUP   N logins of one user at once: how many got a session
 *   node limits-attacker.js failures HOST PORT N USER PASSWORD GROUP  two connections at once, then N logins one after the other, alternating between them
 * Each prints JSON lines {event, ...}; every loop is bounded in count and time, and the process
 * exits by itself (at the latest after LIFETIME_MS).
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { exchangeHttp, tlsTo } from '../helpers/raw-https.js';

const [mode = '', host = '', portText = '443', ...rest] = process.argv.slice(2);
const port = Number(portText);
/** the attacker never runs longer than this, whatever happens */
const LIFETIME_MS = 120_000;
// Not unref'd: a paused socket keeps no event loop alive, and an attacker whose connection the
// gateway never closes must say so ("lifetime-over") rather than exit quietly.
setTimeout(() => {
  report({ event: 'lifetime-over' });
  process.exit(3);
}, LIFETIME_MS);

function report(o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

const tls = (): Promise<TLSSocket> => tlsTo(host, port);

/** One HTTP exchange on a TLS socket: the whole answer (Content-Length delimited). */
const request = (sock: TLSSocket, head: string, body = ''): Promise<string> => exchangeHttp(sock, head + body);

/** Logs in (auth-reply straight away) and opens the tunnel: the socket now speaks CSTP. */
async function tunnel(user: string, password: string, group?: string): Promise<TLSSocket> {
  const sock = await tls();
  const groupXml = group ? `<group-select>${group}</group-select>` : '';
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<config-auth client="vpn" type="auth-reply" aggregate-auth-version="2">${groupXml}<auth><username>${user}</username><password>${password}</password></auth></config-auth>`;
  const done = await request(sock, `POST / HTTP/1.1\r\nHost: ${host}\r\nX-Aggregate-Auth: 1\r\nX-Transcend-Version: 1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`, body);
  const cookie = /<session-token>([^<]+)<\/session-token>/.exec(done)?.[1];
  if (!cookie) throw new Error(`login failed: ${done.slice(0, 300)}`);
  const connected = await new Promise<string>((resolve) => {
    let b = '';
    const onData = (d: Buffer): void => {
      b += d.toString('latin1');
      if (b.includes('\r\n\r\n')) {
        sock.off('data', onData);
        resolve(b);
      }
    };
    sock.on('data', onData);
    sock.write(`CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: ${host}\r\nCookie: webvpn=${cookie}\r\nX-CSTP-Version: 1\r\nX-CSTP-Base-MTU: 1500\r\nX-CSTP-Address-Type: IPv4\r\n\r\n`);
  });
  if (!connected.startsWith('HTTP/1.1 200')) throw new Error(`CONNECT refused: ${connected.split('\r\n')[0]}`);
  return sock;
}

/** CSTP DPD request (PROTOCOL.md §5.1: "STF", 1, length, type 3, 0). */
const DPD_REQ = Buffer.from([0x53, 0x54, 0x46, 0x01, 0x00, 0x00, 0x03, 0x00]);

/** Resolves when the gateway closed the socket (we never close it first). */
function closedByPeer(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let why = 'close';
    s.on('error', (e: NodeJS.ErrnoException) => (why = e.code ?? e.message));
    s.on('end', () => (why = 'end'));
    s.once('close', () => resolve(why));
  });
}

/**
 * Slow clients: half complete TLS and then send an HTTP request a byte a second; half send a
 * TLS ClientHello a byte a second (the handshake never finishes). Reports how many the gateway
 * closed, and how many bytes each had sent: traffic did not keep any of them open.
 */
async function slow(n: number): Promise<void> {
  const closes: Array<Promise<{ kind: string; sent: number; why: string; tls: boolean }>> = [];
  const timers: NodeJS.Timeout[] = [];
  let handshakes = 0;
  for (let i = 0; i < n; i++) {
    const useTls = i % 2 === 0;
    const s: Socket = useTls ? tlsConnect({ host, port, rejectUnauthorized: false }) : tcpConnect({ host, port });
    const state = { sent: 0, tls: false };
    const text = useTls ? 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(4000) : '';
    // A TLS 1.2 ClientHello's first bytes: record header and handshake header, then the rest never comes.
    const hello = Buffer.from('16030100f4010000f00303' + '00'.repeat(200), 'hex');
    if (useTls) {
      (s as TLSSocket).once('secureConnect', () => {
        state.tls = true;
        handshakes++;
      });
    }
    const drip = setInterval(() => {
      if (s.destroyed) return;
      if (useTls ? state.tls && state.sent < text.length : state.sent < hello.length) {
        s.write(useTls ? text[state.sent]! : hello.subarray(state.sent, state.sent + 1));
        state.sent++;
      }
    }, 1000);
    timers.push(drip);
    closes.push(closedByPeer(s).then((why) => ({ kind: useTls ? 'tls-slow-request' : 'tcp-slow-hello', sent: state.sent, why, tls: state.tls })));
  }
  report({ event: 'opened', count: n });
  const all = await Promise.all(closes);
  for (const t of timers) clearInterval(t);
  report({ event: 'all-closed', count: all.length, handshakes, maxSent: Math.max(...all.map((c) => c.sent)), closes: all });
}

/**
 * A burst: N TLS connections opened at once. Each either finishes its handshake (admitted) or is
 * closed by the gateway before (refused at accept). Reports both counts once every connection has
 * settled, and `ms` from the first connect to then: the window in which the gateway's rate
 * bucket could refill (the test bounds the refill by it instead of assuming a fast machine).
 */
async function burst(n: number): Promise<void> {
  const start = Date.now();
  const socks: TLSSocket[] = [];
  const settled: Array<Promise<boolean>> = [];
  for (let i = 0; i < n; i++) {
    const s = tlsConnect({ host, port, rejectUnauthorized: false });
    socks.push(s);
    settled.push(
      new Promise<boolean>((resolve) => {
        s.once('secureConnect', () => resolve(true));
        s.on('error', () => undefined);
        s.once('close', () => resolve(false));
      }),
    );
  }
  const outcomes = await Promise.all(settled);
  const ms = Date.now() - start;
  const ok = outcomes.filter((x) => x).length;
  for (const s of socks) s.destroy();
  report({ event: 'burst', count: n, ok, refused: n - ok, ms });
}

/**
 * N logins of one user at once: N TLS connections are opened first (the gateway spreads them over
 * its workers), then every login request is written in the same loop turn. Reports how many got
 * a session token, and the refusal messages.
 */
async function logins(n: number, user: string, password: string, group: string): Promise<void> {
  const socks = await Promise.all(Array.from({ length: n }, () => tls()));
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<config-auth client="vpn" type="auth-reply" aggregate-auth-version="2"><group-select>${group}</group-select><auth><username>${user}</username><password>${password}</password></auth></config-auth>`;
  const head = `POST / HTTP/1.1\r\nHost: ${host}\r\nX-Aggregate-Auth: 1\r\nX-Transcend-Version: 1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  const answers = await Promise.all(socks.map((s) => request(s, head, body)));
  for (const s of socks) s.destroy();
  const tokens = answers.filter((a) => /<session-token>[^<]+<\/session-token>/.test(a)).length;
  const errors = answers.map((a) => /<error[^>]*>([^<]*)<\/error>/.exec(a)?.[1]).filter((x): x is string => x !== undefined);
  report({ event: 'logins', count: n, tokens, errors });
}

/**
 * Failed logins spread over the gateway's workers: two TLS connections opened at once (the
 * gateway gives them to different workers), then N logins one after the other on connection
 * i % 2, each waiting for its answer. Reports the error text of each answer.
 */
async function failures(n: number, user: string, password: string, group: string): Promise<void> {
  const socks = await Promise.all([tls(), tls()]);
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<config-auth client="vpn" type="auth-reply" aggregate-auth-version="2"><group-select>${group}</group-select><auth><username>${user}</username><password>${password}</password></auth></config-auth>`;
  const head = `POST / HTTP/1.1\r\nHost: ${host}\r\nX-Aggregate-Auth: 1\r\nX-Transcend-Version: 1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  const errors: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = await request(socks[i % 2]!, head, body);
    errors.push(/<error[^>]*>([^<]*)<\/error>/.exec(a)?.[1] ?? a.split('\r\n')[0]!);
  }
  for (const s of socks) s.destroy();
  report({ event: 'failures', count: n, errors });
}

/** N pipelined requests in one write; the answers are never read. */
async function pipeline(n: number): Promise<void> {
  const sock = await tls();
  sock.pause(); // never read a byte of the answers
  const closed = closedByPeer(sock);
  const req = `GET /1/index.html HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
  const flood = Buffer.from(req.repeat(n));
  sock.write(flood);
  report({ event: 'flooded', requests: n, bytes: flood.length });
  report({ event: 'closed', why: await closed });
}

/** Logs in, then N DPD requests without ever reading. */
async function dpdFlood(user: string, password: string, n: number): Promise<void> {
  const sock = await tunnel(user, password);
  sock.pause();
  const closed = closedByPeer(sock);
  report({ event: 'tunnel' });
  const perWrite = 1000;
  const chunk = Buffer.concat(Array.from({ length: perWrite }, () => DPD_REQ));
  let written = 0;
  let open = true;
  void closed.then(() => (open = false));
  while (open && written < n) {
    // write and wait for the kernel to take it: a bounded amount in flight
    if (!sock.write(chunk)) await new Promise((r) => sock.once('drain', r).once('close', r));
    written += perWrite;
  }
  report({ event: 'closed', why: await closed, written });
}

/** Logs in, then a DPD request a second, reading the answers: control traffic only. */
async function dpdIdle(user: string, password: string, group: string): Promise<void> {
  const sock = await tunnel(user, password, group);
  let answers = 0;
  let terminate = false;
  sock.on('data', (d: Buffer) => {
    for (let i = 0; i + 8 <= d.length; i++) {
      if (d[i] === 0x53 && d[i + 1] === 0x54 && d[i + 2] === 0x46) {
        if (d[i + 6] === 0x04) answers++;
        if (d[i + 6] === 0x09) terminate = true;
      }
    }
  });
  const closed = closedByPeer(sock);
  report({ event: 'tunnel' });
  const t = setInterval(() => sock.write(DPD_REQ), 1000);
  const why = await closed;
  clearInterval(t);
  report({ event: 'closed', why, answers, terminate });
}

async function main(): Promise<void> {
  if (mode === 'slow') await slow(Number(rest[0]));
  else if (mode === 'pipeline') await pipeline(Number(rest[0]));
  else if (mode === 'burst') await burst(Number(rest[0]));
  else if (mode === 'failures') await failures(Number(rest[0]), rest[1]!, rest[2]!, rest[3]!);
  else if (mode === 'logins') await logins(Number(rest[0]), rest[1]!, rest[2]!, rest[3]!);
  else if (mode === 'dpd-flood') await dpdFlood(rest[0]!, rest[1]!, Number(rest[2]));
  else if (mode === 'dpd-idle') await dpdIdle(rest[0]!, rest[1]!, rest[2]!);
  else throw new Error(`unknown mode ${mode}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    report({ event: 'error', message: (e as Error).message });
    process.exit(1);
  },
);
