/**
 * Issue 9 §2, the DTLS replay attack, with real peers: Debian's openconnect 9.01 connected to our
 * gateway over DTLS moves 20 MB each way while an attacker in the client's namespace (the same
 * source address, other ports) floods the gateway with handshakes that name the live session's
 * DTLS id (taken from the gateway with `sslgate ctl session ID --json`; on the wire it is in clear
 * in every ClientHello): full handshakes with a wrong key, bare ClientHellos, garbage.
 *
 * The transfer completes with its checksum; the gateway's counters show the data stayed on DTLS;
 * the gateway answered the attacker (so the attack reached the handshake) but no attacker
 * handshake completed, the only "DTLS up" is openconnect's, and openconnect's association was
 * never closed or replaced. Before issue 9 the first ClientHello of the flood replaced the live
 * association (DTLS dropped to TLS until openconnect's next DTLS attempt).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { lookupDtlsCipherName } from '../../src/dtls/index.js';
import type { SessionView } from '../../src/gateway/ops/session-view.js';
import { ctlJson } from '../helpers/ctl.js';
import { createTestbed, interopSkipReason, tcpTransfer, type NsProcess, type Testbed } from '../helpers/netns.js';
import { startOpenconnect, type OpenconnectClient } from '../helpers/openconnect.js';
import { gwHost, startGateway, type SslgateGateway } from '../helpers/sslgate.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip']);
const MB20 = 20 * 1024 * 1024;
const ATTACKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dtls-replay-attacker.js');

const MODES: Array<{ name: string; args: string[]; expect: RegExp }> = [
  { name: 'PSK-NEGOTIATE (openconnect default)', args: [], expect: /\(DTLS1\.2\)-\(PSK\)/ },
  { name: 'DTLS 0.9 AES256-SHA (resume)', args: ['--dtls-ciphers=AES256-SHA'], expect: /\(DTLS0\.9\)-\(RSA\)-\(AES-256-CBC\)/ },
];

interface AttackStats {
  attempts: number;
  established: number;
  failed: number;
  answers: number;
}

test('openconnect over DTLS keeps its association while an attacker replays the session id', { skip, timeout: 300_000 }, async (t) => {
  let tb: Testbed | undefined;
  let gw: SslgateGateway | undefined;
  let oc: OpenconnectClient | undefined;
  let attacker: NsProcess | undefined;
  t.after(async () => {
    await attacker?.stop('SIGKILL', 2000).catch(() => undefined);
    await oc?.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'gwrply' });
  const net = tb.poolNet(0);
  gw = await startGateway(tb.gw, {
    listenHost: tb.gwAddr,
    yaml: `network:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
    users: [{ name: 'alice', password: 'secret' }],
  });

  for (const mode of MODES) {
    await t.test(mode.name, async () => {
      const mark = gw!.proc.lines.length;
      oc = startOpenconnect(tb!.cl, { url: gw!.url, servercert: gw!.pin, user: 'alice', password: 'secret', authgroup: 'Employees', extraArgs: mode.args });
      const tun = await oc.waitTunnel(20_000);
      const est = await oc.proc.waitForLine(/Established DTLS connection.*Ciphersuite (.*)$/, 15_000);
      assert.match(est[0], mode.expect);
      const up = await gw!.waitLog(/DTLS up/, 10_000, mark);
      const livePeer = String(up['peer']);

      // What the attacker knows: the session's DTLS id (and which mode it is in), no keys.
      const sessions = await ctlJson<SessionView[]>(gw!, ['sessions']);
      const mine = sessions.find((s) => s.state === 'connected' && s.channel?.dtls?.established);
      assert.ok(mine, JSON.stringify(sessions));
      const view = await ctlJson<SessionView>(gw!, ['session', String(mine.id)]);
      const dtls = view.channel!.dtls!;
      assert.match(dtls.id, /^[0-9a-f]{64}$/);
      const args = [ATTACKER, tb!.gwAddr, '443'];
      if (dtls.mode === 'PSK-NEGOTIATE') args.push('psk', dtls.id);
      else {
        const setup = lookupDtlsCipherName('X-DTLS-CipherSuite', dtls.mode.replace(/^DTLS0\.9 /, ''));
        assert.ok(setup && setup.mode === 'resume', dtls.mode);
        args.push('resume', dtls.id, String(setup.version), String(setup.suite));
      }
      attacker = tb!.cl.spawn(process.execPath, args, { label: 'dtls-attacker' });
      await attacker.waitForLine(/^attacking$/, 10_000);
      // The flood reached the handshake stage (the gateway answered one) before the transfer starts.
      await attacker.waitForLine(/^answered$/, 10_000);

      const upl = await tcpTransfer(tb!.cl, tb!.gw, gwHost(net), MB20);
      assert.equal(upl.receivedSha256, upl.sentSha256);
      const down = await tcpTransfer(tb!.gw, tb!.cl, tun.address, MB20);
      assert.equal(down.receivedSha256, down.sentSha256);
      const during = await ctlJson<SessionView>(gw!, ['session', String(mine.id)]);
      assert.equal(during.channel?.type, 'DTLS', 'data still goes over DTLS under attack');

      await attacker.stop('SIGTERM', 5000);
      const statsLine = attacker.lines.find((l) => l.text.startsWith('{'));
      assert.ok(statsLine, attacker.tail());
      const stats = JSON.parse(statsLine.text) as AttackStats;
      attacker = undefined;
      t.diagnostic(`${mode.name}: attacker ${JSON.stringify(stats)}; 20 MB up ${((MB20 * 8) / upl.ms / 1000).toFixed(0)} Mbit/s, down ${((MB20 * 8) / down.ms / 1000).toFixed(0)} Mbit/s`);
      assert.ok(stats.attempts >= 100, `only ${stats.attempts} attack handshakes`);
      assert.ok(stats.answers > 0, 'the gateway never answered the attacker: the attack did not reach the handshake');
      assert.equal(stats.established, 0);

      // Gateway side: one DTLS association for the whole run, never closed or replaced.
      assert.equal(gw!.proc.lines.slice(mark).filter((l) => l.text.includes('"msg":"DTLS up"')).length, 1);
      assert.equal(gw!.proc.lines.slice(mark).filter((l) => l.text.includes('"msg":"DTLS closed')).length, 0);
      // The attacker's handshakes ended as failures (wrong key, or no answer by the deadline).
      const failed = await gw!.waitLog(/DTLS handshake failed/, 30_000, mark);
      assert.notEqual(String(failed['peer']), livePeer);

      const stopMark = gw!.proc.lines.length;
      await oc.stop();
      oc = undefined;
      const closed = await gw!.waitLog(/client disconnected/, 5000, stopMark);
      // 2 x 20 MB is ~30,000 full-size packets; nearly all of them must have gone over DTLS.
      assert.ok(Number(closed['dtlsRxPackets']) > 10_000, `DTLS rx packets: ${closed['dtlsRxPackets']} (CSTP rx ${closed['rxPackets']})`);
      assert.ok(Number(closed['dtlsTxPackets']) > 10_000, `DTLS tx packets: ${closed['dtlsTxPackets']} (CSTP tx ${closed['txPackets']})`);
    });
  }
});
