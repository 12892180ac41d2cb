/**
 * workers > 1: worker 0 scores every worker's events and decides the bans (gatekeeper.ts); the
 * other workers keep scores only for the pause before answering a failed login, and enforce the
 * bans that reach them through the store (BanGuard.restore).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BanGuard, type BanPolicy } from '../../src/gateway/ban-guard.js';
import { Gatekeeper } from '../../src/gateway/gatekeeper.js';
import { parseConfigText } from '../../src/gateway/config.js';
import { GatewayEvents, type GatewayEvent, type GatewayEventBody } from '../../src/gateway/ops/events.js';
import { createLogger } from '../../src/log.js';

const policy: BanPolicy = { maxScore: 30, userMaxScore: 0, resetTime: 60, banTime: 30, points: { password: 10, cookie: 10, malformed: 5, connection: 0 }, allow: [] };
const failure: GatewayEventBody = { type: 'auth-failure', remote: '192.0.2.9', user: 'alice', reason: 'bad-credentials' };
const relayed = (body: GatewayEventBody, worker: number): GatewayEvent => ({ ...body, time: new Date().toISOString(), worker }) as GatewayEvent;

test('a guard that does not decide scores (for the pause) but never bans; a ban from the store resets the score', () => {
  const emitted: GatewayEventBody[] = [];
  const g = new BanGuard(policy, (e) => emitted.push(e));
  g.decides = false;
  for (let i = 0; i < 5; i++) assert.equal(g.addPoints('192.0.2.9', 'password'), false);
  assert.equal(g.bannedFor('192.0.2.9'), 0);
  assert.ok(g.delayFor('192.0.2.9') > 0, 'answers are still slowed down');
  assert.deepEqual(emitted, []);
  assert.equal(g.restore('address', '192.0.2.9', Date.now() + 30_000), true);
  assert.ok(g.bannedFor('192.0.2.9') > 0, 'the ban decided elsewhere holds');
  assert.equal(g.list(true)[0]!.score, 0);
});

test("worker 0 adds up every worker's failures: a ban after max-score over both workers", () => {
  const cfg = parseConfigText('network: {address: 10.9.0.1/24}\nban: {max-score: 30, points: {password: 10}}\n', 'test.yaml', '/', null);
  const log = createLogger({ level: 'silent', format: 'json' });
  const events0 = new GatewayEvents();
  const seen: GatewayEvent[] = [];
  events0.subscribe((e) => seen.push(e));
  const w0 = new Gatekeeper(cfg, events0, log, 0);
  const events1 = new GatewayEvents();
  events1.subscribe(() => undefined);
  const w1 = new Gatekeeper(cfg, events1, log, 1);
  // Two failures on worker 1 (relayed to worker 0), one on worker 0.
  for (let i = 0; i < 2; i++) {
    events1.emit(failure);
    events0.relay(relayed(failure, 1));
  }
  assert.equal(w1.guard.bannedFor('192.0.2.9'), 0, 'worker 1 does not ban on its own');
  assert.equal(w0.guard.list(true)[0]?.score, 20, 'worker 0 shows the gateway-wide score');
  events0.emit(failure);
  assert.ok(w0.guard.bannedFor('192.0.2.9') > 0);
  assert.equal(seen.filter((e) => e.type === 'ban').length, 1, 'one ban, decided by worker 0');
});

test("a good login on another worker clears the user name's score at worker 0", () => {
  const cfg = parseConfigText('network: {address: 10.9.0.1/24}\nban: {user-max-score: 100, points: {password: 10}}\n', 'test.yaml', '/', null);
  const events0 = new GatewayEvents();
  events0.subscribe(() => undefined);
  const w0 = new Gatekeeper(cfg, events0, createLogger({ level: 'silent', format: 'json' }), 0);
  events0.relay(relayed(failure, 1));
  assert.ok(w0.guard.list(true).some((b) => b.kind === 'user' && b.key === 'alice'));
  events0.relay(relayed({ type: 'login', session: 1, user: 'alice', group: 'g', remote: '192.0.2.9', agent: '' }, 1));
  assert.ok(!w0.guard.list(true).some((b) => b.kind === 'user' && b.key === 'alice'));
});
