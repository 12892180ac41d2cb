/**
 * Issue 11: the gateway's batched DTLS receive (recvmmsg + UDP_GRO, in-place open; see
 * os/udp-rx-batch.ts) against Debian's openconnect 9.01, and its fallback: the same run with
 * `dtls: { batch-receive: false }` (dgram 'message' path). In each DTLS mode openconnect
 * reaches (PSK-NEGOTIATE, DTLS 1.2 with a GCM suite, DTLS 0.9 with CBC+SHA1): a checksummed TCP
 * upload and download, and a UDP exchange of datagrams up to the tunnel MTU, each one checked
 * by the receiver against its own digest and echoed back intact. The gateway's log says which
 * receive path ran, and its counters that DTLS carried the traffic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, execIn, interopSkipReason, seededStreamEnv, tcpTransfer, type Ns, type Testbed } from '../helpers/netns.js';
import { startOpenconnect, type OpenconnectClient } from '../helpers/openconnect.js';
import { gwHost, startGateway, type SslgateGateway } from '../helpers/sslgate.js';

const skip = interopSkipReason(['openconnect', 'ip']);
const MB4 = 4 * 1024 * 1024;

const MODES: Array<{ name: string; args: string[]; expect: RegExp }> = [
  { name: 'PSK-NEGOTIATE', args: [], expect: /\(DTLS1\.2\)-\(PSK\)-\(AES-256-GCM\)/ },
  { name: 'DTLS 1.2 AES256-GCM-SHA384', args: ['--dtls12-ciphers=AES256-GCM-SHA384'], expect: /\(DTLS1\.2\)-\(RSA\)-\(AES-256-GCM\)/ },
  { name: 'DTLS 0.9 AES128-SHA', args: ['--dtls-ciphers=AES128-SHA'], expect: /\(DTLS0\.9\)-\(RSA\)-\(AES-128-CBC\)-\(SHA1\)/ },
];

/** Echoes every datagram whose digest checks out; counts the ones that do not. */
const UDP_ECHO_JS = `
const dgram = require('node:dgram'); const { createHash } = require('node:crypto');
const s = dgram.createSocket('udp4'); let bad = 0, good = 0;
s.on('message', (m, ri) => {
  const d = createHash('sha256').update(m.subarray(12)).digest();
  if (m.length < 12 || !d.subarray(0, 8).equals(m.subarray(4, 12))) { bad++; return; }
  good++; s.send(m, ri.port, ri.address);
});
s.bind(0, process.env.HOST, () => console.log('LISTENING ' + s.address().port));
process.on('SIGTERM', () => { console.log('RESULT ' + JSON.stringify({ good, bad })); process.exit(0); });
`;

/**
 * Sends COUNT datagrams (seeded sizes 13..MAX, a tenth of them exactly MAX) with a window of 32;
 * a datagram counts when its echo is byte-identical; unanswered ones are resent after 300 ms
 * (UDP may drop; the window keeps that rare).
 */
const UDP_SOURCE_JS = `
const dgram = require('node:dgram'); const { createHash, createCipheriv } = require('node:crypto');
const rng = createCipheriv('aes-256-ctr', Buffer.from(process.env.RNG_KEY, 'hex'), Buffer.from(process.env.RNG_IV, 'hex'));
const rand = (n) => rng.update(Buffer.alloc(n));
const COUNT = Number(process.env.COUNT), MAX = Number(process.env.MAX);
const msgs = [];
for (let i = 0; i < COUNT; i++) {
  const r = rand(2).readUInt16LE(0);
  const len = r % 10 === 0 ? MAX : 13 + (r % (MAX - 12));
  const m = Buffer.alloc(len); m.writeUInt32BE(i, 0); rand(len - 12).copy(m, 12);
  createHash('sha256').update(m.subarray(12)).digest().copy(m, 4, 0, 8);
  msgs.push(m);
}
const s = dgram.createSocket('udp4');
const acked = new Uint8Array(COUNT), sentAt = new Float64Array(COUNT);
let next = 0, done = 0, mismatched = 0, resent = 0;
const send = (i) => { sentAt[i] = Date.now(); s.send(msgs[i], Number(process.env.PORT), process.env.HOST); };
const fill = () => { while (next < COUNT && next - done < 32) send(next++); };
s.on('message', (m) => {
  const i = m.length >= 4 ? m.readUInt32BE(0) : -1;
  if (i < 0 || i >= COUNT || acked[i]) return;
  if (!m.equals(msgs[i])) { mismatched++; return; }
  acked[i] = 1; done++;
  if (done === COUNT) { console.log('RESULT ' + JSON.stringify({ done, mismatched, resent })); process.exit(0); }
  fill();
});
setInterval(() => { const now = Date.now(); for (let i = 0; i < next; i++) if (!acked[i] && now - sentAt[i] > 300) { resent++; send(i); } }, 100);
s.bind(0, () => fill());
`;

async function udpExchange(from: Ns, to: Ns, toAddr: string, count: number, max: number, label: string) {
  const echo = to.spawn(process.execPath, ['-e', UDP_ECHO_JS], { env: { ...process.env, HOST: toAddr }, label: `udp-echo@${to.name}` });
  try {
    const port = (await echo.waitForLine(/^LISTENING (\d+)$/, 10_000))[1]!;
    const src = from.spawn(process.execPath, ['-e', UDP_SOURCE_JS], {
      env: { ...process.env, HOST: toAddr, PORT: port, COUNT: String(count), MAX: String(max), ...seededStreamEnv(label) },
      label: `udp-source@${from.name}`,
    });
    try {
      const r = JSON.parse((await src.waitForLine(/^RESULT (.*)$/, 120_000))[1]!) as { done: number; mismatched: number; resent: number };
      await echo.stop('SIGTERM', 2000);
      const e = JSON.parse((await echo.waitForLine(/^RESULT (.*)$/, 2000))[1]!) as { good: number; bad: number };
      return { ...r, ...e };
    } finally {
      await src.stop('SIGKILL', 2000);
    }
  } finally {
    await echo.stop('SIGKILL', 2000);
  }
}

async function linkMtu(ns: Ns, iface: string): Promise<number> {
  const r = await execIn(ns.name, 'ip', ['-o', 'link', 'show', 'dev', iface]);
  const m = /\bmtu (\d+)/.exec(r.stdout);
  assert.ok(m, `no MTU for ${iface}: ${r.stdout} ${r.stderr}`);
  return Number(m[1]);
}

for (const batch of [true, false]) {
  test(`openconnect 9.01 -> sslgate over DTLS, batched receive ${batch ? 'on' : 'off (dgram fallback)'}`, { skip, timeout: 400_000 }, async (t) => {
    let tb: Testbed | undefined;
    let gw: SslgateGateway | undefined;
    let oc: OpenconnectClient | undefined;
    t.after(async () => {
      await oc?.stop().catch(() => undefined);
      await gw?.stop().catch(() => undefined);
      await tb?.cleanup();
    });
    tb = await createTestbed({ tag: batch ? 'rxbon' : 'rxboff' });
    const net = tb.poolNet(0);
    gw = await startGateway(tb.gw, {
      listenHost: tb.gwAddr,
      yaml: `network:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\ndtls: { batch-receive: ${batch} }\n`,
      users: [{ name: 'alice', password: 'secret' }],
    });
    // The gateway's output is read asynchronously: wait for the line rather than expect it already.
    const path = await gw.waitLog(/DTLS data path"/, 10_000).catch(() => undefined);
    assert.ok(path, 'no "DTLS data path" log line');
    // The addon is built for tests (CI builds it): on means recvmmsg, off means dgram.
    assert.equal(path['recvmmsg'], batch, JSON.stringify(path));

    for (const mode of MODES) {
      await t.test(mode.name, async () => {
        oc = startOpenconnect(tb!.cl, { url: gw!.url, servercert: gw!.pin, user: 'alice', password: 'secret', authgroup: 'Employees', extraArgs: mode.args });
        const tun = await oc.waitTunnel(20_000);
        const est = await oc.proc.waitForLine(/Established DTLS connection.*Ciphersuite (.*)$/, 15_000);
        assert.match(est[0], mode.expect);
        const up = await tcpTransfer(tb!.cl, tb!.gw, gwHost(net), MB4);
        assert.equal(up.receivedSha256, up.sentSha256);
        assert.equal(up.bytes, MB4);
        const down = await tcpTransfer(tb!.gw, tb!.cl, tun.address, MB4);
        assert.equal(down.receivedSha256, down.sentSha256);
        const max = (await linkMtu(tb!.cl, tun.iface)) - 28;
        const u = await udpExchange(tb!.cl, tb!.gw, gwHost(net), 3000, max, `udp ${batch} ${mode.name}`);
        assert.equal(u.done, 3000);
        assert.equal(u.mismatched, 0);
        assert.equal(u.bad, 0, 'a datagram arrived corrupted at the gateway side');
        t.diagnostic(`${mode.name}: UDP max payload ${max}, resent ${u.resent}`);
        const mark = gw!.proc.lines.length;
        await oc.stop();
        oc = undefined;
        const closed = await gw!.waitLog(/client disconnected/, 5000, mark);
        // 4 MB up is ~3,000 full-size segments, plus 3,000 UDP datagrams: nearly all over DTLS.
        assert.ok(Number(closed['dtlsRxPackets']) > 5_000, `DTLS rx packets: ${closed['dtlsRxPackets']} (CSTP rx ${closed['rxPackets']})`);
        assert.ok(Number(closed['dtlsTxPackets']) > 5_000, `DTLS tx packets: ${closed['dtlsTxPackets']} (CSTP tx ${closed['txPackets']})`);
      });
    }
    // The listener's own counters: on, the datagrams came in recvmmsg batches; off, none did.
    const mark = gw.proc.lines.length;
    await gw.stop();
    const c = await gw.waitLog(/DTLS listener closed/, 5000, mark);
    t.diagnostic(`listener: ${JSON.stringify(c)}`);
    assert.equal(c['recvmmsg'], batch);
    assert.ok(Number(c['rxDatagrams']) > 3 * 5_000, `rxDatagrams ${c['rxDatagrams']}`);
    if (batch) assert.ok(Number(c['rxBatches']) > 0 && Number(c['rxBatches']) <= Number(c['rxDatagrams']));
    else assert.equal(Number(c['rxBatches']), 0);
    assert.equal(Number(c['rxDropped']), 0);
  });
}
