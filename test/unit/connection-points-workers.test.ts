/**
 * workers > 1: `ban.points.connection` counts across workers. The privileged process, which
 * hands every connection to a worker (priv/connection-acceptor.ts), tells worker 0 the admitted
 * connections per address (conn-points, once per loop turn, bounded per message); worker 0
 * scores them for the whole gateway (gatekeeper.ts connectionPoints), checking the report.
 * Before, each worker scored only the connections it got: N connections spread over two workers
 * never reached a max-score of N points.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { ConnectionAcceptor, MAX_POINTS_ADDRESSES, type AcceptHost } from '../../src/gateway/priv/connection-acceptor.js';
import type { PrivilegedMessage } from '../../src/gateway/priv/messages.js';
import type { WorkerLoad } from '../../src/gateway/priv/balance.js';
import { Gatekeeper } from '../../src/gateway/gatekeeper.js';
import { parseConfigText, type GatewayConfig } from '../../src/gateway/config.js';
import { GatewayEvents, type GatewayEvent } from '../../src/gateway/ops/events.js';
import { createLogger } from '../../src/log.js';

const log = createLogger({ level: 'silent', format: 'json' });
const config = (ban: string): GatewayConfig => parseConfigText(`network: {address: 10.9.0.1/24}\nban: ${ban}\n`, 'test.yaml', '/', null);
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** An acceptor over two idle workers, and what it told worker 0. */
function acceptor(cfg: GatewayConfig): { a: ConnectionAcceptor; told: PrivilegedMessage[]; connect(remote: string): void } {
  const told: PrivilegedMessage[] = [];
  const loads: WorkerLoad[] = [0, 1].map(() => ({ tunnels: 0, connections: 0, handed: 0, accepted: 0, up: true }));
  const host: AcceptHost = { config: () => cfg, loads: () => loads, stopping: () => false, hand: () => Promise.resolve(), tellFirst: (m) => told.push(m), log };
  const a = new ConnectionAcceptor(cfg, host);
  // handConnection is what the TCP server calls per accepted socket; the fake socket has what it reads.
  const hand = (a as unknown as { handConnection(s: Socket): void }).handConnection.bind(a);
  return { a, told, connect: (remote) => hand({ remoteAddress: remote, destroy: () => undefined } as unknown as Socket) };
}

test('the privileged process tells worker 0 the connections it handed, per address, once per loop turn', async (t) => {
  const { a, told, connect } = acceptor(config('{max-score: 1000, points: {connection: 10}, allow: [192.0.2.200/32]}'));
  t.after(() => a.stopSweeping());
  connect('192.0.2.9');
  connect('::ffff:192.0.2.9');
  connect('192.0.2.9');
  connect('192.0.2.10');
  connect('192.0.2.200'); // allow-listed: never scored
  assert.deepEqual(told, [], 'nothing before the loop turn ends');
  await turn();
  assert.deepEqual(told, [{ t: 'conn-points', remotes: [['192.0.2.9', 3], ['192.0.2.10', 1]] }]);
  connect('192.0.2.9');
  await turn();
  assert.deepEqual(told[1], { t: 'conn-points', remotes: [['192.0.2.9', 1]] });
});

test('with ban.points.connection 0 (the default) nothing is kept or told', async (t) => {
  const { a, told, connect } = acceptor(config('{max-score: 1000}'));
  t.after(() => a.stopSweeping());
  for (let i = 0; i < 10; i++) connect(`192.0.2.${i + 1}`);
  await turn();
  assert.deepEqual(told, []);
});

test('many addresses in one turn: several messages, each bounded, none lost', async (t) => {
  const { a, told, connect } = acceptor(config('{max-score: 1000, points: {connection: 1}}'));
  t.after(() => a.stopSweeping());
  const n = MAX_POINTS_ADDRESSES * 2 + 7;
  for (let i = 0; i < n; i++) connect(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  await turn();
  const sizes = told.map((m) => (m as { remotes: unknown[] }).remotes.length);
  assert.ok(sizes.every((s) => s <= MAX_POINTS_ADDRESSES), JSON.stringify(sizes));
  assert.equal(sizes.reduce((x, y) => x + y, 0), n);
  assert.ok(told.every((m) => JSON.stringify(m).length < 64 * 1024), 'each under the channel frame');
});

test("worker 0 scores the reported connections for the whole gateway; a ban once, at max-score", () => {
  const cfg = config('{max-score: 30, points: {connection: 10}}');
  const events = new GatewayEvents();
  const seen: GatewayEvent[] = [];
  events.subscribe((e) => seen.push(e));
  const w0 = new Gatekeeper(cfg, events, log, 0);
  w0.connectionPoints([['192.0.2.9', 2]]);
  assert.equal(w0.guard.list(true)[0]?.score, 20);
  assert.equal(w0.guard.bannedFor('192.0.2.9'), 0);
  w0.connectionPoints([['192.0.2.9', 5]]);
  assert.ok(w0.guard.bannedFor('192.0.2.9') > 0, 'banned at 30');
  assert.equal(seen.filter((e) => e.type === 'ban').length, 1, 'one ban');
});

test('a garbage report scores nothing and throws nothing', () => {
  const cfg = config('{max-score: 30, points: {connection: 10}}');
  const events = new GatewayEvents();
  events.subscribe(() => undefined);
  const w0 = new Gatekeeper(cfg, events, log, 0);
  const garbage: unknown[] = [null, 'x', 5, {}, [null], [[1, 2]], [['192.0.2.9', 1.5]], [['192.0.2.9', '3']], [['192.0.2.9', Number.NaN]], [['x'.repeat(65), 1]], [['192.0.2.9', -4]], [{ 0: '192.0.2.9', 1: 1 }]];
  for (const g of garbage) assert.doesNotThrow(() => w0.connectionPoints(g));
  assert.deepEqual(w0.guard.list(true), []);
  // A count far past one loop turn's connections is bounded (the ban stops it at once anyway).
  w0.connectionPoints([['192.0.2.9', Number.MAX_SAFE_INTEGER]]);
  assert.ok(w0.guard.bannedFor('192.0.2.9') > 0);
});
