/**
 * Issue 12 §1 acceptance: sessions survive the gateway. Real openconnect 9.01 clients, a real
 * TUN and real TCP through the tunnel:
 *   - `kill -9` of `sslgate serve` (TLS only, and with DTLS): its network process exits by
 *     itself without a goodbye, the gateway starts again on the same state folder, openconnect
 *     reconnects with its cookie (it does so by itself) and keeps its address; within 15 s the
 *     tunnel answers pings, and a TCP transfer started before the kill completes after it with
 *     the same SHA-256 on both ends;
 *   - `sslgate ctl restart` twice (the second under the supervisor the first one left): the same,
 *     with the gateway's first process (PID) staying;
 *   - `sslgate connect` (our client) reconnects with its cookie after a kill -9 too;
 *   - kill -9 of the supervising first process after a `ctl restart`: the gateway under it hands
 *     over and exits, and a new `serve` takes the sessions;
 *   - a ban made before a kill -9 still refuses after the restart;
 *   - SIGTERM keeps its meaning: TERMINATE to every client, and the sessions leave the store.
 */
import { parsePrometheus, valueOf } from '../helpers/prometheus.js';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { interopSkipReason, seededStreamEnv, type Ns, type NsProcess } from '../helpers/netns.js';
import { gwHost, twoGroupYaml } from '../helpers/sslgate.js';
import { ctl, ctlJson } from '../helpers/ctl.js';
import { tempDir } from '../helpers/netns.js';
import { startClient } from './client-harness.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip']);
const USERS = [{ name: 'alice', password: 'secret' }];
/** twoGroupYaml serves a profile */
const FILES = { 'profile.xml': '<?xml version="1.0" encoding="UTF-8"?>\n<AnyConnectProfile xmlns="http://schemas.xmlsoap.org/encoding/"></AnyConnectProfile>\n' };

// Sink: one connection, hashes what arrives, says when `MARK` bytes are in, prints the result at EOF.
const SINK_JS = `
const net = require('node:net'), crypto = require('node:crypto');
const h = crypto.createHash('sha256'); let n = 0; const mark = Number(process.env.MARK); let said = false;
const srv = net.createServer((s) => {
  srv.close();
  s.on('data', (d) => { h.update(d); n += d.length; if (!said && n >= mark) { said = true; console.log('RECEIVED ' + n); } });
  s.on('end', () => { console.log('RESULT ' + JSON.stringify({ bytes: n, sha256: h.digest('hex') })); s.end(); });
  s.on('error', (e) => { console.error('sink socket error: ' + e.message); process.exit(2); });
});
srv.listen(0, process.env.SINK_HOST, () => console.log('LISTENING ' + srv.address().port));
`;

// Source: BEFORE seeded bytes, then waits for SIGUSR2, then AFTER more, then closes.
const SOURCE_JS = `
const net = require('node:net'), crypto = require('node:crypto');
const before = Number(process.env.BEFORE), total = before + Number(process.env.AFTER);
const h = crypto.createHash('sha256'); let sent = 0;
const rng = crypto.createCipheriv('aes-256-ctr', Buffer.from(process.env.RNG_KEY, 'hex'), Buffer.from(process.env.RNG_IV, 'hex'));
const s = net.connect({ host: process.env.HOST, port: Number(process.env.PORT) }, () => {
  const pump = (limit, done) => {
    while (sent < limit) {
      const b = rng.update(Buffer.alloc(Math.min(65536, limit - sent)));
      h.update(b); sent += b.length;
      if (!s.write(b)) { s.once('drain', () => pump(limit, done)); return; }
    }
    done();
  };
  process.once('SIGUSR2', () => pump(total, () => s.end()));
  pump(before, () => console.log('HALF ' + sent));
});
s.resume();
s.on('error', (e) => { console.error('source socket error: ' + e.message); process.exit(2); });
s.on('close', () => console.log('RESULT ' + JSON.stringify({ bytes: sent, sha256: h.digest('hex') })));
`;

/** A TCP transfer from `from` to `toAddr` (in `to`) that stops half-way until finish() is called. */
async function pausedTransfer(from: Ns, to: Ns, toAddr: string, before: number, after: number): Promise<{ finish(): Promise<{ sent: string; received: string; bytes: number }>; procs: NsProcess[] }> {
  const sink = to.spawn(process.execPath, ['-e', SINK_JS], { env: { ...process.env, SINK_HOST: toAddr, MARK: String(before) }, label: 'restart-sink' });
  const port = (await sink.waitForLine(/^LISTENING (\d+)$/, 10_000))[1] ?? '';
  const source = from.spawn(process.execPath, ['-e', SOURCE_JS], {
    env: { ...process.env, HOST: toAddr, PORT: port, BEFORE: String(before), AFTER: String(after), ...seededStreamEnv('restart transfer') },
    label: 'restart-source',
  });
  // The first half went through the tunnel before anything else happens.
  await sink.waitForLine(/^RECEIVED \d+$/, 60_000);
  return {
    procs: [sink, source],
    async finish() {
      source.signal('SIGUSR2');
      const [s, r] = await Promise.all([source.waitForLine(/^RESULT (.*)$/, 120_000), sink.waitForLine(/^RESULT (.*)$/, 120_000)]);
      const sent = JSON.parse(s[1] ?? '{}') as { bytes: number; sha256: string };
      const got = JSON.parse(r[1] ?? '{}') as { bytes: number; sha256: string };
      assert.equal(sent.bytes, before + after);
      return { sent: sent.sha256, received: got.sha256, bytes: got.bytes };
    },
  };
}

/** Waits until no process of the group led by `pid` is left (the network process is in it). */
async function groupGone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      process.kill(-pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function storedSessions(dir: string): number {
  const db = new Database(join(dir, 'state', 'sessions.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM sessions').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

async function killAndRestart(t: TestContext, dtls: boolean): Promise<void> {
  const bed = await GatewayBed.open(t, dtls ? 'rsd' : 'rst');
  const emp = bed.tb.poolNet(0);
  const server = gwHost(emp);
  await bed.startGateway({ yaml: twoGroupYaml(emp, bed.tb.poolNet(1)), users: USERS, files: FILES });
  const c = bed.connect({ user: 'alice', password: 'secret', authgroup: 'Employees', noDtls: !dtls });
  const first = await c.waitTunnel(30_000);
  if (dtls) assert.match(first.dtls, /connected|in progress/i, `DTLS state: ${first.line}`);
  assert.ok(await bed.pingSoon(server), 'ping before the kill');
  const transfer = await pausedTransfer(bed.tb.cl, bed.tb.gw, server, 2 * 1024 * 1024, 2 * 1024 * 1024);
  t.after(async () => {
    for (const p of transfer.procs) await p.stop('SIGKILL', 2000).catch(() => undefined);
  });

  const old = bed.gw.proc;
  const leader = old.pid;
  const linesBefore = c.lines.length;
  process.kill(leader, 'SIGKILL');
  await old.waitExit(10_000);
  assert.ok(await groupGone(leader, 15_000), 'the network process exits by itself when its privileged parent is killed');
  assert.equal(c.proc.running, true, `openconnect got no TERMINATE and keeps trying:\n${c.proc.tail()}`);

  const restartedAt = Date.now();
  const gw = await bed.relaunch();
  const open = await gw.waitLog(/session store open/, 10_000);
  assert.equal(open['reconnecting'], 1, 'the session whose tunnel was up is waiting for its client');
  // openconnect retries by itself (its reconnect interval is 10 s); the 15 s is the limit.
  const up = await gw.waitLog(/tunnel up/, 15_000);
  assert.equal(up['address'], first.address, 'the same address after the restart');
  // With DTLS, the reconnected tunnel negotiates its DTLS channel again.
  if (dtls) await gw.waitLog(/DTLS up/, 20_000);
  const left = 15_000 - (Date.now() - restartedAt);
  let answered = false;
  for (const until = Date.now() + Math.max(left, 1000); !answered && Date.now() < until; ) answered = await bed.tb.cl.ping(server, { count: 1, timeoutMs: 1000 });
  assert.ok(answered, `the tunnel answers pings within 15 s of the restart\n${c.proc.tail()}`);
  assert.equal(c.proc.running, true, 'openconnect kept its session (a new address would make it exit)');
  const since = c.lines.slice(linesBefore).map((l) => l.text);
  assert.ok(!since.some((l) => /Failed to obtain WebVPN cookie|Cookie is not acceptable|Please enter your username/i.test(l)), `no new login:\n${since.join('\n')}`);
  t.diagnostic(`openconnect after the kill:\n${since.join('\n')}`);

  const r = await transfer.finish();
  assert.equal(r.bytes, 4 * 1024 * 1024);
  assert.equal(r.received, r.sent, 'the transfer started before the kill completes intact');
}

test('kill -9 of the gateway (TLS only): same address, pings within 15 s, TCP transfer intact', { skip, timeout: 240_000 }, (t) => killAndRestart(t, false));

test('kill -9 of the gateway (DTLS): same address, pings within 15 s, TCP transfer intact', { skip, timeout: 240_000 }, (t) => killAndRestart(t, true));

test('SIGTERM still ends every session: the client is told, the store forgets it', { skip, timeout: 180_000 }, async (t) => {
  const bed = await GatewayBed.open(t, 'rsg');
  const emp = bed.tb.poolNet(0);
  await bed.startGateway({ yaml: twoGroupYaml(emp, bed.tb.poolNet(1)), users: USERS, files: FILES });
  const c = bed.connect({ user: 'alice', password: 'secret', authgroup: 'Employees', noDtls: true });
  await c.waitTunnel(30_000);
  assert.equal(storedSessions(bed.gw.dir), 1, 'the login is in the store');
  await bed.gw.stop();
  // openconnect exits on TERMINATE (it does not reconnect).
  const st = await c.proc.waitExit(20_000);
  t.diagnostic(`openconnect exited ${st.code} after SIGTERM of the gateway`);
  assert.equal(storedSessions(bed.gw.dir), 0, 'the session is gone from the store');
});

test('ctl restart (twice): new gateway processes take every session over; SIGTERM afterwards still ends them', { skip, timeout: 300_000 }, async (t) => {
  const bed = await GatewayBed.open(t, 'rsc');
  const emp = bed.tb.poolNet(0);
  const server = gwHost(emp);
  const gw = await bed.startGateway({ yaml: twoGroupYaml(emp, bed.tb.poolNet(1)), users: USERS, files: FILES });
  const c = bed.connect({ user: 'alice', password: 'secret', authgroup: 'Employees' });
  const first = await c.waitTunnel(30_000);
  assert.ok(await bed.pingSoon(server), 'ping before the restart');
  const transfer = await pausedTransfer(bed.tb.cl, bed.tb.gw, server, 2 * 1024 * 1024, 2 * 1024 * 1024);
  t.after(async () => {
    for (const p of transfer.procs) await p.stop('SIGKILL', 2000).catch(() => undefined);
  });
  for (const round of [1, 2]) {
    const from = gw.proc.lines.length;
    const linesBefore = c.lines.length;
    const r = await ctl(gw, ['restart']);
    assert.equal(r.code, 0, `ctl restart: ${r.stderr}${r.stdout}`);
    const t0 = Date.now();
    // The new process writes to the same output (the supervisor passes its stdio on).
    await gw.waitLog(/gateway listening/, 30_000, from);
    const up = await gw.waitLog(/tunnel up/, 15_000, from);
    assert.equal(up['address'], first.address, `round ${round}: the same address`);
    assert.ok(await bed.pingSoon(server), `round ${round}: pings after the restart`);
    t.diagnostic(`round ${round}: ctl restart to an answered ping: ${Date.now() - t0 + r.ms} ms`);
    assert.equal(gw.proc.running, true, 'the first process stays (it supervises the new one)');
    assert.equal(c.proc.running, true, 'openconnect kept its session');
    const since = c.lines.slice(linesBefore).map((l) => l.text);
    assert.ok(!since.some((l) => /Cookie is not acceptable|Please enter your username|terminate packet/i.test(l)), `round ${round}: no TERMINATE, no new login:\n${since.join('\n')}`);
  }
  const r = await transfer.finish();
  assert.equal(r.received, r.sent, 'the transfer started before the restarts completes intact');
  // SIGTERM to the first process reaches the current gateway: TERMINATE, sessions gone.
  const st = await gw.proc.stop('SIGTERM', 15_000);
  assert.equal(st.code, 0, `the gateway exits cleanly:\n${gw.proc.tail()}`);
  await c.proc.waitExit(20_000);
  assert.equal(storedSessions(gw.dir), 0, 'the session is gone from the store');
});

test('sslgate connect reconnects with its cookie after kill -9 of the gateway: same address, TCP intact', { skip, timeout: 240_000 }, async (t) => {
  const bed = await GatewayBed.open(t, 'rscl');
  const emp = bed.tb.poolNet(0);
  const server = gwHost(emp);
  await bed.startGateway({ yaml: twoGroupYaml(emp, bed.tb.poolNet(1)), users: USERS, files: FILES });
  const c = startClient(bed.tb.cl, { url: bed.gw.url, prefsDir: tempDir('rscl-prefs'), user: 'alice', passwords: ['secret'], authgroup: 'Employees', servercert: [bed.gw.pin], iface: 'sgrs0' });
  t.after(async () => {
    await c.stop().catch(() => undefined);
  });
  const up = await c.waitTunnel(30_000);
  assert.ok(await bed.pingSoon(server), 'ping before the kill');
  const transfer = await pausedTransfer(bed.tb.cl, bed.tb.gw, server, 2 * 1024 * 1024, 2 * 1024 * 1024);
  t.after(async () => {
    for (const p of transfer.procs) await p.stop('SIGKILL', 2000).catch(() => undefined);
  });
  const from = c.proc.lines.length;
  process.kill(bed.gw.proc.pid, 'SIGKILL');
  await bed.gw.proc.waitExit(10_000);
  const restartedAt = Date.now();
  await bed.relaunch();
  const m = await c.proc.waitForLine(/^Reconnected after \d+ ms \(attempt \d+\), address ([0-9.]+)/, 30_000, from);
  assert.equal(m[1], up.address, 'the same address');
  t.diagnostic(`sslgate connect: reconnected ${Date.now() - restartedAt} ms after the restart began`);
  assert.ok(await bed.pingSoon(server), 'pings after the restart');
  assert.equal(c.proc.running, true);
  const r = await transfer.finish();
  assert.equal(r.received, r.sent, 'the transfer started before the kill completes intact');
});

test('a ban survives kill -9 of the gateway', { skip, timeout: 180_000 }, async (t) => {
  const bed = await GatewayBed.open(t, 'rsb');
  const emp = bed.tb.poolNet(0);
  // Two wrong passwords ban the address (10 points each, ban at 20), for an hour.
  await bed.startGateway({ yaml: `${twoGroupYaml(emp, bed.tb.poolNet(1))}ban: { max-score: 20, ban-time: 3600 }\n`, users: USERS, files: FILES });
  for (let i = 1; i <= 2; i++) {
    const c = bed.connect({ user: 'alice', password: `wrong-${i}`, authgroup: 'Employees', noDtls: true });
    await c.proc.waitExit(30_000);
    await bed.stop(c);
  }
  const bans = await ctlJson<Array<{ kind: string; key: string }>>(bed.gw, ['bans']);
  assert.deepEqual(bans.map((b) => [b.kind, b.key]), [['address', bed.tb.clAddr]]);
  process.kill(bed.gw.proc.pid, 'SIGKILL');
  await bed.gw.proc.waitExit(10_000);
  const gw = await bed.relaunch();
  await gw.waitLog(/bans restored from the session store/, 10_000);
  const after = await ctlJson<Array<{ kind: string; key: string; secondsLeft: number }>>(gw, ['bans']);
  assert.deepEqual(after.map((b) => [b.kind, b.key]), [['address', bed.tb.clAddr]], 'the ban is back');
  assert.ok(after[0]!.secondsLeft > 3000, `it keeps its end: ${JSON.stringify(after[0])}`);
  const bannedCount = async (): Promise<number> => valueOf(parsePrometheus((await ctl(gw, ['metrics'])).stdout), 'sslgate_refused_connections_total', { reason: 'banned' });
  const before = await bannedCount();
  const c = bed.connect({ user: 'alice', password: 'secret', authgroup: 'Employees', noDtls: true });
  await bed.refused(c, 'banned address after the restart', t);
  assert.ok((await bannedCount()) > before, 'refused as a banned address, not for another reason');
});

test('kill -9 of the supervising process after ctl restart: the gateway under it hands over, the next serve takes the session', { skip, timeout: 240_000 }, async (t) => {
  const bed = await GatewayBed.open(t, 'rss');
  const emp = bed.tb.poolNet(0);
  const server = gwHost(emp);
  const gw = await bed.startGateway({ yaml: twoGroupYaml(emp, bed.tb.poolNet(1)), users: USERS, files: FILES });
  const c = bed.connect({ user: 'alice', password: 'secret', authgroup: 'Employees', noDtls: true });
  const first = await c.waitTunnel(30_000);
  const from = gw.proc.lines.length;
  assert.equal((await ctl(gw, ['restart'])).code, 0);
  await gw.waitLog(/tunnel up/, 20_000, from);
  const leader = gw.proc.pid;
  process.kill(leader, 'SIGKILL');
  await gw.proc.waitExit(10_000);
  assert.ok(await groupGone(leader, 20_000), 'the supervised gateway and its network process exit by themselves');
  assert.equal(c.proc.running, true, 'no TERMINATE');
  const next = await bed.relaunch();
  const up = await next.waitLog(/tunnel up/, 20_000);
  assert.equal(up['address'], first.address, 'the same address');
  assert.ok(await bed.pingSoon(server));
});
