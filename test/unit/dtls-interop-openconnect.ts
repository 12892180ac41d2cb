/**
 * Standalone interop check (NOT a unit test; needs /usr/sbin/openconnect and openssl):
 * real openconnect 9.01 (GnuTLS 3.7.9) against our DtlsServer, every mode.
 *
 *   node dist/test/unit/dtls-interop-openconnect.js [caseName ...]
 *
 * A throwaway "gateway" answers only `CONNECT /CSCOSSLC/tunnel` (openconnect
 * skips authentication when given --cookie) with the DTLS headers of the
 * chosen mode (PROTOCOL.md §4.3, §6.2), then runs DtlsServer on a UDP socket
 * and answers DTLS DPD requests (openconnect's MTU probe, §6.9). openconnect
 * runs with --script-tun, so no tun device or root is needed. A case passes
 * when both openconnect ("Established DTLS connection") and our endpoint
 * report the handshake and an MTU probe came back.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import {
  DtlsPacketType,
  DtlsServer,
  lookupDtlsCipherName,
  peekClientHelloSessionId,
  type DtlsResult,
  type DtlsServerOptions,
} from '../../src/dtls/index.js';

interface Case {
  name: string;
  /** Which header carries the gateway's answer. */
  header: 'PSK' | 'X-DTLS-CipherSuite' | 'X-DTLS12-CipherSuite';
  /** Name to answer with (from the client's offer). */
  answer: string;
  /** Extra openconnect arguments (to force an offer). */
  ocArgs?: string[];
  helloVerify?: boolean;
}

const CASES: Case[] = [
  { name: 'psk', header: 'PSK', answer: 'PSK-NEGOTIATE' },
  { name: 'psk+hvr', header: 'PSK', answer: 'PSK-NEGOTIATE', helloVerify: true },
  { name: 'd09-aes128', header: 'X-DTLS-CipherSuite', answer: 'AES128-SHA' },
  { name: 'd09-aes256', header: 'X-DTLS-CipherSuite', answer: 'AES256-SHA' },
  { name: 'd09-aes256+hvr', header: 'X-DTLS-CipherSuite', answer: 'AES256-SHA', helloVerify: true },
  { name: 'd09-dhe-aes128', header: 'X-DTLS-CipherSuite', answer: 'DHE-RSA-AES128-SHA' },
  { name: 'd09-3des', header: 'X-DTLS-CipherSuite', answer: 'DES-CBC3-SHA', ocArgs: ['--dtls-ciphers=DES-CBC3-SHA'] },
  { name: 'oc-aes128gcm', header: 'X-DTLS-CipherSuite', answer: 'OC-DTLS1_2-AES128-GCM' },
  { name: 'oc-aes256gcm', header: 'X-DTLS-CipherSuite', answer: 'OC-DTLS1_2-AES256-GCM' },
  { name: 'oc2-chacha', header: 'X-DTLS-CipherSuite', answer: 'OC2-DTLS1_2-CHACHA20-POLY1305' },
  { name: 'd12-aes128gcm', header: 'X-DTLS12-CipherSuite', answer: 'AES128-GCM-SHA256' },
  { name: 'd12-aes256gcm', header: 'X-DTLS12-CipherSuite', answer: 'AES256-GCM-SHA384' },
  { name: 'd12-ecdhe128', header: 'X-DTLS12-CipherSuite', answer: 'ECDHE-RSA-AES128-GCM-SHA256' },
  { name: 'd12-ecdhe256', header: 'X-DTLS12-CipherSuite', answer: 'ECDHE-RSA-AES256-GCM-SHA384' },
  { name: 'd12-aes128sha', header: 'X-DTLS12-CipherSuite', answer: 'AES128-SHA' },
  { name: 'd12-aes256sha', header: 'X-DTLS12-CipherSuite', answer: 'AES256-SHA' },
  { name: 'd12-aes256sha+hvr', header: 'X-DTLS12-CipherSuite', answer: 'AES256-SHA', helloVerify: true },
];

function makeCert(dir: string): { key: string; cert: string; pin: string } {
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1',
    '-keyout', keyPath, '-out', certPath,
  ], { stdio: 'ignore' });
  const cert = readFileSync(certPath, 'utf8');
  const spki = new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' });
  const pin = 'pin-sha256:' + createHash('sha256').update(spki).digest('base64');
  return { key: readFileSync(keyPath, 'utf8'), cert, pin };
}

interface Outcome {
  name: string;
  ok: boolean;
  detail: string;
}

async function runCase(c: Case, creds: { key: string; cert: string; pin: string }): Promise<Outcome> {
  const log: string[] = [];
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((res) => udp.bind(0, '127.0.0.1', res));
  const udpPort = udp.address().port;
  let serverOpts: DtlsServerOptions | null = null;
  let expectedId: Buffer | null = null;
  let established = '';
  let probesAnswered = 0;
  const failures: string[] = [];

  const gateway = tls.createServer({ key: creds.key, cert: creds.cert }, (sock) => {
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', onData);
      const lines = head.slice(0, end).split('\r\n');
      const hdr = (n: string): string => lines.find((l) => l.startsWith(n + ': '))?.slice(n.length + 2) ?? '';
      log.push(`> ${lines[0]}`, `> X-DTLS-CipherSuite: ${hdr('X-DTLS-CipherSuite')}`, `> X-DTLS12-CipherSuite: ${hdr('X-DTLS12-CipherSuite')}`);
      const resp = [
        'HTTP/1.1 200 CONNECTED',
        'X-CSTP-Version: 1',
        'X-CSTP-Address: 192.168.99.2',
        'X-CSTP-Netmask: 255.255.255.0',
        'X-CSTP-DPD: 30',
        'X-CSTP-Keepalive: 20',
        'X-CSTP-MTU: 1300',
        'X-CSTP-Base-MTU: 1400',
        `X-DTLS-Port: ${udpPort}`,
        'X-DTLS-DPD: 30',
        'X-DTLS-Keepalive: 20',
      ];
      const helloVerify = c.helloVerify ? { secret: randomBytes(32) } : undefined;
      if (c.header === 'PSK') {
        // No context argument (PROTOCOL.md §6.7). @types/node marks `context` as required,
        // but Node treats an omitted context as "no context", which is what the peers use.
        const exportNoContext = sock.exportKeyingMaterial.bind(sock) as (length: number, label: string) => Buffer;
        const psk = exportNoContext(32, 'EXPORTER-openconnect-psk');
        expectedId = randomBytes(32);
        serverOpts = { role: 'server', mode: 'psk', psk, appId: expectedId, ...(helloVerify ? { helloVerify } : {}) };
        resp.push(`X-DTLS-App-ID: ${expectedId.toString('hex')}`, 'X-DTLS-CipherSuite: PSK-NEGOTIATE');
      } else {
        const setup = lookupDtlsCipherName(c.header, c.answer);
        const master = Buffer.from(hdr('X-DTLS-Master-Secret'), 'hex');
        if (!setup || setup.mode !== 'resume' || master.length !== 48) {
          failures.push(`cannot set up ${c.answer}`);
          sock.destroy();
          return;
        }
        expectedId = randomBytes(32);
        serverOpts = {
          role: 'server',
          mode: 'resume',
          version: setup.version,
          suite: setup.suite,
          sessionId: expectedId,
          masterSecret: master,
          ...(helloVerify ? { helloVerify } : {}),
        };
        resp.push(`X-DTLS-Session-ID: ${expectedId.toString('hex')}`, `${c.header}: ${c.answer}`, 'X-DTLS-MTU: 1300');
      }
      sock.write(resp.join('\r\n') + '\r\n\r\n');
      // CSTP after this point: answer DPD requests so openconnect stays happy (§5.2).
      let buf = Buffer.alloc(0);
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 8) {
          const len = buf.readUInt16BE(4);
          if (buf.length < 8 + len) break;
          if (buf[6] === 3) sock.write(Buffer.from([0x53, 0x54, 0x46, 1, 0, 0, 4, 0]));
          buf = buf.subarray(8 + len);
        }
      });
    };
    sock.on('data', onData);
    sock.on('error', () => undefined);
  });
  await new Promise<void>((res) => gateway.listen(0, '127.0.0.1', res));
  const tcpPort = (gateway.address() as { port: number }).port;

  let ep: DtlsServer | null = null;
  let timer: NodeJS.Timeout | null = null;
  let peer: { address: string; port: number } | null = null;
  const apply = (r: DtlsResult): void => {
    if (!ep || !peer) return;
    for (const d of r.send) udp.send(d, peer.port, peer.address);
    for (const e of r.events) {
      log.push(`  dtls event ${JSON.stringify(e)}`);
      if (e.type === 'established') established = e.info.suiteName;
      if (e.type === 'failed') failures.push(`${e.reason}: ${e.message}`);
    }
    for (const p of r.deliver) {
      if (p[0] === DtlsPacketType.dpdRequest) {
        const resp = Buffer.from(p);
        resp[0] = DtlsPacketType.dpdResponse; // same length: MTU probing compares lengths (§6.9)
        udp.send(ep.protect(resp), peer.port, peer.address);
        probesAnswered++;
      }
    }
    const bad = r.drops.filter((d) => d !== 'cookie-required' && d !== 'duplicate');
    if (bad.length) log.push(`  drops ${bad.join(',')}`);
    if (timer) clearTimeout(timer);
    timer = null;
    if (r.timerAt !== null) {
      timer = setTimeout(() => apply(ep!.onTimer(Date.now())), Math.max(0, r.timerAt - Date.now()));
    }
  };
  udp.on('message', (msg, rinfo) => {
    if (!ep) {
      const id = peekClientHelloSessionId(msg);
      if (!serverOpts || !id || !expectedId || !id.equals(expectedId)) {
        log.push('  udp: unmatched datagram dropped');
        return;
      }
      ep = new DtlsServer(serverOpts);
      peer = { address: rinfo.address, port: rinfo.port };
    }
    apply(ep.handleDatagram(msg, Date.now()));
  });

  const args = [
    '--non-inter', '-v', '--cookie=interop-test', `--servercert=${creds.pin}`,
    // The script holds the tunnel fd; it exits on EOF or after 30 s at the latest (it may inherit
    // other descriptors of openconnect that delay the EOF).
    '--script-tun', '--script=exec timeout 30 cat <&$VPNFD >/dev/null', ...(c.ocArgs ?? []), `https://127.0.0.1:${tcpPort}/`,
  ];
  const oc = spawn('/usr/sbin/openconnect', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let ocOut = '';
  oc.stdout.on('data', (d: Buffer) => (ocOut += d.toString()));
  oc.stderr.on('data', (d: Buffer) => (ocOut += d.toString()));

  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (established && probesAnswered > 0 && /Established DTLS connection/.test(ocOut)) break;
    if (failures.length || oc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // Let openconnect finish its MTU detection, then stop it (SIGINT → it sends a BYE).
  await new Promise((r) => setTimeout(r, 300));
  try {
    if (oc.pid) process.kill(-oc.pid, 'SIGINT');
  } catch {
    /* already gone */
  }
  await new Promise((r) => setTimeout(r, 300));
  try {
    if (oc.pid && oc.exitCode === null) process.kill(-oc.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  if (timer) clearTimeout(timer);
  udp.close();
  gateway.close();

  const ocLine = /Established DTLS connection[^\n]*/.exec(ocOut)?.[0] ?? '';
  // openconnect logs the probe outcome ("Received MTU DPD probe" / "No change in MTU ...").
  const mtuLine = (/No change in MTU[^\n]*|Detected MTU[^\n]*|Received MTU DPD probe[^\n]*/.exec(ocOut) ?? [''])[0];
  const ok = Boolean(established && ocLine && probesAnswered > 0 && mtuLine && failures.length === 0);
  const detail = ok
    ? `${established} | openconnect: ${ocLine.replace('Established DTLS connection (using GnuTLS). ', '')} | ${probesAnswered} DPD probe(s) answered ${mtuLine ? '| ' + mtuLine : ''}`
    : `failures=${failures.join(';')} established=${established} probes=${probesAnswered}\n${log.join('\n')}\n--- openconnect ---\n${ocOut.split('\n').filter((l) => /DTLS|dtls|MTU|fail|error|Error/i.test(l)).join('\n')}`;
  return { name: c.name, ok, detail };
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const dir = mkdtempSync(join(tmpdir(), 'sslgate-dtls-interop-'));
  try {
    const creds = makeCert(dir);
    const results: Outcome[] = [];
    for (const c of CASES) {
      if (only.length && !only.includes(c.name)) continue;
      const r = await runCase(c, creds);
      results.push(r);
      console.log(`${r.ok ? 'PASS' : 'FAIL'} ${r.name.padEnd(20)} ${r.detail}`);
    }
    const failed = results.filter((r) => !r.ok).length;
    console.log(`\n${results.length - failed}/${results.length} passed`);
    process.exitCode = failed ? 1 : 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
