/**
 * Issue 11, `workers: 2`: worker 0's metrics and `ctl status` cover the other worker's data
 * plane too (ops/data-plane-counters.ts, worker-metrics.ts). Two Debian openconnect clients with
 * DTLS, one tunnel on each worker, pings through both; then
 *   - `ctl status` counts both tunnels and their live traffic (at least what `ctl sessions`
 *     showed for both, read before it: counters only grow);
 *   - `sslgate_pool_addresses{state="leased"}` is 2 (one lease on each worker);
 *   - `sslgate_router_packets_total{result="tun-read"}` is at least the tunnel packets out of
 *     both workers (every packet to a client was read from its worker's TUN first);
 *   - `sslgate_dtls_listener_total{event="peer-adopted"}` counts worker 1's adopted DTLS peer;
 *   - worker 1 stopped (SIGSTOP): the router counter does not go down (its last answer counts),
 *     its lease leaves the gauge, `ctl status` says `unanswered: [1]` and its traffic stays.
 * Before, these were worker 0's own: one lease, the TUN reads of worker 0 only (below the packets
 * out of both), no adopted peer, and `ctl status` without worker 1's open tunnel.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { interopSkipReason } from '../helpers/netns.js';
import { gwHost } from '../helpers/sslgate.js';
import { ctlJson } from '../helpers/ctl.js';
import { valueOf } from '../helpers/prometheus.js';
import { openTwoWorkerBed, scrape } from '../helpers/two-worker-bed.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip']);

interface View {
  id: number;
  worker?: number;
  channel?: string;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
}

interface Status {
  sessions: { total: number; connected: number; channels: Record<string, number> };
  traffic: { bytesIn: number; bytesOut: number; packetsIn: number; packetsOut: number };
  tlsConnections: number;
  unanswered?: number[];
}

test('workers: 2 -> pool, router, DTLS listener metrics and ctl status traffic cover both workers', { skip, timeout: 300_000 }, async (t: TestContext) => {
  const bed = await openTwoWorkerBed(t, 'mcdp', { dtls: true });
  const { gw, net } = bed;

  const views = await ctlJson<View[]>(gw, ['sessions']);
  t.diagnostic(JSON.stringify(views.map((v) => [v.id, v.worker, v.channel, v.bytesIn, v.bytesOut, v.packetsIn])));
  assert.deepEqual(views.map((v) => v.worker).sort(), [0, 1], 'one tunnel on each worker');
  assert.ok(views.every((v) => v.packetsIn > 0), 'traffic on both tunnels');

  // ctl status: both workers' open tunnels (read after ctl sessions: counters only grow).
  const st = await ctlJson<Status>(gw, ['status']);
  t.diagnostic(`status: ${JSON.stringify({ sessions: st.sessions, traffic: st.traffic })}`);
  assert.equal(st.sessions.connected, 2, 'ctl status counts both workers\' tunnels');
  assert.ok(st.traffic.bytesIn >= views.reduce((n, v) => n + v.bytesIn, 0), 'live bytes in of both workers in ctl status');
  assert.ok(st.traffic.bytesOut >= views.reduce((n, v) => n + v.bytesOut, 0), 'live bytes out of both workers in ctl status');
  assert.ok(st.traffic.packetsIn >= views.reduce((n, v) => n + v.packetsIn, 0), 'live packets in of both workers in ctl status');
  assert.equal(st.unanswered, undefined);

  const m = await scrape(gw);
  const leased = valueOf(m, 'sslgate_pool_addresses', { pool: `${gwHost(net)}/24`, state: 'leased' });
  const tunRead = valueOf(m, 'sslgate_router_packets_total', { result: 'tun-read' });
  const packetsOut = valueOf(m, 'sslgate_tunnel_packets_total', { direction: 'out' });
  const adopted = valueOf(m, 'sslgate_dtls_listener_total', { event: 'peer-adopted' });
  t.diagnostic(`metrics: leased ${leased}, tun-read ${tunRead}, tunnel packets out ${packetsOut}, DTLS peers adopted ${adopted}`);
  assert.equal(leased, 2, 'one lease on each worker');
  assert.ok(packetsOut >= 40, 'both clients\' ping replies went out');
  // sslgate_tunnel_packets_total is collected before the router's counter (registration order):
  // every packet out was read from a TUN before.
  assert.ok(tunRead >= packetsOut, `TUN reads of both workers (${tunRead}) cover the packets out of both (${packetsOut})`);
  assert.ok(adopted >= 1, 'worker 1 adopted its client\'s DTLS peer socket');
  assert.equal(valueOf(m, 'sslgate_worker_answered', { worker: '1' }), 1);

  // Worker 1 stops answering: counters keep its last answer, its lease leaves the gauge.
  bed.stop(bed.networkPids()[1]!);
  const silent = await scrape(gw);
  assert.equal(valueOf(silent, 'sslgate_worker_answered', { worker: '1' }), 0);
  assert.ok(valueOf(silent, 'sslgate_router_packets_total', { result: 'tun-read' }) >= tunRead, 'the router counter did not go down');
  assert.ok(valueOf(silent, 'sslgate_dtls_listener_total', { event: 'peer-adopted' }) >= adopted, 'the DTLS counter did not go down');
  assert.equal(valueOf(silent, 'sslgate_pool_addresses', { pool: `${gwHost(net)}/24`, state: 'leased' }), 1, 'worker 1\'s lease left out');
  const st2 = await ctlJson<Status>(gw, ['status']);
  assert.deepEqual(st2.unanswered, [1]);
  assert.equal(st2.sessions.connected, 1);
  assert.ok(st2.traffic.bytesIn >= st.traffic.bytesIn, 'ctl status traffic did not go down');
  bed.resume();
  const back = await scrape(gw);
  assert.equal(valueOf(back, 'sslgate_worker_answered', { worker: '1' }), 1);
  assert.equal(valueOf(back, 'sslgate_pool_addresses', { pool: `${gwHost(net)}/24`, state: 'leased' }), 2);
});
