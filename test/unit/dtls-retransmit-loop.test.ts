/**
 * Two endpoints that each answer the other's retransmission must not loop at the speed of the
 * round trip. Found by the attack drill: a ClientHello replayer holding a wrong PSK kept our
 * server sending its flight ~550 times a second until the handshake deadline. Now a
 * retransmission caused by the peer happens at most once per initial timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DtlsClient, DtlsServer, type DtlsResult } from '../../src/dtls/index.js';

test('wrong PSK: the handshake fails at its deadline after a handful of datagrams, not thousands', () => {
  const appId = randomBytes(32);
  const srv = new DtlsServer({ role: 'server', mode: 'psk', psk: randomBytes(32), appId, handshakeTimeoutMs: 10_000 });
  const cli = new DtlsClient({ role: 'client', mode: 'psk', psk: randomBytes(32), appId, handshakeTimeoutMs: 10_000 });
  // A 1 ms link in both directions, driven on a virtual clock until both gave up.
  let now = 0;
  const toSrv: Buffer[] = [];
  const toCli: Buffer[] = [];
  const sent = { srv: 0, cli: 0 };
  const events: string[] = [];
  let srvTimer: number | null = null;
  let cliTimer: number | null = null;
  const take = (who: 'srv' | 'cli', r: DtlsResult): void => {
    (who === 'srv' ? toCli : toSrv).push(...r.send);
    sent[who] += r.send.length;
    if (who === 'srv') srvTimer = r.timerAt;
    else cliTimer = r.timerAt;
    for (const e of r.events) events.push(`${who}:${e.type}`);
  };
  take('cli', cli.start(now));
  for (let step = 0; step < 1_000_000 && now <= 20_000; step++) {
    if (toSrv.length) take('srv', srv.handleDatagram(toSrv.shift()!, (now += 1)));
    else if (toCli.length) take('cli', cli.handleDatagram(toCli.shift()!, (now += 1)));
    else {
      const next = Math.min(srvTimer ?? Infinity, cliTimer ?? Infinity);
      if (next === Infinity) break;
      now = Math.max(now, next);
      if (srvTimer !== null && srvTimer <= now) take('srv', srv.onTimer(now));
      if (cliTimer !== null && cliTimer <= now) take('cli', cli.onTimer(now));
    }
  }
  assert.ok(events.includes('srv:failed'), `server outcome: ${events.join(', ')}`);
  assert.ok(!events.includes('srv:established') && !events.includes('cli:established'));
  // Initial flights plus retransmissions at 1, 2, 4 s and at most one answer per second to the
  // peer's: a few dozen at the very most over 10 s.
  assert.ok(sent.srv <= 30, `server sent ${sent.srv} datagrams`);
  assert.ok(sent.cli <= 30, `client sent ${sent.cli} datagrams`);
});
