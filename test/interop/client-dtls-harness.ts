/**
 * Shared pieces of the client DTLS interop tests (test/interop/client-dtls-*.test.ts): reading
 * the client's DTLS log lines and exit counters, blocking the gateway's UDP port with nftables
 * inside the gateway namespace, and a paced TCP transfer long enough to span a DTLS event.
 */
import { seededStreamEnv, type Ns, type NsProcess } from '../helpers/netns.js';
import type { SslgateClient } from './client-harness.js';

/** Waits for "DTLS up after N ms: LABEL, VERSION SUITE; data over DTLS" (from line index `from`). */
export async function waitDtlsUp(c: SslgateClient, timeoutMs = 20_000, from = 0): Promise<{ label: string; suite: string; index: number }> {
  const m = await c.proc.waitForLine(/^DTLS up after \d+ ms: (.+?), (DTLS \S+ \S+); data over DTLS/, timeoutMs, from);
  const index = c.proc.lines.findIndex((l, i) => i >= from && l.text === m.input);
  return { label: m[1]!, suite: m[2]!, index };
}

export interface Traffic {
  tlsTx: number;
  tlsRx: number;
  dtlsTx: number;
  dtlsRx: number;
  handshakes: number;
}

/** The client's exit summary ("traffic: TLS tx N rx N packets; DTLS tx N rx N packets ..."). */
export function traffic(c: SslgateClient): Traffic {
  const line = c.proc.lines.map((l) => l.text).find((t) => t.startsWith('traffic: '));
  const m = /TLS tx (\d+) rx (\d+) packets; DTLS tx (\d+) rx (\d+) packets .*?(\d+) DTLS handshakes/.exec(line ?? '');
  if (!m) throw new Error(`no traffic summary in the client's output:\n${c.proc.tail()}`);
  return { tlsTx: Number(m[1]), tlsRx: Number(m[2]), dtlsTx: Number(m[3]), dtlsRx: Number(m[4]), handshakes: Number(m[5]) };
}

/** Milliseconds of the client's own clock in a verbose line ("...  [+1234 ms]"). */
export function logMs(text: string): number {
  const m = /\[\+(\d+) ms\]$/.exec(text);
  if (!m) throw new Error(`no timestamp in ${JSON.stringify(text)}`);
  return Number(m[1]);
}

const TABLE = 'sgblock';

/** Drops UDP to `port` arriving in the gateway namespace (nftables), until unblockUdp. */
export async function blockUdp(gw: Ns, port: number): Promise<void> {
  const script = `table inet ${TABLE} {\n chain input {\n  type filter hook input priority 0; policy accept;\n  udp dport ${port} drop\n }\n}\n`;
  const r = await gw.exec('nft', ['-f', '-'], { input: script, timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`nft failed: ${r.stderr}`);
}

export async function unblockUdp(gw: Ns): Promise<void> {
  await gw.exec('nft', ['delete', 'table', 'inet', TABLE], { timeoutMs: 10_000 });
}

// Source that sends CHUNK bytes of the seeded stream RNG_KEY/RNG_IV every TICK ms (hashed) for DURATION ms (0: until a line
// arrives on stdin), then ends.
let pacedCounter = 0;

const PACED_SOURCE_JS = `
const net = require('node:net'), crypto = require('node:crypto');
const duration = Number(process.env.DURATION), chunk = Number(process.env.CHUNK), tick = Number(process.env.TICK);
const h = crypto.createHash('sha256'); let sent = 0; let t0 = 0; let stop = false;
const rng = crypto.createCipheriv('aes-256-ctr', Buffer.from(process.env.RNG_KEY, 'hex'), Buffer.from(process.env.RNG_IV, 'hex'));
process.stdin.on('data', () => { stop = true; });
const s = net.connect({ host: process.env.HOST, port: Number(process.env.PORT) }, () => {
  t0 = Date.now(); console.log('STARTED');
  const timer = setInterval(() => {
    if (stop || (duration > 0 && Date.now() - t0 >= duration)) { clearInterval(timer); s.end(); process.stdin.destroy(); return; }
    if (s.writableLength > 4 * chunk) return; // the path is stalled: do not queue without bound
    const b = rng.update(Buffer.alloc(chunk));
    h.update(b); sent += b.length; s.write(b);
  }, tick);
});
s.resume();
s.on('error', (e) => { console.error('source socket error: ' + e.message); process.exit(2); });
s.on('close', () => console.log('RESULT ' + JSON.stringify({ bytes: sent, sha256: h.digest('hex'), ms: Date.now() - t0 })));
`;

const SINK_JS = `
const net = require('node:net'), crypto = require('node:crypto');
const h = crypto.createHash('sha256'); let n = 0;
const srv = net.createServer((s) => {
  srv.close();
  s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => { console.log('RESULT ' + JSON.stringify({ bytes: n, sha256: h.digest('hex') })); s.end(); });
  s.on('error', (e) => { console.error('sink socket error: ' + e.message); process.exit(2); });
});
srv.listen(0, process.env.SINK_HOST, () => console.log('LISTENING ' + srv.address().port));
`;

export interface PacedTransfer {
  source: NsProcess;
  /** ends the transfer now (for durationMs 0) */
  finish(): void;
  sink: NsProcess;
  /** resolves when both ends reported */
  done: Promise<{ sent: { bytes: number; sha256: string; ms: number }; received: { bytes: number; sha256: string } }>;
}

/**
 * Starts a TCP transfer from `from` to `toAddr` (inside `to`) of about chunk * 1000 / tickMs
 * bytes per second for `durationMs` (0: until finish()); resolves once the source is connected.
 */
export async function startPacedTransfer(from: Ns, to: Ns, toAddr: string, durationMs: number, chunk: number, tickMs: number, timeoutMs: number): Promise<PacedTransfer> {
  const sink = to.spawn(process.execPath, ['-e', SINK_JS], { env: { ...process.env, SINK_HOST: toAddr }, label: `paced-sink@${to.name}` });
  const port = (await sink.waitForLine(/^LISTENING (\d+)$/, 10_000))[1]!;
  const source = from.spawn(process.execPath, ['-e', PACED_SOURCE_JS], {
    env: { ...process.env, HOST: toAddr, PORT: port, DURATION: String(durationMs), CHUNK: String(chunk), TICK: String(tickMs), ...seededStreamEnv(`paced-transfer ${pacedCounter++}`) },
    label: `paced-source@${from.name}`,
  });
  await source.waitForLine(/^STARTED$/, 10_000);
  const done = Promise.all([source.waitForLine(/^RESULT (.*)$/, timeoutMs), sink.waitForLine(/^RESULT (.*)$/, timeoutMs)]).then(([s, r]) => ({
    sent: JSON.parse(s[1]!) as { bytes: number; sha256: string; ms: number },
    received: JSON.parse(r[1]!) as { bytes: number; sha256: string },
  }));
  done.catch(() => undefined); // awaited by the test
  return { source, sink, done, finish: () => source.write('stop\n') };
}

/** The MTU of a device in a namespace. */
export async function linkMtu(ns: Ns, dev: string): Promise<number> {
  const r = await ns.exec('ip', ['-o', 'link', 'show', 'dev', dev], { timeoutMs: 5000 });
  const m = / mtu (\d+) /.exec(r.stdout);
  if (!m) throw new Error(`no MTU for ${dev}: ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}
