/**
 * Worker 0's admin API with several workers (the relay faked): live views of the others'
 * sessions, a worker that does not answer shown from the store (marked), disconnect/terminate
 * merged across workers, and an unknown session still 404. The real thing (openconnect,
 * workers: 2) is test/interop/multicore-ctl.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { route, type AdminContext } from '../../src/gateway/ops/admin-api.js';
import type { CtlRelayFn } from '../../src/gateway/ops/ctl-relay.js';
import { GatewayMetrics } from '../../src/gateway/ops/metrics.js';
import { sessionView } from '../../src/gateway/ops/session-view.js';
import { OpsStats } from '../../src/gateway/ops/stats.js';
import type { CtlAsk } from '../../src/gateway/priv/ctl-messages.js';
import { sessionRecordOf } from '../../src/gateway/state/session-record.js';
import { MemoryStore } from '../../src/gateway/state/memory-store.js';
import { createLogger } from '../../src/log.js';
import { FakeGateway } from './ops-helpers.js';

const quiet = createLogger({ level: 'silent', format: 'json' });

async function setup(answer: (ask: CtlAsk) => string | null): Promise<{ c: AdminContext; asks: CtlAsk[]; other: ReturnType<FakeGateway['connect']> }> {
  const gw = new FakeGateway();
  const store = new MemoryStore();
  Object.assign(gw, { node: 'gw', workerCount: 2, store });
  const mine = gw.connect('alice');
  // worker 1's session: in the store, and live on the other (fake) worker
  const w1 = new FakeGateway();
  for (let i = 0; i <= mine.id; i++) w1.sessions.create('x', w1.currentConfig.groups[0]!, w1.pools.get('default')!, '10.0.0.1', 'ua'); // ids apart
  const other = w1.connect('bob', '10.77.0.9');
  other.fake.counters.rxBytes = 4242;
  await store.putSession(sessionRecordOf(mine, 'gw'));
  await store.putSession(sessionRecordOf(other, 'gw'));
  const asks: CtlAsk[] = [];
  const relay: CtlRelayFn = (ask) => {
    asks.push(ask);
    return Promise.resolve([{ worker: 1, result: answer(ask) }]);
  };
  const stats = new OpsStats(gw);
  const c: AdminContext = { gw, stats, metrics: new GatewayMetrics(gw, stats), log: quiet, relay };
  return { c, asks, other };
}

const get = (path: string, query = ''): { method: string; path: string; query: URLSearchParams } => ({ method: 'GET', path, query: new URLSearchParams(query) });
const post = (path: string): { method: string; path: string; query: URLSearchParams } => ({ method: 'POST', path, query: new URLSearchParams() });

test('ctl sessions: the other worker answers: its sessions with live details and their worker', async () => {
  let otherView: unknown = null;
  const { c, other } = await setup((ask) => (ask.op === 'sessions' ? JSON.stringify(otherView) : null));
  otherView = [sessionView(other)];
  const r = await route(c, get('/v1/sessions'));
  const list = r.json as Array<{ user: string; worker?: number; source?: string; bytesIn: number; channel: unknown }>;
  assert.deepEqual(list.map((v) => [v.user, v.worker, v.source]), [['alice', 0, undefined], ['bob', 1, undefined]]);
  assert.equal(list[1]!.bytesIn, 4242, 'live bytes of the other worker');
  assert.ok(list[1]!.channel !== null);
});

test('ctl sessions: a worker that does not answer has its sessions from the store, marked', async () => {
  const { c } = await setup(() => null);
  const list = (await route(c, get('/v1/sessions'))).json as Array<{ user: string; worker?: number; source?: string; bytesIn: number; channel: unknown }>;
  assert.deepEqual(list.map((v) => [v.user, v.worker, v.source]), [['alice', 0, undefined], ['bob', undefined, 'store']]);
  assert.equal(list[1]!.channel, null);
});

test('ctl disconnect/terminate: a session on the other worker is acted on there; unknown is 404', async () => {
  const { c, asks, other } = await setup((ask) => {
    if (ask.op === 'disconnect') return JSON.stringify({ disconnected: ask.id === other.id || ask.user === 'bob' ? [other.id] : [], notConnected: [] });
    if (ask.op === 'terminate') return JSON.stringify({ terminated: ask.user === 'bob' ? [other.id] : [] });
    return '[]';
  });
  const d = await route(c, post(`/v1/sessions/${other.id}/disconnect`));
  assert.equal(d.status, 200);
  assert.deepEqual(d.json, { disconnected: [other.id], notConnected: [], worker: { 1: [other.id] } });
  assert.deepEqual(asks.at(-1), { op: 'disconnect', id: other.id });
  const t = await route(c, post('/v1/users/bob/terminate'));
  assert.deepEqual(t.json, { terminated: [other.id], worker: { 1: [other.id] } });
  const none = await route(c, post('/v1/sessions/9999/disconnect'));
  assert.equal(none.status, 404);
  assert.deepEqual(none.json, { error: 'no session 9999' });
  const nobody = await route(c, post('/v1/users/carol/terminate'));
  assert.deepEqual([nobody.status, nobody.json], [404, { error: 'no session of user carol' }]);
});

test('ctl disconnect: the other worker stays silent: what was found is done, the silent one is named', async () => {
  const { c } = await setup(() => null);
  const r = await route(c, post('/v1/users/alice/disconnect'));
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { disconnected: [1], notConnected: [], worker: { 0: [1] }, unanswered: [1] });
});
