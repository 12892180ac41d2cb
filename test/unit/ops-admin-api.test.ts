import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { route, type AdminContext, type ApiRequest } from '../../src/gateway/ops/admin-api.js';
import { adminHandler, closeServer, listenTcp, listenUnix } from '../../src/gateway/ops/admin-server.js';
import { GatewayMetrics } from '../../src/gateway/ops/metrics.js';
import { readOrCreateToken } from '../../src/gateway/ops/ops.js';
import type { SessionView } from '../../src/gateway/ops/session-view.js';
import { OpsStats } from '../../src/gateway/ops/stats.js';
import { call, stream } from '../../src/cli/ctl-client.js';
import { FakeGateway } from './ops-helpers.js';

function context(): AdminContext & { gw: FakeGateway; close(): void } {
  const gw = new FakeGateway();
  const stats = new OpsStats(gw);
  const metrics = new GatewayMetrics(gw, stats);
  return { gw, stats, metrics, log: pino({ level: 'silent' }), close: () => (metrics.close(), stats.close()) };
}

const req = (method: string, url: string): ApiRequest => {
  const u = new URL(url, 'http://x');
  return { method, path: u.pathname, query: u.searchParams };
};

test('admin API: status, sessions, users, one session; never the cookie', async (t) => {
  const c = context();
  t.after(() => c.close());
  const a = c.gw.connect('alice');
  a.fake.counters.rxBytes = 1000;
  a.fake.counters.txBytes = 3000;
  const b = c.gw.connect('bob', '10.77.0.9');
  c.gw.sessions.create('carol', c.gw.currentConfig.groups[0]!, c.gw.pools.get('default')!, '10.77.0.3', 'ua'); // no tunnel
  const st = (await route(c, req('GET', '/v1/status'))).json as { sessions: { total: number; connected: number; channels: { TLS: number } }; traffic: { bytesIn: number }; uptimeSeconds: number };
  assert.deepEqual([st.sessions.total, st.sessions.connected, st.sessions.channels.TLS], [3, 2, 2]);
  assert.equal(st.traffic.bytesIn, 1000);
  assert.ok(st.uptimeSeconds >= 65);
  const all = (await route(c, req('GET', '/v1/sessions'))).json as SessionView[];
  assert.deepEqual(all.map((s) => [s.user, s.state]), [['alice', 'connected'], ['bob', 'connected'], ['carol', 'disconnected']]);
  assert.equal(all[0]!.address, '10.50.0.2');
  assert.deepEqual(all[0]!.channel, { type: 'TLS', tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' }, dtls: null, mtu: 1399 });
  assert.deepEqual(all[0]!.routes, ['10.50.0.0/24']);
  assert.equal([a.token, b.token].some((tok) => JSON.stringify(all).includes(tok)), false, 'cookie leaked');
  const users = (await route(c, req('GET', '/v1/users'))).json as SessionView[];
  assert.deepEqual(users.map((s) => s.user), ['alice', 'bob']);
  assert.deepEqual(((await route(c, req('GET', '/v1/sessions?user=bob'))).json as SessionView[]).map((s) => s.id), [b.id]);
  const one = await route(c, req('GET', `/v1/sessions/${b.id}`));
  assert.equal((one.json as SessionView).remote, '10.77.0.9');
  assert.equal((await route(c, req('GET', '/v1/sessions/99'))).status, 404);
  assert.equal((await route(c, req('GET', '/v2/nothing'))).status, 404);
});

test('admin API: disconnect keeps the session, terminate ends it, per id or per user', async (t) => {
  const c = context();
  t.after(() => c.close());
  const a = c.gw.connect('alice');
  const a2 = c.gw.connect('alice');
  const b = c.gw.connect('bob');
  const d = await route(c, req('POST', `/v1/sessions/${a.id}/disconnect`));
  assert.deepEqual(d.json, { disconnected: [a.id], notConnected: [] });
  assert.deepEqual(a.fake.closed, { kind: 'local', text: 'admin disconnect' }, 'closed without a goodbye frame');
  assert.ok(c.gw.sessions.byCookie(a.token), 'the session (cookie) stays for the reconnect');
  const du = await route(c, req('POST', '/v1/users/alice/disconnect'));
  assert.deepEqual(du.json, { disconnected: [a2.id], notConnected: [a.id] });
  const tu = await route(c, req('POST', '/v1/users/alice/terminate'));
  assert.deepEqual(tu.json, { terminated: [a.id, a2.id] });
  assert.equal(c.gw.sessions.byCookie(a.token), undefined);
  const tb = await route(c, req('POST', `/v1/sessions/${b.id}/terminate`));
  assert.deepEqual(tb.json, { terminated: [b.id] });
  assert.deepEqual(c.gw.ended.map(([, why]) => why), ['terminated by admin', 'terminated by admin', 'terminated by admin']);
  assert.equal((await route(c, req('POST', '/v1/users/nobody/terminate'))).status, 404);
});

test('admin API: bans, unban, reload', async (t) => {
  const c = context();
  t.after(() => c.close());
  for (let i = 0; i < 10; i++) c.gw.gate.guard.addPoints('10.9.9.9', 'password');
  c.gw.gate.guard.addPoints('10.9.9.8', 'password');
  const bans = (await route(c, req('GET', '/v1/bans'))).json as Array<{ key: string; secondsLeft: number }>;
  assert.deepEqual(bans.map((b) => b.key), ['10.9.9.9']);
  assert.ok(bans[0]!.secondsLeft > 290);
  assert.equal(((await route(c, req('GET', '/v1/bans?scores=1'))).json as unknown[]).length, 2);
  assert.equal((await route(c, req('DELETE', '/v1/bans/10.9.9.9'))).status, 200);
  assert.equal((await route(c, req('DELETE', '/v1/bans/10.9.9.9'))).status, 404);
  assert.deepEqual((await route(c, req('POST', '/v1/reload'))).json, { ok: true, changed: ['banner'], restartNeeded: [] });
  c.gw.reloadResult = { ok: false, error: 'gw.yaml: dpd: expected a whole number', changed: [], restartNeeded: [] };
  const bad = await route(c, req('POST', '/v1/reload'));
  assert.equal(bad.status, 422);
  const st = (await route(c, req('GET', '/v1/status'))).json as { lastReload: { ok: boolean; error: string } };
  assert.equal(st.lastReload.ok, false);
  assert.match(st.lastReload.error, /dpd/);
});

test('admin listeners: Unix socket (0600) with ctl client and event stream; TCP needs the bearer token', async (t) => {
  const c = context();
  const dir = mkdtempSync(join(tmpdir(), 'sg-admin-'));
  const sock = join(dir, 'state', 'admin.sock');
  const unix = await listenUnix(sock, adminHandler(c, null));
  const token = readOrCreateToken(join(dir, 'state', 'admin.token'));
  const tcp = await listenTcp({ host: '127.0.0.1', port: 0 }, adminHandler(c, token));
  t.after(async () => {
    await closeServer(unix);
    await closeServer(tcp);
    c.close();
    rmSync(dir, { recursive: true, force: true });
  });
  assert.equal(statSync(sock).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'state', 'admin.token')).mode & 0o777, 0o600);
  assert.deepEqual(readOrCreateToken(join(dir, 'state', 'admin.token')), token, 'the token is kept');
  await assert.rejects(listenUnix(sock, adminHandler(c, null)), /in use/);
  c.gw.connect('alice');
  const ep = { socketPath: sock, describe: sock };
  const list = (await call(ep, 'GET', '/v1/sessions')) as SessionView[];
  assert.equal(list[0]!.user, 'alice');
  await assert.rejects(call(ep, 'GET', '/v1/sessions/42'), (e: unknown) => (e as { status?: number }).status === 404);
  assert.match(String(await call(ep, 'GET', '/metrics')), /^# HELP /m);

  // the stream delivers events as they happen, one JSON per line, filtered by type
  const got: string[] = [];
  const done = stream(ep, '/v1/events?types=login,session-end', (l) => got.push(l));
  await new Promise((r) => setTimeout(r, 100));
  c.gw.events.emit({ type: 'login', session: 7, user: 'bob', group: 'default', remote: '10.0.0.1', agent: 'x' });
  c.gw.events.emit({ type: 'bad-request', remote: '10.0.0.1', reason: 'http-400' });
  c.gw.events.emit({ type: 'session-end', session: 7, user: 'bob', reason: 'logout' });
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(got.map((l) => (JSON.parse(l) as { type: string }).type), ['login', 'session-end']);
  assert.equal(c.gw.events.listenerCount, 3, 'stats, metrics, this stream');
  await closeServer(unix);
  await done;
  for (let i = 0; i < 50 && c.gw.events.listenerCount > 2; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(c.gw.events.listenerCount, 2, 'the stream unsubscribed when it closed');

  const port = (tcp.address() as { port: number }).port;
  await assert.rejects(call({ host: '127.0.0.1', port, describe: 'tcp' }, 'GET', '/v1/status'), (e: unknown) => (e as { status?: number }).status === 401);
  await assert.rejects(call({ host: '127.0.0.1', port, token: 'x'.repeat(43), describe: 'tcp' }, 'GET', '/v1/status'), /bearer/);
  const st = (await call({ host: '127.0.0.1', port, token: token.toString(), describe: 'tcp' }, 'GET', '/v1/status')) as { sessions: { total: number } };
  assert.equal(st.sessions.total, 1);
});
