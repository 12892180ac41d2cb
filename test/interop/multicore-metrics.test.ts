/**
 * Issue 11, `workers: 2`: the metrics worker 0 serves cover every worker (ops/worker-metrics.ts):
 * two Debian openconnect clients, one tunnel on each worker, pings through both; then
 *   - `sslgate_sessions{state="connected"}` counts both tunnels, `sslgate_worker_answered` is 1;
 *   - `sslgate_tunnel_bytes_total{direction="in"}` is at least the live bytes `ctl sessions`
 *     shows for both sessions (read before it: counters only grow), packets likewise;
 *   - worker 1 stopped (SIGSTOP): the scrape still answers (after the relay's 3 s), marks
 *     `sslgate_worker_answered{worker="1"} 0`, leaves worker 1's tunnel out of the gauge, and the
 *     traffic counters do not go down (worker 1's last answer counts); after SIGCONT all is back.
 * Before this, the metrics counted worker 0's tunnels only: one connected session, and the
 * bytes of worker 1's live tunnel missing.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { interopSkipReason } from '../helpers/netns.js';
import { ctlJson } from '../helpers/ctl.js';
import { parsePrometheus, valueOf } from '../helpers/prometheus.js';
import { openTwoWorkerBed, scrape } from '../helpers/two-worker-bed.js';

const skip = interopSkipReason(['openconnect', 'ping', 'ip']);

interface View {
  id: number;
  address: string | null;
  worker?: number;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
}

/** The sum of a metric's samples whose labels include `labels`. */
function sum(m: ReturnType<typeof parsePrometheus>, name: string, labels: Record<string, string> = {}): number {
  return valueOf(m, name, labels);
}

test('workers: 2 -> the metrics count both workers\' sessions and live traffic; a silent worker is marked', { skip, timeout: 300_000 }, async (t: TestContext) => {
  const bed = await openTwoWorkerBed(t, 'mcmet', { dtls: false });
  const { gw } = bed;

  const views = await ctlJson<View[]>(gw, ['sessions']);
  t.diagnostic(JSON.stringify(views.map((v) => [v.id, v.worker, v.bytesIn, v.bytesOut])));
  assert.deepEqual(views.map((v) => v.worker).sort(), [0, 1], 'one tunnel on each worker');
  const m = await scrape(gw);
  assert.equal(sum(m, 'sslgate_sessions', { state: 'connected' }), 2, 'both workers\' tunnels in the gauge');
  assert.equal(sum(m, 'sslgate_worker_answered', { worker: '1' }), 1);
  const inBytes = sum(m, 'sslgate_tunnel_bytes_total', { direction: 'in' });
  const outBytes = sum(m, 'sslgate_tunnel_bytes_total', { direction: 'out' });
  const inPackets = sum(m, 'sslgate_tunnel_packets_total', { direction: 'in' });
  t.diagnostic(`metrics: in ${inBytes} B / ${inPackets} packets, out ${outBytes} B`);
  // ctl sessions' bytesIn counts what the clients sent (in); the metrics read later, counters only grow.
  assert.ok(inBytes >= views.reduce((n, v) => n + v.bytesIn, 0), 'live bytes in of both workers');
  assert.ok(outBytes >= views.reduce((n, v) => n + v.bytesOut, 0), 'live bytes out of both workers');
  assert.ok(inPackets >= views.reduce((n, v) => n + v.packetsIn, 0), 'live packets in of both workers');
  assert.ok(sum(m, 'sslgate_tls_connections') >= 2);

  // Worker 1 stops answering: marked, left out of the gauges, its traffic kept at its last answer.
  bed.stop(bed.networkPids()[1]!);
  const silent = await scrape(gw);
  assert.equal(sum(silent, 'sslgate_worker_answered', { worker: '1' }), 0, 'worker 1 marked as not answering');
  assert.equal(sum(silent, 'sslgate_sessions', { state: 'connected' }), 1, 'only worker 0\'s tunnel');
  assert.ok(sum(silent, 'sslgate_tunnel_bytes_total', { direction: 'in' }) >= inBytes, 'the traffic counter did not go down');
  bed.resume();
  const back = await scrape(gw);
  assert.equal(sum(back, 'sslgate_worker_answered', { worker: '1' }), 1);
  assert.equal(sum(back, 'sslgate_sessions', { state: 'connected' }), 2);
});
