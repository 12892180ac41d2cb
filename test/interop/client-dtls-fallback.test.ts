/**
 * Issue 4, client test 4: the gateway's UDP port is dropped (nftables, in the gateway's
 * namespace) before the client connects. [SEED] §6.1 exactly: the client's DTLS ClientHello
 * goes out at t0 and is retried after 1, 2, 4, 8, 16 s (±10%, from the client's own log
 * timestamps); 16 s after the last retry it falls back: the TUN MTU goes from the DTLS MTU to
 * X-CSTP-MTU, the vpnc-script runs with reason=reconnect and the new INTERNAL_IP4_MTU, no new
 * CONNECT is sent, and a TCP transfer that started while DTLS was still being tried (before the
 * fallback) carries on over TLS across the MTU change and completes intact.
 *
 * Against our gateway, whose X-CSTP-MTU (TLS path) is smaller than the DTLS MTU, so the MTU
 * change is visible (ocserv answers the same value for both, §6.9).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTestbed, interopSkipReason, tempDir, type Testbed } from '../helpers/netns.js';
import { VPNC_SCRIPT } from '../helpers/openconnect.js';
import { gwHost, startGateway, type SslgateGateway } from '../helpers/sslgate.js';
import { startClient, type SslgateClient } from './client-harness.js';
import { blockUdp, linkMtu, logMs, startPacedTransfer, traffic, unblockUdp } from './client-dtls-harness.js';
import { DTLS_ROUND_MS } from '../../src/client/dtls-schedule.js';

const skip = interopSkipReason(['ping', 'ip', 'nft'], [VPNC_SCRIPT]);
const SCHEDULE = [1000, 2000, 4000, 8000, 16000];
/** how much earlier than the round's end the fallback may appear in the log stamps (see below) */
const ROUND_SLACK_MS = 1000;

test('UDP blocked: DTLS retried after 1, 2, 4, 8, 16 s, then X-CSTP-MTU and TLS only', { skip, timeout: 240_000 }, async (t) => {
  let tb: Testbed | undefined;
  let gw: SslgateGateway | undefined;
  let c: SslgateClient | undefined;
  t.after(async () => {
    await c?.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    if (tb) await unblockUdp(tb.gw).catch(() => undefined);
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'cldf' });
  const net = tb.poolNet(0);
  gw = await startGateway(tb.gw, {
    listenHost: tb.gwAddr,
    yaml: `network:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
    users: [{ name: 'alice', password: 'secret' }],
  });
  await blockUdp(tb.gw, 443);

  // A vpnc-script that records each call, then does what Debian's does.
  const dir = tempDir('cldf-script');
  const calls = path.join(dir, 'calls');
  const script = path.join(dir, 'script.sh');
  fs.writeFileSync(script, `#!/bin/sh\necho "$reason $INTERNAL_IP4_MTU" >> ${calls}\nexec ${VPNC_SCRIPT}\n`, { mode: 0o755 });

  c = startClient(tb.cl, { url: gw.url, prefsDir: tempDir('cldf-prefs'), user: 'alice', passwords: ['secret'], servercert: [gw.pin], authgroup: 'Employees', iface: 'sgdf0', script });
  const tun = await c.waitTunnel();
  const cstpMtu = Number(/CONNECT answered: .*?, MTU (\d+) /.exec(c.output())?.[1]);
  assert.ok(cstpMtu > 0, 'X-CSTP-MTU in the log');
  assert.ok(tun.mtu > cstpMtu, `the TUN starts with the DTLS MTU (${tun.mtu}), which is larger than X-CSTP-MTU ${cstpMtu} here`);
  assert.equal(await linkMtu(tb.cl, 'sgdf0'), tun.mtu);

  // ~1.3 MB/s from now until 5 s after the MTU change (round start + 47 s): it spans the change
  // however late the fallback comes.
  const transfer = await startPacedTransfer(tb.cl, tb.gw, gwHost(net), 0, 32 * 1024, 25, 150_000);

  const fallback = await c.proc.waitForLine(/^DTLS fallback: the gateway did not answer the DTLS ClientHello \(6 attempts/, 60_000);
  const mtuLine = await c.proc.waitForLine(new RegExp(`^TUN sgdf0 MTU ${tun.mtu} -> ${cstpMtu} \\(DTLS fallback: X-CSTP-MTU\\)`), 10_000);
  await c.proc.waitForLine(/vpnc-script reconnect done/, 10_000);
  assert.equal(await linkMtu(tb.cl, 'sgdf0'), cstpMtu, 'TUN MTU is X-CSTP-MTU after the fallback');
  await new Promise((r) => setTimeout(r, 5000));
  transfer.finish();

  const attempts = c.proc.lines.map((l) => l.text).filter((l) => /^DTLS attempt \d of 6: ClientHello/.test(l));
  assert.equal(attempts.length, 6, attempts.join('\n'));
  const times = attempts.map(logMs);
  const gaps = times.slice(1).map((x, i) => x - times[i]!);
  t.diagnostic(`attempts at +${times.map((x) => x - times[0]!).join(', +')} ms (gaps ${gaps.join(', ')} ms); fallback at +${logMs(fallback.input!) - times[0]!} ms; MTU ${tun.mtu} -> ${cstpMtu} at +${logMs(mtuLine.input!) - times[0]!} ms`);
  // No speed limits here (a loaded machine fires timers late): the exact schedule is checked on
  // a fake clock in test/unit/client-dtls-schedule.test.ts. Real time is read from log stamps,
  // taken a little after each send (the first one ~15 ms late in a quiet run), so a gap can look
  // shorter than its timer. What this checks, generously, is the shape: six attempts, each wait at
  // least half its planned length (a retransmission without back-off fails from retry 2 on), and
  // a fallback only after (nearly) the whole 47 s round.
  gaps.forEach((g, i) => assert.ok(g >= SCHEDULE[i]! / 2, `retry ${i + 1} came ${g} ms after the previous attempt; its wait is ${SCHEDULE[i]} ms`));
  const round = logMs(fallback.input!) - times[0]!;
  assert.ok(round >= DTLS_ROUND_MS - ROUND_SLACK_MS, `fallback ${round} ms after the first attempt, before the ${DTLS_ROUND_MS} ms round ended`);
  const lastWait = logMs(fallback.input!) - times[5]!;
  assert.ok(lastWait > 0, `the fallback (+${round} ms) came after the last retry`);

  const scriptCalls = fs.readFileSync(calls, 'utf8').trim().split('\n');
  assert.deepEqual(scriptCalls, ['pre-init ', `connect ${tun.mtu}`, `reconnect ${cstpMtu}`], 'vpnc-script: connect with the DTLS MTU, then reconnect with X-CSTP-MTU');
  assert.equal(c.output().match(/CONNECT answered/g)?.length, 1, 'no new CONNECT');

  const res = await transfer.done;
  assert.equal(res.received.bytes, res.sent.bytes);
  assert.equal(res.received.sha256, res.sent.sha256);
  const endT = transfer.sink.lines.find((l) => l.text.startsWith('RESULT'))!.t;
  const fbT = c.proc.lines.find((l) => l.text === fallback.input)!.t;
  assert.ok(endT > fbT, 'the transfer was still running when the MTU changed');
  t.diagnostic(`paced transfer ${res.sent.bytes} bytes in ${res.sent.ms} ms, intact, ended ${Math.round((endT - fbT) / 1000)} s after the fallback`);

  const client = c;
  const st = await client.stop();
  c = undefined;
  assert.equal(st.code, 0);
  const tr = traffic(client);
  assert.equal(tr.dtlsTx + tr.dtlsRx, 0, 'nothing went over DTLS');
  assert.ok(tr.tlsTx > 10_000, `TLS tx ${tr.tlsTx} packets`);
});
