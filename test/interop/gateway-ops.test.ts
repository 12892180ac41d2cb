/**
 * Issue 6 acceptance, part 1: operating a running gateway with real openconnect clients.
 * `ctl sessions` shows each client with its address and channel; the metrics endpoint parses as
 * Prometheus text and its counters follow the test's traffic; `disconnect` makes openconnect
 * reconnect with its cookie and get its address back; `terminate` ends it for good; `ctl events`
 * streams all of it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestbed, interopSkipReason, tcpTransfer, type NsProcess, type Testbed } from '../helpers/netns.js';
import { startOpenconnect, type OpenconnectClient } from '../helpers/openconnect.js';
import { SSLGATE_BIN, startGateway, type SslgateGateway } from '../helpers/sslgate.js';
import { ctl, ctlJson, scrape } from '../helpers/ctl.js';
import { parsePrometheus, valueOf } from '../helpers/prometheus.js';
import type { SessionView } from '../../src/gateway/ops/session-view.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip']);
const MB2 = 2 * 1024 * 1024;
const METRICS = 'http://127.0.0.1:9100/metrics';
// Unusual strings, so finding them in a log or an event means a leak.
const PW_ALICE = 'alice-pw-4711';
const PW_BOB = 'bob-pw-0815';

test('operating the gateway: ctl sessions, metrics, disconnect, terminate, events', { skip, timeout: 240_000 }, async (t) => {
  let tb: Testbed | undefined;
  let gw: SslgateGateway | undefined;
  let events: NsProcess | undefined;
  const clients: OpenconnectClient[] = [];
  t.after(async () => {
    await events?.stop('SIGTERM', 2000).catch(() => undefined);
    for (const c of clients) await c.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await tb?.cleanup();
  });
  tb = await createTestbed({ tag: 'gwops' });
  const net = tb.poolNet(0);
  const gwTun = net.replace(/\.0\/24$/, '.1');
  gw = await startGateway(tb.gw, {
    listenHost: tb.gwAddr,
    yaml: `network:\n  address: ${gwTun}/24\n  routes: [${net}]\nmetrics: { listen: 127.0.0.1:9100 }\n`,
    users: [
      { name: 'alice', password: PW_ALICE },
      { name: 'bob', password: PW_BOB },
    ],
  });
  // `ctl events` as a person would run it; from the gateway's namespace only because the test
  // helpers spawn long-running processes in namespaces (the admin socket is a file either way).
  events = tb.gw.spawn(process.execPath, [SSLGATE_BIN, 'ctl', '--config', gw.configFile, 'events', '--json'], { label: 'ctl-events' });
  await new Promise((r) => setTimeout(r, 700)); // let it subscribe
  const connect = (user: string, password: string): OpenconnectClient => {
    const c = startOpenconnect(tb!.cl, { url: gw!.url, servercert: gw!.pin, user, password, noDtls: true });
    clients.push(c);
    return c;
  };
  const sessions = (): Promise<SessionView[]> => ctlJson<SessionView[]>(gw!, ['sessions']);

  const alice = connect('alice', PW_ALICE);
  const bob = connect('bob', PW_BOB);
  const [aTun, bTun] = await Promise.all([alice.waitTunnel(20_000), bob.waitTunnel(20_000)]);

  await t.test('ctl sessions --json: each client with its address, channel, remote address', async () => {
    const r = await ctl(gw!, ['sessions', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as SessionView[];
    t.diagnostic(`ctl sessions --json: ${r.ms} ms (process start included)`);
    assert.equal(list.length, 2);
    for (const [user, tun] of [['alice', aTun], ['bob', bTun]] as const) {
      const s = list.find((x) => x.user === user);
      assert.ok(s, `${user} missing: ${r.stdout}`);
      assert.equal(s.address, tun.address);
      assert.equal(s.state, 'connected');
      assert.equal(s.channel?.type, 'TLS');
      assert.match(s.channel?.tls.protocol ?? '', /^TLSv1\.[23]$/);
      assert.ok(s.channel?.tls.cipher, 'cipher missing');
      assert.equal(s.remote, tb!.clAddr);
      assert.match(s.userAgent, /AnyConnect/); // openconnect 9.01: "Open AnyConnect VPN Agent"
      assert.deepEqual(s.routes, [net]);
      assert.equal(JSON.stringify(s).includes('token'), false, 'a session view must not carry the cookie');
    }
    const human = await ctl(gw!, ['users']);
    assert.equal(human.code, 0, human.stderr);
    // several workers (the default `workers: auto` where there are several CPUs) add NODE and WORKER
    assert.match(human.stdout, /^ID\s+(NODE\s+WORKER\s+)?USER\s+GROUP\s+ADDRESS/m);
    assert.match(human.stdout, new RegExp(`alice\\s+default\\s+${aTun.address.replace(/\./g, '\\.')}`));
  });

  await t.test('metrics parse as Prometheus text and follow the traffic', async () => {
    const before = await scrape(tb!.gw, METRICS);
    assert.match(before.contentType, /^text\/plain; version=0\.0\.4/);
    const m0 = parsePrometheus(before.text);
    assert.equal(valueOf(m0, 'sslgate_sessions', { state: 'connected', channel: 'TLS' }), 2);
    assert.ok(valueOf(m0, 'sslgate_auth_total', { result: 'success' }) >= 2);
    assert.ok(valueOf(m0, 'sslgate_tunnel_mtu_bytes_count') >= 2, 'MTU histogram');
    assert.ok(valueOf(m0, 'nodejs_eventloop_lag_seconds') >= 0, 'event-loop lag');
    assert.equal(valueOf(m0, 'sslgate_bans', { kind: 'address' }), 0);
    const in0 = valueOf(m0, 'sslgate_tunnel_bytes_total', { direction: 'in', channel: 'TLS' });
    const out0 = valueOf(m0, 'sslgate_tunnel_bytes_total', { direction: 'out', channel: 'TLS' });
    const pin0 = valueOf(m0, 'sslgate_tunnel_packets_total', { direction: 'in', channel: 'TLS' });
    // Both clients share the namespace; vpnc-script's `route replace` leaves the route with the
    // last one configured. Transfer through that tunnel, to its address (replies must use it too:
    // the gateway drops packets whose source is not the sending session's address).
    const via = /\bsrc (\S+)/.exec((await tb!.cl.exec('ip', ['-4', 'route', 'get', gwTun])).stdout)?.[1];
    assert.ok(via === aTun.address || via === bTun.address, `route to ${gwTun} uses ${via}`);
    const up = await tcpTransfer(tb!.cl, tb!.gw, gwTun, MB2);
    assert.equal(up.receivedSha256, up.sentSha256);
    const down = await tcpTransfer(tb!.gw, tb!.cl, via, MB2);
    assert.equal(down.receivedSha256, down.sentSha256);
    const after = await scrape(tb!.gw, METRICS);
    const m1 = parsePrometheus(after.text);
    const dIn = valueOf(m1, 'sslgate_tunnel_bytes_total', { direction: 'in', channel: 'TLS' }) - in0;
    const dOut = valueOf(m1, 'sslgate_tunnel_bytes_total', { direction: 'out', channel: 'TLS' }) - out0;
    const dPin = valueOf(m1, 'sslgate_tunnel_packets_total', { direction: 'in', channel: 'TLS' }) - pin0;
    t.diagnostic(`scrape ${before.ms.toFixed(1)} / ${after.ms.toFixed(1)} ms (${after.text.length} bytes); moved: in ${dIn} B (${dPin} packets), out ${dOut} B`);
    // Payload bytes are IP packets: the transfer plus IP/TCP headers and the ACKs of the other one.
    assert.ok(dIn >= MB2 && dIn < MB2 * 1.5, `in moved by ${dIn}`);
    assert.ok(dOut >= MB2 && dOut < MB2 * 1.5, `out moved by ${dOut}`);
    assert.ok(dPin >= MB2 / 1500, `packets in moved by ${dPin}`);
    // the per-session views agree
    const list = await sessions();
    const carrier = list.find((s) => s.address === via)!;
    assert.ok(carrier.bytesIn >= MB2 && carrier.bytesOut >= MB2, JSON.stringify(carrier));
  });

  await t.test('disconnect: openconnect reconnects with its cookie and gets its address back', async () => {
    const id = (await sessions()).find((s) => s.user === 'alice')!.id;
    const ocMark = alice.lines.length;
    const gwMark = gw!.proc.lines.length;
    const r = await ctl(gw!, ['disconnect', String(id)]);
    assert.equal(r.code, 0, r.stderr);
    const t0 = Date.now();
    // The gateway closed the TLS connection without a goodbye: openconnect reconnects (§8.5).
    // Its first attempt is immediate; later ones back off from 10 s, so allow a few.
    await alice.proc.waitForLine(/CSTP connected/, 60_000, ocMark);
    const up = await gw!.waitLog(/tunnel up/, 10_000, gwMark);
    t.diagnostic(`reconnect: openconnect's tunnel back ${Date.now() - t0} ms after ctl disconnect returned`);
    assert.equal(up['session'], id);
    assert.equal(up['address'], aTun.address);
    assert.ok(alice.proc.running, 'openconnect exited instead of reconnecting');
    const s = (await sessions()).find((x) => x.id === id)!;
    assert.equal(s.address, aTun.address);
    assert.equal(s.state, 'connected');
    assert.equal(s.reconnects, 1);
    const ping = await tb!.cl.exec('ping', ['-n', '-q', '-c', '1', '-W', '3', '-I', alice.iface, gwTun], { timeoutMs: 10_000 });
    assert.equal(ping.code, 0, `no ping through alice's tunnel after the reconnect: ${ping.stdout}`);
  });

  await t.test('terminate user: openconnect exits for good, the session is gone', async () => {
    const id = (await sessions()).find((s) => s.user === 'bob')!.id;
    const r = await ctl(gw!, ['terminate', 'user', 'bob']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`terminated session\\(s\\): ${id}`));
    const exit = await bob.proc.waitExit(15_000);
    clients.splice(clients.indexOf(bob), 1);
    assert.notEqual(exit.code, null);
    assert.ok(bob.lines.some((l) => /terminate/i.test(l.text)), bob.proc.tail());
    assert.deepEqual((await sessions()).map((s) => s.user), ['alice']);
    const gone = await ctl(gw!, ['session', String(id)]);
    assert.equal(gone.code, 2, 'a terminated session is not found');
  });

  await t.test('ctl status and ctl events report what happened', async () => {
    const bad = connect('alice', 'wrong');
    assert.notEqual((await bad.proc.waitExit(30_000)).code, 0);
    clients.splice(clients.indexOf(bad), 1);
    const st = await ctlJson<{ sessions: { connected: number; channels: { TLS: number } }; auth: { successes: number; failures: number; failuresByReason: Record<string, number> }; traffic: { bytesIn: number } }>(gw!, ['status']);
    assert.equal(st.sessions.connected, 1);
    assert.equal(st.sessions.channels.TLS, 1);
    assert.equal(st.auth.successes, 2);
    assert.equal(st.auth.failuresByReason['bad-credentials'], 1);
    assert.ok(st.traffic.bytesIn >= MB2);
    const human = await ctl(gw!, ['status']);
    assert.match(human.stdout, /^sessions:\s+1 \(1 connected/m);
    // the stream saw every step, in order
    await events!.waitForLine(/"type":"auth-failure"/, 10_000);
    const evs = events!.lines.filter((l) => l.text.startsWith('{')).map((l) => JSON.parse(l.text) as { type: string; reason?: string; user?: string; reconnect?: boolean });
    const seen = evs.map((e) => `${e.type}${e.reason ? ':' + e.reason : ''}`);
    for (const want of ['login', 'connect', 'disconnect:admin-disconnect', 'session-end:terminated by admin', 'auth-failure:bad-credentials']) {
      assert.ok(seen.includes(want), `event ${want} not streamed; got ${seen.join(', ')}`);
    }
    assert.ok(evs.some((e) => e.type === 'connect' && e.reconnect === true), 'reconnect not marked');
    assert.ok(!events!.lines.some((l) => l.text.includes(PW_ALICE) || l.text.includes('webvpn')), 'password or cookie in the event stream');
    assert.ok(!gw!.proc.lines.some((l) => l.text.includes(PW_ALICE) || l.text.includes(PW_BOB)), 'password in the gateway log');
  });
});
