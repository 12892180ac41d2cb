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
import { COUNTER_KEYS, type DataPlaneCounters } from '../../src/gateway/ops/data-plane-counters.js';
import { GatewayMetrics } from '../../src/gateway/ops/metrics.js';
import { OpsStats } from '../../src/gateway/ops/stats.js';
import { status } from '../../src/gateway/ops/admin-api.js';
import { parsePrometheus, valueOf } from '../helpers/prometheus.js';
import { seeded } from '../helpers/seed.js';
import { FakeGateway } from './ops-helpers.js';

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

/** An answer with data-plane counters (every key `base`, tunRead `tunRead`) and leases in 10.50.0.1/24. */
const full = (tunRead: number, leased: number, base = 1): WorkerMetrics => ({
  ...answer(tunRead * 10),
  counters: { ...(Object.fromEntries(COUNTER_KEYS.map((k) => [k, base])) as DataPlaneCounters), tunRead },
  pools: [{ pool: '10.50.0.1/24', leased }],
});

test('the data-plane counters and pool leases of an answer are checked strictly', () => {
  const good = full(7, 2);
  assert.deepEqual(checkWorkerMetrics(JSON.parse(JSON.stringify(good))), good);
  const bad: Array<[string, unknown]> = [
    ['extra top key', { ...good, extra: 1 }],
    ['counters missing', { ...good, counters: undefined }],
    ['a counter key missing', { ...good, counters: { ...good.counters, tunRead: undefined } }],
    ['an unknown counter key', { ...good, counters: { ...good.counters, bogus: 1 } }],
    ['a negative counter', { ...good, counters: { ...good.counters, spoofed: -1 } }],
    ['a fractional counter', { ...good, counters: { ...good.counters, spoofed: 0.5 } }],
    ['an unsafe counter', { ...good, counters: { ...good.counters, spoofed: 2 ** 60 } }],
    ['a string counter', { ...good, counters: { ...good.counters, spoofed: '1' } }],
    ['counters as an array', { ...good, counters: COUNTER_KEYS.map(() => 0) }],
    ['pools not a list', { ...good, pools: { pool: '10.50.0.1/24', leased: 1 } }],
    ['a non-canonical pool', { ...good, pools: [{ pool: '10.50.0.01/24', leased: 1 }] }],
    ['a pool that is no CIDR', { ...good, pools: [{ pool: 'Employees', leased: 1 }] }],
    ['a pool twice', { ...good, pools: [{ pool: '10.50.0.1/24', leased: 1 }, { pool: '10.50.0.1/24', leased: 1 }] }],
    ['a pool row with more keys', { ...good, pools: [{ pool: '10.50.0.1/24', leased: 1, free: 3 }] }],
    ['leases past an IPv4 space', { ...good, pools: [{ pool: '10.50.0.1/24', leased: 2 ** 32 + 1 }] }],
    ['too many pool rows', { ...good, pools: Array.from({ length: 10_001 }, (_, i) => ({ pool: `10.${i >> 8}.${i & 255}.0/24`, leased: 0 })) }],
    ['a traffic total with more keys', { ...good, traffic: { ...good.traffic, TLS: { ...good.traffic.TLS, more: 1 } } }],
    ['a third traffic channel', { ...good, traffic: { ...good.traffic, UDP: zeroTotals() } }],
    ['a session row with more keys', { ...good, sessions: [{ ...good.sessions[0], user: 'x' }] }],
  ];
  for (const [what, v] of bad) assert.equal(checkWorkerMetrics(JSON.parse(JSON.stringify(v))), null, what);
});

test('random damage to an answer: never a throw, and what passes is well-formed', () => {
  const rnd = seeded('worker metrics garbage');
  const text = JSON.stringify(full(7, 2));
  const junk = ['-1', '1e400', '"x"', 'null', '[]', '{}', '0.5', '9007199254740993', 'true'];
  for (let i = 0; i < 2000; i++) {
    let t = text;
    for (let n = 1 + rnd.int(3); n > 0; n--) {
      const at = rnd.int(t.length);
      const k = rnd.int(3);
      if (k === 0) t = t.slice(0, at) + t.slice(at + 1 + rnd.int(8));
      else if (k === 1) t = t.slice(0, at) + junk[rnd.int(junk.length)]! + t.slice(at);
      else t = t.slice(0, at) + String.fromCharCode(32 + rnd.int(95)) + t.slice(at + 1);
    }
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      continue;
    }
    const r = checkWorkerMetrics(v);
    if (r === null) continue;
    for (const k of COUNTER_KEYS) assert.ok(Number.isSafeInteger(r.counters[k]) && r.counters[k] >= 0, t);
    for (const p of r.pools) assert.ok(Number.isSafeInteger(p.leased) && p.leased >= 0 && p.leased <= 2 ** 32, t);
  }
});

test('a worker\'s counters never go down: a lower answer keeps the largest one seen', async () => {
  const replies = [
    [{ worker: 1, result: JSON.stringify(full(100, 1, 5)) }],
    [{ worker: 1, result: JSON.stringify({ ...full(40, 1, 2), traffic: { TLS: zeroTotals(), DTLS: zeroTotals() } }) }],
    [{ worker: 1, result: JSON.stringify(full(120, 0, 9)) }],
  ];
  const o = new OtherWorkers(async () => replies.shift()!, quiet);
  await o.refresh();
  assert.equal(o.counters().tunRead, 100);
  await o.refresh();
  assert.equal(o.counters().tunRead, 100, 'not 40');
  assert.equal(o.counters().spoofed, 5, 'not 2');
  assert.equal(o.traffic().TLS.rxBytes, 1000, 'traffic not back to 0');
  assert.equal(o.leases().get('10.50.0.1/24'), 1, 'a gauge is as answered');
  await o.refresh();
  assert.equal(o.counters().tunRead, 120);
  assert.equal(o.counters().spoofed, 9);
  assert.equal(o.leases().get('10.50.0.1/24'), 0);
});

test('worker 0\'s metrics and ctl status add up the other workers (router, TUN, DTLS, pools, open tunnels)', async (t) => {
  const gw = new FakeGateway();
  const stats = new OpsStats(gw);
  let replies: Array<{ worker: number; result: string | null }> = [
    { worker: 1, result: JSON.stringify(full(30, 2)) },
    { worker: 2, result: JSON.stringify({ ...full(12, 1), pools: [{ pool: '10.50.0.1/24', leased: 1 }, { pool: '172.16.0.0/16', leased: 50 }] }) },
  ];
  const others = new OtherWorkers(async () => replies, quiet);
  const m = new GatewayMetrics(gw, stats, others);
  t.after(() => (m.close(), stats.close()));
  const a = gw.connect('alice');
  a.fake.counters.rxBytes = 5000;
  a.fake.counters.rxPackets = 5;
  let e = parsePrometheus(await m.text());
  // FakeGateway: tunRxPackets 5, noRoute 1, superPackets 3, segments 90, unknownPeer 3, expired 4
  assert.equal(valueOf(e, 'sslgate_router_packets_total', { result: 'tun-read' }), 5 + 30 + 12);
  assert.equal(valueOf(e, 'sslgate_router_packets_total', { result: 'no-route' }), 1 + 1 + 1);
  assert.equal(valueOf(e, 'sslgate_tun_reads_total', { result: 'segment' }), 90 + 1 + 1);
  assert.equal(valueOf(e, 'sslgate_tun_gro_writes_total', { result: 'segments' }), 40 + 1 + 1);
  assert.equal(valueOf(e, 'sslgate_dtls_listener_total', { event: 'unknown-peer' }), 3 + 1 + 1);
  assert.equal(valueOf(e, 'sslgate_dtls_listener_total', { event: 'peer-adopted' }), 0 + 1 + 1);
  assert.equal(valueOf(e, 'sslgate_auth_deadline_expired_total'), 4 + 1 + 1);
  assert.equal(valueOf(e, 'sslgate_refused_connections_total', { reason: 'unauth-total' }), 0 + 1 + 1);
  assert.equal(valueOf(e, 'sslgate_state_store_errors_total'), 0 + 1 + 1);
  assert.equal(valueOf(e, 'sslgate_pool_addresses', { pool: '10.50.0.1/24', state: 'leased' }), 1 + 2 + 1);
  assert.equal(valueOf(e, 'sslgate_pool_addresses', { pool: '10.50.0.1/24', state: 'free' }), 253 - 4);
  assert.ok(!e.samples.some((x) => x.labels['pool'] === '172.16.0.0/16'), 'a pool worker 0 does not know is not a series');
  const liar = new OtherWorkers(async () => [{ worker: 1, result: JSON.stringify({ ...full(1, 1), pools: [{ pool: '10.50.0.1/24', leased: 100_000 }] }) }], quiet);
  const m2 = new GatewayMetrics(gw, stats, liar);
  t.after(() => m2.close());
  const e2 = parsePrometheus(await m2.text());
  assert.equal(valueOf(e2, 'sslgate_pool_addresses', { pool: '10.50.0.1/24', state: 'leased' }), 253, 'no more leases than the pool holds');
  assert.equal(valueOf(e2, 'sslgate_pool_addresses', { pool: '10.50.0.1/24', state: 'free' }), 0);
  const st = (await status({ gw, stats, metrics: m, log: quiet })) as { sessions: { total: number; connected: number }; traffic: { bytesIn: number; packetsIn: number }; tlsConnections: number; unanswered?: number[] };
  assert.equal(st.traffic.bytesIn, 5000 + 300 + 120, "worker 0's open tunnel + each other worker's running total");
  assert.equal(st.sessions.connected, 3);
  assert.equal(st.tlsConnections, 2 + 1 + 1);
  assert.equal(st.unanswered, undefined);
  assert.deepEqual((st as unknown as { refusedConnections: Record<string, number> }).refusedConnections, { banned: 2, 'rate-limit': 2, 'unauth-per-address': 2, 'unauth-total': 2 });

  // Worker 1 silent: its leases and sessions leave the gauges, its counters stay.
  replies = [{ worker: 1, result: null }, { worker: 2, result: JSON.stringify(full(13, 1)) }];
  e = parsePrometheus(await m.text());
  assert.equal(valueOf(e, 'sslgate_router_packets_total', { result: 'tun-read' }), 5 + 30 + 13);
  assert.equal(valueOf(e, 'sslgate_pool_addresses', { pool: '10.50.0.1/24', state: 'leased' }), 1 + 1);
  const st2 = (await status({ gw, stats, metrics: m, log: quiet })) as { sessions: { connected: number }; traffic: { bytesIn: number }; unanswered?: number[] };
  assert.deepEqual(st2.unanswered, [1]);
  assert.equal(st2.sessions.connected, 2);
  assert.equal(st2.traffic.bytesIn, 5000 + 300 + 130, 'worker 1 with its last answer');
});
