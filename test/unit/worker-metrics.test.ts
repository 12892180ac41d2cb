/**
 * workers > 1: worker 0's metrics add up every worker's summary (ops/worker-metrics.ts): the
 * answers are checked like any input from another worker, a silent worker is marked and its
 * traffic stays at its last answer (a counter never goes down), concurrent scrapes ask once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkWorkerMetrics, OtherWorkers, type WorkerMetrics } from '../../src/gateway/ops/worker-metrics.js';
import { parseCtlRequest } from '../../src/gateway/priv/ctl-messages.js';
import { zeroTotals } from '../../src/gateway/ops/stats.js';
import { zeroCounters } from '../../src/gateway/ops/data-plane-counters.js';
import { createLogger } from '../../src/log.js';
import type { CtlRelayFn } from '../../src/gateway/ops/ctl-relay.js';

const quiet = createLogger({ level: 'silent', format: 'json' });

const answer = (rx: number, sessions = 1): WorkerMetrics => ({
  sessions: [{ group: 'Employees', state: 'connected', channel: 'TLS', n: sessions }],
  tlsConnections: sessions,
  unauthenticated: 0,
  traffic: { TLS: { ...zeroTotals(), rxBytes: rx, rxPackets: 1 }, DTLS: zeroTotals() },
  counters: zeroCounters(),
  pools: [],
});

test('answers are checked: bounded shapes, counts, known labels', () => {
  const good = answer(100);
  assert.deepEqual(checkWorkerMetrics(JSON.parse(JSON.stringify(good))), good);
  assert.equal(checkWorkerMetrics(null), null);
  assert.equal(checkWorkerMetrics({ ...good, tlsConnections: -1 }), null);
  assert.equal(checkWorkerMetrics({ ...good, sessions: [{ group: 'g', state: 'up', channel: 'TLS', n: 1 }] }), null);
  assert.equal(checkWorkerMetrics({ ...good, sessions: [{ group: 'x'.repeat(300), state: 'connected', channel: 'TLS', n: 1 }] }), null);
  assert.equal(checkWorkerMetrics({ ...good, sessions: new Array(10_001).fill(good.sessions[0]) }), null);
  assert.equal(checkWorkerMetrics({ ...good, traffic: { TLS: { ...zeroTotals(), rxBytes: 1.5 }, DTLS: zeroTotals() } }), null);
  assert.equal(checkWorkerMetrics({ ...good, traffic: { TLS: zeroTotals() } }), null);
});

test('a silent worker is marked; its traffic stays at its last answer; its gauges are left out', async () => {
  const replies: Array<Array<{ worker: number; result: string | null }>> = [
    [{ worker: 1, result: JSON.stringify(answer(100)) }, { worker: 2, result: JSON.stringify(answer(50, 2)) }],
    [{ worker: 1, result: null }, { worker: 2, result: JSON.stringify(answer(70, 1)) }],
    [{ worker: 1, result: '{"not":"metrics"}' }, { worker: 2, result: JSON.stringify(answer(80, 1)) }],
  ];
  const asks: unknown[] = [];
  const relay: CtlRelayFn = async (ask) => {
    asks.push(ask);
    return replies.shift()!;
  };
  const o = new OtherWorkers(relay, quiet);
  await o.refresh();
  assert.deepEqual(asks, [{ op: 'metrics' }]);
  assert.deepEqual([...o.answered], [[1, true], [2, true]]);
  assert.equal(o.traffic().TLS.rxBytes, 150);
  assert.equal(o.fresh().reduce((n, m) => n + m.sessions[0]!.n, 0), 3);
  await o.refresh();
  assert.deepEqual([...o.answered], [[2, true], [1, false]]);
  assert.equal(o.traffic().TLS.rxBytes, 170, 'worker 1 counts with its last answer');
  assert.equal(o.fresh().length, 1);
  await o.refresh();
  assert.equal(o.answered.get(1), false, 'a malformed answer is silence');
  assert.equal(o.traffic().TLS.rxBytes, 180);
});

test('concurrent scrapes share one ask', async () => {
  let asked = 0;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const relay: CtlRelayFn = async () => {
    asked++;
    await gate;
    return [{ worker: 1, result: JSON.stringify(answer(1)) }];
  };
  const o = new OtherWorkers(relay, quiet);
  const a = o.refresh();
  const b = o.refresh();
  release();
  await Promise.all([a, b]);
  assert.equal(asked, 1);
  await o.refresh();
  assert.equal(asked, 2);
});

test('the metrics ask on the channel: no id or user', () => {
  assert.deepEqual(parseCtlRequest({ t: 'ctl-relay', id: 1, ask: { op: 'metrics' } }), { t: 'ctl-relay', id: 1, ask: { op: 'metrics' } });
  assert.throws(() => parseCtlRequest({ t: 'ctl-relay', id: 1, ask: { op: 'metrics', user: 'a' } }), /metrics takes no id or user/);
  assert.throws(() => parseCtlRequest({ t: 'ctl-relay', id: 1, ask: { op: 'stats' } }), /op must be/);
});
