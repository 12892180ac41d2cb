/**
 * The control API (src/gateway/ops/admin-api.ts, docs/admin-api.yaml) against a real
 * `sslgate serve` with real openconnect sessions, spoken to as a client would: HTTP over the
 * admin Unix socket (src/cli/ctl-client.ts) and `sslgate ctl --url` over the TCP listener with
 * its bearer token. (It replaces test/unit/ops-admin-api.test.ts, which ran the API against a fake
 * gateway with canned answers.) The ctl CLI's own output is tested in gateway-ops*.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { call, stream, type AdminEndpoint } from '../../src/cli/ctl-client.js';
import type { SessionView } from '../../src/gateway/ops/session-view.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { interopSkipReason } from '../helpers/netns.js';
import type { OpenconnectClient } from '../helpers/openconnect.js';
import { gwHost, SSLGATE_BIN } from '../helpers/sslgate.js';

const skip = interopSkipReason(['openconnect', 'ip']);
const ADMIN_PORT = 9443;
// Unusual strings: finding them in an answer means a leak.
const PW = { alice: 'alice-pw-1893', bob: 'bob-pw-2201', carol: 'carol-pw-3307' };

interface Status {
  uptimeSeconds: number;
  sessions: { total: number; connected: number; channels: { TLS: number; DTLS: number } };
  auth: { successes: number; failures: number; failuresByReason: Record<string, number> };
  traffic: { bytesIn: number; bytesOut: number };
  lastReload: { ok: boolean; error?: string } | null;
}
interface BanJson { key: string; kind: string; secondsLeft: number; score: number }

/** The status of a rejected call (CliError carries it), or a failure if it did not reject. */
async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    const s = (e as { status?: number }).status;
    assert.equal(typeof s, 'number', `rejected without an HTTP status: ${(e as Error).message}`);
    return s!;
  }
  assert.fail('the call succeeded');
}

test('admin API against a running gateway: sessions, disconnect/terminate, bans, reload, listeners, events', { skip, timeout: 300_000 }, async (t) => {
  const bed = await GatewayBed.open(t, 'gwapi');
  const tb = bed.tb;
  const net = tb.poolNet(0);
  const yaml = (banner: string): string =>
    `network:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\nbanner: ${banner}\n` +
    `limits: { max-sessions-per-user: 4 }\n` +
    // two wrong passwords ban an address (10 points each); the default would need 10 logins
    `ban: { max-score: 20 }\n` +
    `admin: { listen: 127.0.0.1:${ADMIN_PORT} }\n`;
  const gw = await bed.startGateway({ yaml: yaml('Banner one'), users: Object.entries(PW).map(([name, password]) => ({ name, password })) });
  const state = path.join(gw.dir, 'state');
  const ep: AdminEndpoint = { socketPath: path.join(state, 'admin.sock'), describe: 'admin socket' };
  const api = <T>(method: string, p: string): Promise<T> => call(ep, method, p) as Promise<T>;

  const connect = (user: keyof typeof PW, password: string = PW[user], extra: string[] = []): OpenconnectClient => {
    return bed.connect({ user, password, noDtls: true, extraArgs: extra });
  };
  // With several workers (the default `workers: auto` on a machine with more than one CPU) an
  // answer also says on which worker each session was (`worker`); the rest is the same.
  const oneWorker = <T extends object>(x: T): Omit<T, 'worker'> => {
    const { worker: _worker, ...rest } = x as T & { worker?: unknown };
    return rest;
  };
  const finished = async (c: OpenconnectClient): Promise<number | null> => {
    const exit = await c.proc.waitExit(30_000);
    await bed.stop(c);
    return exit.code;
  };

  // alice twice and bob with tunnels; carol logged in (--authenticate) without a tunnel
  const a1 = connect('alice');
  const a2 = connect('alice');
  const b = connect('bob');
  const [a1Tun, a2Tun, bTun] = await Promise.all([a1.waitTunnel(30_000), a2.waitTunnel(30_000), b.waitTunnel(30_000)]);
  const carol = connect('carol', PW.carol, ['--authenticate']);
  assert.equal(await finished(carol), 0, carol.proc.tail());
  const carolCookie = /^COOKIE='?([^'\s]+)/m.exec(carol.lines.map((l) => l.text).join('\n'))?.[1];
  assert.ok(carolCookie, `openconnect --authenticate printed no cookie:\n${carol.proc.tail()}`);

  await t.test('listeners: the socket and the token file are 0600', () => {
    assert.equal(fs.statSync(ep.socketPath!).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(state, 'admin.token')).mode & 0o777, 0o600);
  });

  let ids: Record<'alice1' | 'alice2' | 'bob' | 'carol', number>;
  await t.test('status, sessions, users, one session; 404s; never a cookie or a password', async () => {
    const all = await api<SessionView[]>('GET', '/v1/sessions');
    const byAddr = new Map(all.map((s) => [s.address, s]));
    const [s1, s2, sb] = [byAddr.get(a1Tun.address), byAddr.get(a2Tun.address), byAddr.get(bTun.address)];
    const sc = all.find((s) => s.user === 'carol');
    assert.ok(s1 && s2 && sb && sc, JSON.stringify(all));
    ids = { alice1: s1.id, alice2: s2.id, bob: sb.id, carol: sc.id };
    assert.deepEqual([s1.user, s2.user, sb.user], ['alice', 'alice', 'bob']);
    for (const s of [s1, s2, sb]) {
      assert.equal(s.state, 'connected');
      assert.equal(s.channel?.type, 'TLS');
      assert.equal(s.remote, tb.clAddr);
      assert.deepEqual(s.routes, [net]);
    }
    assert.equal(sc.state, 'disconnected', 'carol authenticated but never opened a tunnel');
    assert.equal(sc.channel, null);
    const text = JSON.stringify(all);
    assert.equal(text.includes(carolCookie!), false, 'a cookie leaked into /v1/sessions');
    for (const pw of Object.values(PW)) assert.equal(text.includes(pw), false, 'a password leaked');

    const st = await api<Status>('GET', '/v1/status');
    assert.deepEqual([st.sessions.total, st.sessions.connected, st.sessions.channels.TLS, st.sessions.channels.DTLS], [4, 3, 3, 0]);
    assert.equal(st.auth.successes, 4);
    assert.ok(st.uptimeSeconds >= 0);
    const users = await api<SessionView[]>('GET', '/v1/users');
    assert.deepEqual(users.map((s) => s.user).sort(), ['alice', 'alice', 'bob'], 'connected sessions only');
    assert.deepEqual((await api<SessionView[]>('GET', '/v1/sessions?user=bob')).map((s) => s.id), [ids.bob]);
    assert.equal((await api<SessionView>('GET', `/v1/sessions/${ids.bob}`)).address, bTun.address);
    assert.equal(await statusOf(api('GET', '/v1/sessions/99999')), 404);
    assert.equal(await statusOf(api('GET', '/v2/nothing')), 404);
    assert.equal(await statusOf(api('POST', '/v1/users/nobody/terminate')), 404);
  });

  await t.test('disconnect keeps the session (openconnect reconnects); per user it lists who was not connected', async () => {
    const mark = a1.lines.length;
    const d = await api<{ disconnected: number[]; notConnected: number[] }>('POST', `/v1/sessions/${ids.alice1}/disconnect`);
    assert.deepEqual(oneWorker(d), { disconnected: [ids.alice1], notConnected: [] });
    // openconnect reconnects with its cookie (§8.5) and gets its address back
    await a1.proc.waitForLine(/CSTP connected/, 60_000, mark);
    for (let i = 0; i < 100; i++) {
      const s = await api<SessionView>('GET', `/v1/sessions/${ids.alice1}`);
      if (s.state === 'connected') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const back = await api<SessionView>('GET', `/v1/sessions/${ids.alice1}`);
    assert.deepEqual([back.state, back.address, back.reconnects], ['connected', a1Tun.address, 1]);
    const du = await api<{ disconnected: number[]; notConnected: number[] }>('POST', '/v1/users/carol/disconnect');
    assert.deepEqual(oneWorker(du), { disconnected: [], notConnected: [ids.carol] });
  });

  await t.test('terminate: per session and per user; the clients exit, the sessions are gone', async () => {
    const tb1 = await api<{ terminated: number[] }>('POST', `/v1/sessions/${ids.bob}/terminate`);
    assert.deepEqual(oneWorker(tb1), { terminated: [ids.bob] });
    assert.notEqual(await finished(b), null);
    const ta = await api<{ terminated: number[] }>('POST', '/v1/users/alice/terminate');
    assert.deepEqual(ta.terminated.sort((x, y) => x - y), [ids.alice1, ids.alice2].sort((x, y) => x - y));
    await Promise.all([finished(a1), finished(a2)]);
    assert.deepEqual((await api<SessionView[]>('GET', '/v1/sessions')).map((s) => s.user), ['carol']);
    assert.equal(await statusOf(api('GET', `/v1/sessions/${ids.bob}`)), 404);
  });

  await t.test('the event stream delivers only the types asked for, in order', async () => {
    const got: string[] = [];
    const sub: AdminEndpoint = { ...ep };
    const done = stream(sub, '/v1/events?types=login,session-end', (l) => got.push(l));
    await new Promise((r) => setTimeout(r, 500)); // let it subscribe
    const d = connect('bob', PW.bob, ['--authenticate']);
    assert.equal(await finished(d), 0);
    await api('POST', '/v1/users/bob/terminate');
    for (let i = 0; i < 400 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    const evs = got.map((l) => JSON.parse(l) as { type: string; user?: string; reason?: string });
    assert.deepEqual(evs.map((e) => [e.type, e.user]), [['login', 'bob'], ['session-end', 'bob']], got.join('\n'));
    void done; // ends with the gateway
  });

  await t.test('bans: scores, a ban after two wrong passwords, refused logins, unban', async () => {
    const first = connect('alice', 'wrong-1');
    assert.notEqual(await finished(first), 0);
    assert.deepEqual(await api<BanJson[]>('GET', '/v1/bans'), [], 'one failure is a score, not a ban');
    const scores = await api<BanJson[]>('GET', '/v1/bans?scores=1');
    // the address and the user name each have their score (a user name locks at 3x the limit)
    assert.deepEqual(scores.map((s) => [s.kind, s.key, s.score > 0]).sort(), [['address', tb.clAddr, true], ['user', 'alice', true]]);
    const second = connect('alice', 'wrong-2');
    assert.notEqual(await finished(second), 0);
    const bans = await api<BanJson[]>('GET', '/v1/bans');
    assert.deepEqual(bans.map((x) => [x.kind, x.key]), [['address', tb.clAddr]]);
    assert.ok(bans[0]!.secondsLeft > 0);
    const refused = connect('carol');
    assert.notEqual(await finished(refused), 0, 'a banned address does not log in');
    assert.equal((await api<Status>('GET', '/v1/status')).auth.failuresByReason['bad-credentials'], 2);
    assert.deepEqual(await api('DELETE', `/v1/bans/${tb.clAddr}`), { unbanned: tb.clAddr, kind: 'address' });
    assert.equal(await statusOf(api('DELETE', `/v1/bans/${tb.clAddr}`)), 404);
    const again = connect('carol', PW.carol, ['--authenticate']);
    assert.equal(await finished(again), 0, `carol logs in after the unban:\n${again.proc.tail()}`);
  });

  await t.test('reload: a changed banner is applied; a broken config is refused with 422 and reported', async () => {
    fs.writeFileSync(gw.configFile, fs.readFileSync(gw.configFile, 'utf8').replace('Banner one', 'Banner two'));
    assert.deepEqual(await api('POST', '/v1/reload'), { ok: true, changed: ['banner'], restartNeeded: [] });
    const good = fs.readFileSync(gw.configFile, 'utf8');
    fs.writeFileSync(gw.configFile, good + 'dpd: often\n');
    assert.equal(await statusOf(api('POST', '/v1/reload')), 422);
    const st = await api<Status>('GET', '/v1/status');
    assert.equal(st.lastReload?.ok, false);
    assert.match(st.lastReload?.error ?? '', /dpd/);
    fs.writeFileSync(gw.configFile, good);
    assert.equal((await api<{ ok: boolean }>('POST', '/v1/reload')).ok, true);
  });

  await t.test('TCP listener: no token 401, a wrong token refused, the right one answers', async () => {
    const ctlTcp = (tokenFile: string | null) =>
      tb.gw.exec(process.execPath, [SSLGATE_BIN, 'ctl', '--url', `http://127.0.0.1:${ADMIN_PORT}`, ...(tokenFile ? ['--token-file', tokenFile] : []), 'status', '--json'], { timeoutMs: 20_000 });
    const none = await ctlTcp(null);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr + none.stdout, /401|token/i);
    const wrongFile = path.join(gw.dir, 'wrong.token');
    fs.writeFileSync(wrongFile, 'x'.repeat(43) + '\n', { mode: 0o600 });
    const wrong = await ctlTcp(wrongFile);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr + wrong.stdout, /401|bearer|token/i);
    const right = await ctlTcp(path.join(state, 'admin.token'));
    assert.equal(right.code, 0, right.stderr);
    assert.equal((JSON.parse(right.stdout) as Status).sessions.total, 2, `carol twice (two --authenticate logins): ${right.stdout}\n${JSON.stringify(await api('GET', '/v1/sessions'))}`);
  });
});
