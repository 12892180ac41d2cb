/**
 * Standalone interop check (NOT a unit test; needs root, /dev/net/tun,
 * /usr/sbin/ocserv, /usr/sbin/openconnect and openssl): our DtlsClient against
 * a real ocserv 1.1.6 (GnuTLS 3.7.9), every mode ocserv offers.
 *
 *   node dist/test/unit/dtls-interop-ocserv.js [caseName ...]
 *
 * ocserv runs from a temporary directory on 127.0.0.1 (high ports). For each
 * case: `openconnect --authenticate` obtains a webvpn cookie; a Node TLS socket
 * sends CONNECT with our X-DTLS offer (PROTOCOL.md §4.1); ocserv's answer picks
 * the mode (§6.2); DtlsClient then runs the DTLS handshake over UDP and a
 * DTLS DPD request must come back as a DPD response of the same length (§6.9).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import dgram from 'node:dgram';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import {
  DtlsClient,
  DtlsPacketType,
  SuiteId,
  lookupDtlsCipherName,
  type DtlsClientOptions,
  type DtlsResult,
} from '../../src/dtls/index.js';

const TCP_PORT = 24443;
const UDP_PORT = 24443;

interface Case {
  name: string;
  dtlsCipherSuite?: string;
  dtls12CipherSuite?: string;
  /** PSK suites our client offers (default: all). */
  pskSuites?: number[];
}

const CASES: Case[] = [
  { name: 'psk', dtlsCipherSuite: 'PSK-NEGOTIATE' },
  { name: 'psk-aes128gcm', dtlsCipherSuite: 'PSK-NEGOTIATE', pskSuites: [SuiteId.TLS_PSK_WITH_AES_128_GCM_SHA256] },
  { name: 'psk-chacha', dtlsCipherSuite: 'PSK-NEGOTIATE', pskSuites: [SuiteId.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256] },
  { name: 'psk-aes256cbc', dtlsCipherSuite: 'PSK-NEGOTIATE', pskSuites: [SuiteId.TLS_PSK_WITH_AES_256_CBC_SHA] },
  // Not tested here: PSK-AES128-CBC-SHA256 (00 AE). ocserv 1.1.6's GnuTLS priorities have no
  // SHA256 MAC for DTLS ("No supported cipher suites have been found"), so it cannot be negotiated.
  { name: 'd09-aes128', dtlsCipherSuite: 'AES128-SHA' },
  { name: 'd09-aes256', dtlsCipherSuite: 'AES256-SHA' },
  { name: 'd09-3des', dtlsCipherSuite: 'DES-CBC3-SHA' },
  { name: 'oc-aes128gcm', dtlsCipherSuite: 'OC-DTLS1_2-AES128-GCM' },
  { name: 'oc-aes256gcm', dtlsCipherSuite: 'OC-DTLS1_2-AES256-GCM' },
  { name: 'd12-aes128gcm', dtls12CipherSuite: 'AES128-GCM-SHA256' },
  { name: 'd12-aes256gcm', dtls12CipherSuite: 'AES256-GCM-SHA384' },
  {
    name: 'openconnect-offer',
    dtlsCipherSuite: 'PSK-NEGOTIATE:OC-DTLS1_2-AES256-GCM:OC2-DTLS1_2-CHACHA20-POLY1305:OC-DTLS1_2-AES128-GCM:DHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA:AES256-SHA:AES128-SHA',
    dtls12CipherSuite: 'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-GCM-SHA256',
  },
];

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function setup(dir: string): { conf: string; pin: string } {
  // ocserv workers run as nobody and must reach the sec-mod socket in this directory.
  chmodSync(dir, 0o755);
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const spki = new X509Certificate(readFileSync(cert)).publicKey.export({ type: 'spki', format: 'der' });
  const pin = 'pin-sha256:' + createHash('sha256').update(spki).digest('base64');
  const hash = execFileSync('openssl', ['passwd', '-5', 'secret']).toString().trim();
  writeFileSync(join(dir, 'passwd'), `alice:*:${hash}\n`);
  const conf = join(dir, 'ocserv.conf');
  writeFileSync(
    conf,
    [
      `auth = "plain[passwd=${join(dir, 'passwd')}]"`,
      `tcp-port = ${TCP_PORT}`,
      `udp-port = ${UDP_PORT}`,
      'listen-host = 127.0.0.1',
      'run-as-user = nobody',
      'run-as-group = nogroup',
      `socket-file = ${join(dir, 'ocserv.sock')}`,
      'isolate-workers = false',
      `server-cert = ${cert}`,
      `server-key = ${key}`,
      'max-clients = 16',
      'max-same-clients = 0',
      'rate-limit-ms = 0',
      'max-ban-score = 0',
      'keepalive = 32400',
      'dpd = 90',
      'try-mtu-discovery = false',
      'tls-priorities = "NORMAL:%SERVER_PRECEDENCE:%COMPAT:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-TLS1.3"',
      'auth-timeout = 240',
      'cookie-timeout = 300',
      'use-occtl = false',
      `pid-file = ${join(dir, 'ocserv.pid')}`,
      'device = sslgt',
      'predictable-ips = true',
      'ipv4-network = 192.168.213.0/24',
      'dtls-legacy = true',
      'dtls-psk = true',
      'cisco-client-compat = true',
      '',
    ].join('\n'),
  );
  return { conf, pin };
}

async function waitForPort(port: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((res) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        res(true);
      });
      s.on('error', () => res(false));
    });
    if (ok) return true;
    await sleep(100);
  }
  return false;
}

function authenticate(pin: string): string {
  let out: string;
  try {
    out = execFileSync(
    '/usr/sbin/openconnect',
    ['--authenticate', '--non-inter', '--user=alice', '--passwd-on-stdin', `--servercert=${pin}`, `https://127.0.0.1:${TCP_PORT}/`],
    { input: 'secret\n', stdio: ['pipe', 'pipe', 'pipe'] },
  ).toString();
  } catch (e) {
    const err = e as { stderr?: Buffer; stdout?: Buffer };
    throw new Error(`openconnect --authenticate failed:\n${err.stdout?.toString() ?? ''}${err.stderr?.toString() ?? ''}`);
  }
  const m = /COOKIE='([^']+)'/.exec(out);
  if (!m) throw new Error(`no cookie from openconnect --authenticate:\n${out}`);
  // openconnect 9 prints the whole Cookie header value ("openconnect_strapkey=...; webvpn=...").
  const webvpn = /(?:^|;\s*)webvpn=([^;]+)/.exec(m[1]!);
  return webvpn ? webvpn[1]! : m[1]!;
}

interface ConnectAnswer {
  socket: tls.TLSSocket;
  status: string;
  headers: Map<string, string>;
}

async function connectTunnel(cookie: string, c: Case, masterSecret: Buffer): Promise<ConnectAnswer> {
  const socket = tls.connect({ host: '127.0.0.1', port: TCP_PORT, rejectUnauthorized: false });
  await new Promise<void>((res, rej) => {
    socket.once('secureConnect', () => res());
    socket.once('error', rej);
  });
  const req = [
    'CONNECT /CSCOSSLC/tunnel HTTP/1.1',
    'Host: 127.0.0.1',
    'User-Agent: Open AnyConnect VPN Agent v9.01-3',
    `Cookie: webvpn=${cookie}`,
    'X-CSTP-Version: 1',
    'X-CSTP-Hostname: sslgate-dtls-test',
    'X-CSTP-Base-MTU: 1500',
    'X-CSTP-MTU: 1390',
    'X-CSTP-Address-Type: IPv4',
    `X-DTLS-Master-Secret: ${masterSecret.toString('hex').toUpperCase()}`,
    ...(c.dtlsCipherSuite ? [`X-DTLS-CipherSuite: ${c.dtlsCipherSuite}`] : []),
    ...(c.dtls12CipherSuite ? [`X-DTLS12-CipherSuite: ${c.dtls12CipherSuite}`] : []),
  ];
  socket.write(req.join('\r\n') + '\r\n\r\n');
  let head = '';
  await new Promise<void>((res, rej) => {
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        socket.off('data', onData);
        res();
      }
    };
    socket.on('data', onData);
    socket.once('error', rej);
    socket.once('close', () => rej(new Error(`connection closed: ${head}`)));
  });
  socket.on('error', () => undefined);
  const lines = head.slice(0, head.indexOf('\r\n\r\n')).split('\r\n');
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(': ');
    if (i > 0) headers.set(l.slice(0, i), l.slice(i + 2));
  }
  return { socket, status: lines[0] ?? '', headers };
}

async function runCase(c: Case, pin: string): Promise<string> {
  const cookie = authenticate(pin);
  const masterSecret = randomBytes(48);
  const ans = await connectTunnel(cookie, c, masterSecret);
  if (!ans.status.startsWith('HTTP/1.1 200')) throw new Error(`CONNECT answered ${ans.status}`);
  const h12 = ans.headers.get('X-DTLS12-CipherSuite');
  const h = ans.headers.get('X-DTLS-CipherSuite');
  const answer = h12 !== undefined ? { header: 'X-DTLS12-CipherSuite' as const, name: h12 } : { header: 'X-DTLS-CipherSuite' as const, name: h ?? '' };
  const setupInfo = lookupDtlsCipherName(answer.header, answer.name);
  if (!setupInfo) throw new Error(`ocserv answered ${answer.header}: ${answer.name}`);
  const port = Number(ans.headers.get('X-DTLS-Port'));
  let opts: DtlsClientOptions;
  if (setupInfo.mode === 'psk') {
    // No context (PROTOCOL.md §6.7); see the note in dtls-interop-openconnect.ts.
    const exportNoContext = ans.socket.exportKeyingMaterial.bind(ans.socket) as (length: number, label: string) => Buffer;
    opts = {
      role: 'client',
      mode: 'psk',
      psk: exportNoContext(32, 'EXPORTER-openconnect-psk'),
      appId: Buffer.from(ans.headers.get('X-DTLS-App-ID') ?? '', 'hex'),
      ...(c.pskSuites ? { suites: c.pskSuites } : {}),
    };
  } else {
    opts = {
      role: 'client',
      mode: 'resume',
      version: setupInfo.version,
      suite: setupInfo.suite,
      sessionId: Buffer.from(ans.headers.get('X-DTLS-Session-ID') ?? '', 'hex'),
      masterSecret,
    };
  }

  const client = new DtlsClient(opts);
  const udp = dgram.createSocket('udp4');
  udp.on('error', () => undefined);
  await new Promise<void>((res) => udp.connect(port, '127.0.0.1', res));
  let timer: NodeJS.Timeout | null = null;
  let established = '';
  let failure = '';
  let dpdResp = -1;
  const drops: string[] = [];
  const apply = (r: DtlsResult): void => {
    for (const d of r.send) udp.send(d);
    for (const e of r.events) {
      if (e.type === 'established') established = e.info.suiteName;
      if (e.type === 'failed') failure = `${e.reason}: ${e.message}`;
      if (e.type === 'closed') failure ||= `closed by peer (alert ${e.alert})`;
    }
    for (const p of r.deliver) if (p[0] === DtlsPacketType.dpdResponse) dpdResp = p.length;
    drops.push(...r.drops);
    if (timer) clearTimeout(timer);
    timer = r.timerAt === null ? null : setTimeout(() => apply(client.onTimer(Date.now())), Math.max(0, r.timerAt - Date.now()));
  };
  udp.on('message', (m) => apply(client.handleDatagram(m, Date.now())));
  apply(client.start(Date.now()));

  const probe = Buffer.alloc(1 + 1000, 0x5a);
  probe[0] = DtlsPacketType.dpdRequest;
  const end = Date.now() + 15_000;
  let probed = false;
  while (Date.now() < end && !failure && dpdResp < 0) {
    if (established && !probed) {
      udp.send(client.protect(probe));
      probed = true;
    }
    await sleep(20);
  }
  if (timer) clearTimeout(timer);
  if (client.established) udp.send(client.close().send[0]!);
  udp.close();
  // CSTP DISCONNECT "user exit" (PROTOCOL.md §5.5), then close.
  ans.socket.end(Buffer.from('5354460100010500b0', 'hex'));
  const summary = `${answer.header}: ${answer.name} → ${established || '-'}; DPD-RESP ${dpdResp} bytes${drops.length ? `; drops ${[...new Set(drops)].join(',')}` : ''}`;
  if (failure || !established || dpdResp !== probe.length) throw new Error(`${summary}; ${failure}`);
  return summary;
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const dir = mkdtempSync(join(tmpdir(), 'sslgate-dtls-ocserv-'));
  let ocserv: ChildProcess | null = null;
  let log = '';
  try {
    const { conf, pin } = setup(dir);
    ocserv = spawn('/usr/sbin/ocserv', ['-f', '-c', conf, '-d', '2'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    ocserv.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    ocserv.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    if (!(await waitForPort(TCP_PORT, 10_000))) throw new Error(`ocserv did not start:\n${log}`);
    let passed = 0;
    let total = 0;
    for (const c of CASES) {
      if (only.length && !only.includes(c.name)) continue;
      total++;
      try {
        console.log(`PASS ${c.name.padEnd(18)} ${await runCase(c, pin)}`);
        passed++;
      } catch (e) {
        console.log(`FAIL ${c.name.padEnd(18)} ${(e as Error).message}`);
        console.log(log.split('\n').slice(-25).join('\n'));
      }
      await sleep(200);
    }
    console.log(`\n${passed}/${total} passed`);
    process.exitCode = passed === total ? 0 : 1;
  } finally {
    if (ocserv?.pid) {
      try {
        process.kill(-ocserv.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    await sleep(300);
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
