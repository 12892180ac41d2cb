import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { Liveness, type LivenessSettings } from '../../src/tunnel/liveness.js';

/** A Liveness on mocked timers; `log` records the callbacks with the (mocked) time in seconds. */
function setup(o: LivenessSettings) {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
  const log: string[] = [];
  const counts = { rxPackets: 0, rxControl: 0, txPackets: 0 };
  const at = (what: string) => () => log.push(`${what}@${Date.now() / 1000}`);
  const live = new Liveness(o, counts, {
    sendProbe: at('probe'),
    sendKeepalive: at('keepalive'),
    dead: at('dead'),
  });
  return { live, log, counts };
}

/** Advances the mocked clock in 1 s steps (Node 20's tick() moves Date to the end first). */
function advance(ms: number): void {
  for (let t = 0; t < ms; t += 1000) mock.timers.tick(1000);
}

test('client: probes after DPD, dead after 2×DPD of silence (§8.2)', (t) => {
  t.after(() => mock.timers.reset());
  const { live, log } = setup({ role: 'client', dpd: 8, keepalive: 0 });
  live.start();
  advance(30_000);
  // ticks every 2 s; probes at most every DPD/2
  assert.deepEqual(log, ['probe@8', 'probe@12', 'dead@16']);
});

test('gateway: probes after 2×DPD, dead after 3×DPD of silence (§8.2)', (t) => {
  t.after(() => mock.timers.reset());
  const { live, log } = setup({ role: 'gateway', dpd: 8, keepalive: 0 });
  live.start();
  advance(40_000);
  assert.deepEqual(log, ['probe@16', 'probe@20', 'dead@24']);
});

test('received packets (seen on a tick) keep the peer alive; keepalive when nothing was sent', (t) => {
  t.after(() => mock.timers.reset());
  const { live, log, counts } = setup({ role: 'client', dpd: 0, keepalive: 4 });
  live.start();
  advance(3_000);
  counts.txPackets++; // sent after the tick at 3 s: the tick at 4 s sees it
  advance(5_000);
  assert.deepEqual(log, ['keepalive@8']);
  live.stop();
  advance(60_000);
  assert.deepEqual(log, ['keepalive@8']);
});

test('rx counter movement resets the DPD clock', (t) => {
  t.after(() => mock.timers.reset());
  const { live, log, counts } = setup({ role: 'client', dpd: 4, keepalive: 0 });
  live.start();
  for (let i = 0; i < 10; i++) {
    if (i % 2) counts.rxPackets++;
    else counts.rxControl++;
    advance(1_000);
  }
  assert.deepEqual(log, []);
  advance(10_000);
  assert.deepEqual(log, ['probe@14', 'probe@16', 'dead@18']);
  live.stop();
});

test('both periods 0: no timer at all', (t) => {
  t.after(() => mock.timers.reset());
  const { live, log } = setup({ role: 'gateway', dpd: 0, keepalive: 0 });
  live.start();
  advance(1_000_000);
  assert.deepEqual(log, []);
});
