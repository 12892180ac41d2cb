import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BanGuard, normalizeAddr, type BanPolicy } from '../../src/gateway/ban-guard.js';
import { ConnectionLimiter } from '../../src/gateway/connection-limiter.js';
import { GatewayEvents, type GatewayEvent, type GatewayEventBody } from '../../src/gateway/ops/events.js';
import { parseIpv4Cidr } from '../../src/protocol/ipv4.js';

const policy = (o: Partial<BanPolicy> = {}): BanPolicy => ({
  maxScore: 100,
  userMaxScore: 300,
  resetTime: 60,
  banTime: 30,
  points: { password: 10, cookie: 20, malformed: 5, connection: 0 },
  allow: [],
  ...o,
});

function setup(o: Partial<BanPolicy> = {}) {
  let now = 1_000_000;
  const events: GatewayEventBody[] = [];
  const g = new BanGuard(policy(o), (e) => events.push(e), () => now);
  return { g, events, advance: (s: number) => (now += s * 1000) };
}

const ev = (body: GatewayEventBody): GatewayEvent => ({ ...body, time: new Date().toISOString() }) as GatewayEvent;

test('ban guard: the 10th wrong password bans the address for ban-time, then it is forgotten', () => {
  const { g, events, advance } = setup();
  for (let i = 1; i <= 9; i++) assert.equal(g.addPoints('10.0.0.1', 'password', 'alice'), false, `failure ${i}`);
  assert.equal(g.bannedFor('10.0.0.1'), 0);
  assert.ok(g.delayFor('10.0.0.1') > 1500, 'close to a ban, answers are slowed down');
  assert.equal(g.addPoints('10.0.0.1', 'password', 'alice'), true);
  assert.equal(g.bannedFor('10.0.0.1'), 30_000);
  assert.deepEqual(events.at(-1), { type: 'ban', kind: 'address', key: '10.0.0.1', seconds: 30, score: 100 });
  assert.equal(g.bannedFor('10.0.0.2'), 0, 'other addresses are not affected');
  assert.equal(g.userLockedFor('alice'), 0, 'one address cannot lock a user name (3x the limit)');
  assert.deepEqual(g.counts(), { address: 1, user: 0 });
  assert.equal(g.list()[0]!.key, '10.0.0.1');
  advance(31);
  assert.equal(g.bannedFor('10.0.0.1'), 0);
  g.sweep();
  assert.deepEqual(events.at(-1), { type: 'unban', kind: 'address', key: '10.0.0.1', by: 'expiry' });
  assert.deepEqual(g.list(true).filter((b) => b.kind === 'address'), [], 'the address score restarted from zero after the ban');
});

test('ban guard: scores decay after reset-time without new points', () => {
  const { g, advance } = setup();
  for (let i = 0; i < 9; i++) g.addPoints('10.0.0.1', 'password');
  advance(61);
  assert.equal(g.addPoints('10.0.0.1', 'password'), false, 'the old score was forgotten');
  assert.equal(g.list(true)[0]!.score, 10);
});

test('ban guard: each offence has its points; a user name locks when sprayed from many addresses', () => {
  const { g } = setup({ userMaxScore: 50 });
  g.addPoints('10.0.0.1', 'cookie');
  g.addPoints('10.0.0.1', 'malformed');
  assert.equal(g.list(true).find((b) => b.kind === 'address')!.score, 25);
  for (let i = 1; i <= 5; i++) g.addPoints(`10.0.1.${i}`, 'password', 'bob');
  assert.ok(g.userLockedFor('bob') > 0);
  assert.equal(g.bannedFor('10.0.1.1'), 0);
  g.succeed('10.0.1.1', 'carol');
  assert.ok(g.userLockedFor('bob') > 0, 'a good login of someone else does not unlock bob');
  assert.equal(g.unban('bob', 'user'), true);
  assert.equal(g.userLockedFor('bob'), 0);
});

test('ban guard: allow-list, IPv4-mapped addresses, admin unban, events mapped to points', () => {
  const { g, events } = setup({ allow: [parseIpv4Cidr('192.168.0.0/16')!] });
  for (let i = 0; i < 20; i++) g.addPoints('192.168.3.4', 'password');
  assert.equal(g.bannedFor('192.168.3.4'), 0, 'allow-listed addresses collect no points');
  assert.equal(normalizeAddr('::ffff:10.1.2.3'), '10.1.2.3');
  for (let i = 0; i < 10; i++) g.observe(ev({ type: 'auth-failure', remote: '::ffff:10.1.2.3', user: 'x', reason: 'bad-credentials' }));
  assert.ok(g.bannedFor('10.1.2.3') > 0, 'events from the auth handler score the address');
  g.observe(ev({ type: 'auth-failure', remote: '10.9.9.9', reason: 'bad-cookie' }));
  g.observe(ev({ type: 'bad-request', remote: '10.9.9.9', reason: 'http-400' }));
  g.observe(ev({ type: 'auth-failure', remote: '10.9.9.9', reason: 'max-sessions' }));
  assert.equal(g.list(true).find((b) => b.key === '10.9.9.9')!.score, 25, 'a limit refusal is no offence');
  assert.equal(g.unban('10.1.2.3'), true);
  assert.deepEqual(events.at(-1), { type: 'unban', kind: 'address', key: '10.1.2.3', by: 'admin' });
  assert.equal(g.unban('10.1.2.3'), false);
});

test('ban guard: a reload changes the limits, keeps the scores', () => {
  const { g } = setup();
  for (let i = 0; i < 5; i++) g.addPoints('10.0.0.1', 'password');
  g.setPolicy(policy({ maxScore: 60 }));
  assert.equal(g.addPoints('10.0.0.1', 'password'), true);
});

test('connection limiter: a burst, then the rate; buckets refill and are swept', () => {
  let now = 0;
  const l = new ConnectionLimiter({ rate: 2, burst: 3 }, () => now);
  assert.deepEqual([1, 2, 3, 4].map(() => l.take('10.0.0.1')), [true, true, true, false]);
  assert.equal(l.take('10.0.0.2'), true, 'per address');
  now += 500;
  assert.equal(l.take('10.0.0.1'), true, 'one token after 0.5 s at 2/s');
  assert.equal(l.take('10.0.0.1'), false);
  now += 10_000;
  l.sweep();
  assert.equal(l.size, 0, 'full buckets carry no information');
  l.setOptions({ rate: 0, burst: 1 });
  assert.ok([1, 2, 3, 4, 5].every(() => l.take('10.0.0.1')), 'rate 0 = unlimited');
});

test('events: one emitted by a listener is delivered after the event that caused it', () => {
  const bus = new GatewayEvents();
  const seen: string[] = [];
  bus.subscribe((e) => {
    if (e.type === 'auth-failure') bus.emit({ type: 'ban', kind: 'address', key: e.remote, seconds: 1, score: 1 });
  });
  bus.subscribe((e) => seen.push(e.type));
  bus.subscribe(() => {
    throw new Error('a broken listener');
  });
  bus.emit({ type: 'auth-failure', remote: '10.0.0.1', reason: 'bad-credentials' });
  assert.deepEqual(seen, ['auth-failure', 'ban']);
});
