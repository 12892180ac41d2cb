/**
 * Hostile client for the gateway robustness test, run inside the client namespace:
 *   node garbage-client.js HOST PORT USER PASSWORD
 * Each probe prints one JSON line {probe, outcome, detail}. The test checks the outcomes and that
 * a real openconnect client still connects afterwards.
 */
import { connect as tcpConnect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { exchangeHttp, tlsTo } from '../helpers/raw-https.js';
import { seeded } from '../helpers/seed.js';

// Keys and payloads from the logged test seed (test/helpers/seed.ts): a failure replays.
const rng = seeded('garbage-client');
const randomBytes = (n: number): Buffer => rng.bytes(n);

const [host = '', portText = '443', user = '', password = ''] = process.argv.slice(2);
const port = Number(portText);

function report(probe: string, outcome: string, detail = ''): void {
  process.stdout.write(JSON.stringify({ probe, outcome, detail }) + '\n');
}

/** Sends data, collects the answer until close or timeout. */
function exchange(sock: TLSSocket | ReturnType<typeof tcpConnect>, data: Buffer | string, timeoutMs = 5000): Promise<{ closed: boolean; answer: string }> {
  return new Promise((resolve) => {
    let answer = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ closed: false, answer });
    }, timeoutMs);
    sock.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, answer });
    });
    sock.on('error', () => undefined);
    sock.write(data);
  });
}

const tls = (): Promise<TLSSocket> => tlsTo(host, port);

function post(sock: TLSSocket, body: string): Promise<string> {
  return exchangeHttp(sock, `POST / HTTP/1.1\r\nHost: ${host}\r\nX-Aggregate-Auth: 1\r\nX-Transcend-Version: 1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

async function main(): Promise<void> {
  // 1. random bytes instead of a TLS handshake
  {
    const sock = await new Promise<ReturnType<typeof tcpConnect>>((resolve) => {
      const s = tcpConnect({ host, port }, () => resolve(s));
    });
    const r = await exchange(sock, randomBytes(4096));
    report('random-bytes', r.closed ? 'closed' : 'open');
  }
  // 2. an HTTP request with a 1 MB header: the gateway answers 431 and closes while this side is
  // still writing, so the kernel may reset the connection and the answer may be lost (RST);
  // only the close is certain.
  {
    const sock = await tls();
    const r = await exchange(sock, `GET / HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${'a'.repeat(1024 * 1024)}\r\n\r\n`);
    report('huge-header', r.closed ? 'closed' : 'open', r.answer.split('\r\n')[0] ?? '');
  }
  // 2b. a header over the limit (16 KB) that the gateway reads in full before it answers, so
  // nothing unread is left to turn its close into a reset: the 431 must arrive.
  {
    const sock = await tls();
    const r = await exchange(sock, `GET / HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${'a'.repeat(24 * 1024)}\r\n\r\n`);
    report('big-header', r.closed ? 'closed' : 'open', r.answer.split('\r\n')[0] ?? '');
  }
  // 3. an XML bomb in the POST body
  {
    const sock = await tls();
    const bomb = '<?xml version="1.0"?><!DOCTYPE b [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><config-auth client="vpn" type="init"><x>&d;</x></config-auth>';
    const r = await exchange(sock, `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${bomb.length}\r\n\r\n${bomb}`);
    report('xml-bomb', r.closed ? 'closed' : 'open', r.answer.split('\r\n')[0] ?? '');
  }
  // 4. a CSTP frame with a bad header after a valid CONNECT
  {
    const sock = await tls();
    await post(sock, '<?xml version="1.0" encoding="UTF-8"?>\n<config-auth client="vpn" type="init" aggregate-auth-version="2"><version who="vpn">garbage</version><device-id>linux-64</device-id></config-auth>');
    const done = await post(sock, `<?xml version="1.0" encoding="UTF-8"?>\n<config-auth client="vpn" type="auth-reply" aggregate-auth-version="2"><auth><username>${user}</username><password>${password}</password></auth></config-auth>`);
    const cookie = /<session-token>([^<]+)<\/session-token>/.exec(done)?.[1];
    if (!cookie) {
      report('bad-cstp', 'no-cookie', done.slice(0, 200));
    } else {
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
        sock.write(`CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: ${host}\r\nCookie: webvpn=${cookie}\r\nX-CSTP-Version: 1\r\nX-CSTP-Base-MTU: 1500\r\n\r\n`);
      });
      const r = await exchange(sock, Buffer.from('5354460200100000' + '00'.repeat(16), 'hex'));
      report('bad-cstp', r.closed ? 'closed' : 'open', connected.split('\r\n')[0] ?? '');
    }
  }
  // 5. CONNECT with a made-up cookie
  {
    const sock = await tls();
    const r = await exchange(sock, `CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: ${host}\r\nCookie: webvpn=${randomBytes(32).toString('base64url')}\r\n\r\n`);
    report('bad-cookie', r.closed ? 'closed' : 'open', r.answer.split('\r\n')[0] ?? '');
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    report('error', 'exception', (e as Error).message);
    process.exit(1);
  },
);
