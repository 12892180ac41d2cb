import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseConfigText, type GatewayConfig } from '../../src/gateway/config.js';
import { IpPool } from '../../src/gateway/ip-pool.js';
import { planReload, readForReload, ReloadError } from '../../src/gateway/reload.js';
import { admitSession, sessionTimeouts } from '../../src/gateway/session-limits.js';
import { SessionStore } from '../../src/gateway/sessions.js';
import { locateAdmin } from '../../src/cli/ctl-client.js';

const NET = 'network: {address: 10.0.0.1/24}\n';
const parse = (yaml: string) => parseConfigText(NET + yaml, 'gw.yaml', '/etc/sslgate', '/etc/sslgate/gw.yaml');

function expectError(yaml: string, key: string): void {
  assert.throws(() => parse(yaml), (e: unknown) => e instanceof ConfigError && e.key === key, `expected an error naming ${key}`);
}

test('ops config: defaults', () => {
  const c = parse('state: ./st\n');
  assert.equal(c.admin.socket, '/etc/sslgate/st/admin.sock');
  assert.equal(c.admin.listen, null);
  assert.equal(c.metrics.listen, null);
  assert.equal(c.metrics.path, '/metrics');
  assert.deepEqual(c.log, { level: 'info', format: 'auto' });
  // ocserv's max-same-clients default; none = unlimited
  assert.equal(c.limits.maxSessionsPerUser, 2);
  assert.equal(parse('limits: {max-sessions-per-user: none}\n').limits.maxSessionsPerUser, null);
  assert.equal(c.limits.sessionOverflow, 'end-oldest');
  assert.equal(c.limits.authTimeout, 60);
  assert.equal(c.limits.maxUnauthPerAddress, 16);
  assert.equal(c.limits.maxUnauthConnections, 2048);
  assert.equal(c.limits.maxHeaderBytes, 16384);
  // ban defaults come from the older auth section: 10 failures x 10 points, its window and ban time
  assert.equal(c.ban.maxScore, 100);
  assert.equal(c.ban.userMaxScore, 300);
  assert.equal(c.ban.resetTime, 300);
  assert.equal(c.ban.banTime, 300);
  const old = parse('auth: {max-failures: 3, failure-window: 60, ban-time: 20}\n');
  assert.deepEqual([old.ban.maxScore, old.ban.resetTime, old.ban.banTime], [30, 60, 20]);
});

test('ops config: every key, and errors naming the key', () => {
  const c = parse(`
admin: { socket: /run/sg.sock, listen: 127.0.0.1:9443, token-file: tok }
metrics: { listen: 127.0.0.1:9100, path: /m }
log: { level: debug, format: pretty }
limits: { max-sessions-per-user: 1, session-overflow: refuse-newest, connection-rate: 5, connection-burst: 10, max-cookie-bytes: 512, max-unauth-per-address: 4, max-unauth-connections: 0 }
ban: { max-score: 50, user-max-score: none, reset-time: 10, ban-time: 20, points: { password: 5, connection: 1 }, allow: [10.1.0.0/16, 10.2.3.4] }
groups: [{ name: A, idle-timeout: 600, session-timeout: none }]
`);
  assert.equal(c.admin.socket, '/run/sg.sock');
  assert.deepEqual(c.admin.listen, { host: '127.0.0.1', port: 9443 });
  assert.equal(c.admin.tokenFile, '/etc/sslgate/tok');
  assert.deepEqual(c.metrics, { listen: { host: '127.0.0.1', port: 9100 }, path: '/m' });
  assert.equal(c.limits.maxSessionsPerUser, 1);
  assert.equal(c.limits.sessionOverflow, 'refuse-newest');
  assert.deepEqual([c.limits.maxUnauthPerAddress, c.limits.maxUnauthConnections], [4, 0]);
  assert.equal(c.ban.userMaxScore, 0);
  assert.deepEqual(c.ban.points, { password: 5, cookie: 10, malformed: 10, connection: 1 });
  assert.equal(c.ban.allow[1]!.prefix, 32);
  assert.equal(c.groups[0]!.idleTimeout, 600);
  assert.equal(c.groups[0]!.sessionTimeout, null);
  assert.equal(parse('admin: {socket: none}\n').admin.socket, null);
  expectError('metrics: {listen: 9100}\n', 'metrics.listen');
  expectError('metrics: {path: metrics}\n', 'metrics.path');
  expectError('admin: {bogus: 1}\n', 'admin.bogus');
  expectError('log: {level: loud}\n', 'log.level');
  expectError('log: {format: xml}\n', 'log.format');
  expectError('limits: {session-overflow: random}\n', 'limits.session-overflow');
  expectError('limits: {max-sessions-per-user: -1}\n', 'limits.max-sessions-per-user');
  expectError('limits: {max-unauth-per-address: -1}\n', 'limits.max-unauth-per-address');
  expectError('limits: {max-unauth-connections: many}\n', 'limits.max-unauth-connections');
  expectError('ban: {points: {password: many}}\n', 'ban.points.password');
  expectError('ban: {allow: [10.0.0.0/40]}\n', 'ban.allow[0]');
  expectError('groups: [{name: A, idle-timeout: soon}]\n', 'groups[0].idle-timeout');
  expectError(`admin: {socket: /${'x'.repeat(120)}}\n`, 'admin.socket');
});

test('session limits: end-oldest evicts the oldest, refuse-newest refuses, max-clients caps', () => {
  const cfg = parse('limits: {max-sessions-per-user: 2, max-clients: 4}\n');
  const store = new SessionStore();
  const pool = new IpPool(cfg.network.address);
  const a1 = store.create('alice', cfg.groups[0]!, pool, '10.9.0.1', 'ua');
  const a2 = store.create('alice', cfg.groups[0]!, pool, '10.9.0.1', 'ua');
  store.create('bob', cfg.groups[0]!, pool, '10.9.0.2', 'ua');
  (a2 as { createdAt: number }).createdAt = a1.createdAt + 1;
  const r = admitSession(cfg, store.all(), store.size, 'alice');
  assert.ok(r.ok && r.evict.length === 1 && r.evict[0] === a1);
  assert.deepEqual(admitSession(cfg, store.all(), store.size, 'carol'), { ok: true, evict: [] });
  store.create('dave', cfg.groups[0]!, pool, '10.9.0.3', 'ua');
  const full = admitSession(cfg, store.all(), store.size, 'carol');
  assert.ok(!full.ok && full.reason === 'max-clients');
  assert.ok(admitSession(cfg, store.all(), store.size, 'alice').ok, 'evicting her oldest makes room');
  const refuse = parse('limits: {max-sessions-per-user: 2, session-overflow: refuse-newest}\n');
  const no = admitSession(refuse, store.all(), store.size, 'alice');
  assert.ok(!no.ok && no.reason === 'max-sessions' && /already have 2 sessions/.test(no.message));
  // workers > 1: the user's sessions on other workers count too, and the oldest may be there
  const one = parse('limits: {max-sessions-per-user: 2, session-overflow: refuse-newest}\n');
  const solo = new SessionStore();
  const b1 = solo.create('bob', cfg.groups[0]!, pool, '10.9.0.2', 'ua');
  assert.ok(admitSession(one, solo.all(), solo.size, 'bob').ok, 'one here: room');
  const across = admitSession(one, solo.all(), solo.size, 'bob', [{ id: 900, createdAt: b1.createdAt - 5 }]);
  assert.ok(!across.ok && across.reason === 'max-sessions' && /already have 2 sessions/.test(across.message));
  assert.ok(admitSession(one, solo.all(), solo.size, 'bob', [{ id: b1.id, createdAt: b1.createdAt }]).ok, 'a session seen here and there counts once');
  const oldest = admitSession(cfg, solo.all(), solo.size, 'bob', [{ id: 900, createdAt: b1.createdAt - 5 }]);
  assert.deepEqual(oldest, { ok: true, evict: [], evictElsewhere: [900] });
  const g = parse('idle-timeout: 100\nsession-timeout: 200\ngroups: [{name: A}, {name: B, idle-timeout: none}]\n');
  assert.deepEqual(sessionTimeouts(g, g.groups[0]!), { idleTimeout: 100, sessionTimeout: 200 });
  assert.deepEqual(sessionTimeouts(g, g.groups[1]!), { idleTimeout: null, sessionTimeout: 200 });
});

/** What a reload does: the privileged process reads, the network process plans. */
function replan(cur: GatewayConfig, pools: IpPool[]): ReturnType<typeof planReload> {
  const next = readForReload(cur);
  return planReload(cur, next.config, next.profile, pools);
}

test('reload plan: applies what it can, keeps socket-bound keys, refuses broken files and overlapping pools', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gw.yaml');
  writeFileSync(file, 'listen: 10.0.0.1:443\nstate: st\nnetwork: {address: 10.50.0.1/24, routes: [10.50.0.0/24]}\n');
  const cur = loadConfig(file);
  const pool = new IpPool(cur.groups[0]!.network.address);
  writeFileSync(file, 'listen: 10.0.0.1:8443\nstate: st\nnetwork: {address: 10.50.0.1/24, routes: [10.50.0.0/24, 10.60.0.0/16]}\nbanner: hi\n');
  const plan = replan(cur, [pool]);
  assert.ok(plan.restartNeeded.includes('listen'), plan.restartNeeded.join());
  assert.ok(!plan.changed.includes('listen'));
  assert.equal(plan.config.listen.port, 443, 'listen keeps its running value');
  assert.ok(plan.changed.includes('network') && plan.changed.includes('banner'), plan.changed.join());
  assert.equal(plan.pools.get('default'), pool, 'same subnet: same pool, leases kept');
  assert.deepEqual(plan.newSubnets, []);

  writeFileSync(file, 'listen: 10.0.0.1:443\nstate: st\nnetwork: {address: 10.50.0.1/24, routes: [nope]}\n');
  assert.throws(() => replan(cur, [pool]), (e: unknown) => e instanceof ConfigError && e.key === 'network.routes[0]');

  writeFileSync(file, 'listen: 10.0.0.1:443\nstate: st\nnetwork: {address: 10.50.0.1/23}\n');
  pool.lease('tok');
  assert.throws(() => replan(cur, [pool]), (e: unknown) => e instanceof ReloadError && /overlaps pool 10\.50\.0\.1\/24/.test(e.message));
  pool.release('tok');
  const moved = replan(cur, [pool]);
  assert.notEqual(moved.pools.get('default'), pool, 'an unused pool may be renumbered');
  assert.equal(moved.newSubnets.length, 1);

  writeFileSync(file, 'listen: 10.0.0.1:443\nstate: st\nnetwork: {address: 10.50.0.1/24}\nprofile: missing.xml\n');
  assert.throws(() => replan(cur, [pool]), (e: unknown) => e instanceof ReloadError && /profile/.test(e.message));
});

test('ctl finds the admin socket from the config, even when the file no longer validates', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-ctl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gw.yaml');
  writeFileSync(file, 'state: st\nnetwork: {address: 10.50.0.1/24}\n');
  assert.equal(locateAdmin({ config: file }).socketPath, join(dir, 'st', 'admin.sock'));
  writeFileSync(file, 'state: st\nnetwork: {address: 10.50.0.1/99}\nadmin: {socket: a.sock}\n');
  assert.equal(locateAdmin({ config: file }).socketPath, join(dir, 'a.sock'));
  assert.equal(locateAdmin({ config: file, socket: '/x.sock' }).socketPath, '/x.sock');
  const tcp = locateAdmin({ url: 'http://127.0.0.1:9443' });
  assert.deepEqual([tcp.host, tcp.port], ['127.0.0.1', 9443]);
});
