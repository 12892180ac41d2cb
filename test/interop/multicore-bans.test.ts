/**
 * Issue 11, `workers: 2`: ban scores add up over the workers (worker 0 scores every worker's
 * events and decides the bans: gatekeeper.ts). With `ban: { max-score: 30, points: { password:
 * 10 } }`, wrong passwords from one address on two connections that the gateway gave to
 * different workers (limits-attacker.ts `failures`):
 *   - after one failure on each worker, `ctl bans --scores` shows the address with 20;
 *   - the third failure, wherever it lands, bans the address: one ban (sslgate_bans_total 1),
 *     and new connections from it are closed before TLS (by the privileged process, which
 *     sees the ban go by), counted as refused: banned.
 * Scored per worker (the old code), `ctl bans --scores` showed 10 and three failures spread
 * over two workers never reached 30.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { interopSkipReason, type NsProcess } from '../helpers/netns.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { gwHost, type SslgateGateway } from '../helpers/sslgate.js';
import { ctl, ctlJson } from '../helpers/ctl.js';
import { parsePrometheus, valueOf } from '../helpers/prometheus.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ATTACKER = path.join(HERE, 'limits-attacker.js');
const skip = interopSkipReason(['ip']);

interface Ban {
  kind: string;
  key: string;
  score: number;
  bannedUntil: string | null;
}

async function run(bed: GatewayBed, args: string[], event: string): Promise<Record<string, unknown>> {
  const port = new URL(bed.gw.url).port || '443';
  const p: NsProcess = bed.tb.cl.spawn(process.execPath, [ATTACKER, args[0]!, bed.tb.gwAddr, port, ...args.slice(1)], { label: `attacker-${args[0]}` });
  try {
    const m = await p.waitForLine(new RegExp(`^\\{"event":"(${event}|error|lifetime-over)"`), 60_000);
    const r = JSON.parse(m.input ?? '{}') as Record<string, unknown>;
    assert.equal(r['event'], event, m.input);
    return r;
  } finally {
    await p.stop('SIGKILL', 2000).catch(() => undefined);
  }
}

/** The address's entry in `ctl bans` once `pred` holds (worker 0 learns the other's events a moment later), or the last one seen. */
async function banSoon(gw: SslgateGateway, addr: string, scores: boolean, pred: (b: Ban | undefined) => boolean): Promise<Ban | undefined> {
  let b: Ban | undefined;
  for (let i = 0; i < 50; i++) {
    b = (await ctlJson<Ban[]>(gw, scores ? ['bans', '--scores'] : ['bans'])).find((x) => x.kind === 'address' && x.key === addr);
    if (pred(b)) return b;
    await new Promise((r) => setTimeout(r, 200));
  }
  return b;
}

test('workers: 2 -> failed logins on both workers add up to one score and one ban', { skip, timeout: 180_000 }, async (t) => {
  const bed = await GatewayBed.open(t, 'mcban');
  const net = bed.tb.poolNet(0);
  const gw = await bed.startGateway({
    yaml: `workers: 2\nban: { max-score: 30, points: { password: 10 } }\nnetwork:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
    users: [{ name: 'alice', password: 'secret-a' }],
  });
  const addr = bed.tb.clAddr;

  const first = await run(bed, ['failures', '2', 'alice', 'wrong-password', 'Employees'], 'failures');
  t.diagnostic(JSON.stringify(first));
  const failed = gw.logs().filter((l) => l['msg'] === 'login failed');
  assert.deepEqual(failed.map((l) => Number(l['worker'])).sort(), [0, 1], 'one failure on each worker');
  const scored = await banSoon(gw, addr, true, (b) => (b?.score ?? 0) >= 20);
  assert.equal(scored?.score, 20, `ctl bans --scores shows the gateway-wide score: ${JSON.stringify(scored)}`);
  assert.equal(scored?.bannedUntil, null);

  await run(bed, ['failures', '1', 'alice', 'wrong-password', 'Employees'], 'failures');
  const banned = await banSoon(gw, addr, false, (b) => b?.bannedUntil != null);
  assert.ok(banned?.bannedUntil, `the third failure banned the address: ${JSON.stringify(banned)}`);
  const m = parsePrometheus((await ctl(gw, ['metrics'])).stdout);
  assert.equal(valueOf(m, 'sslgate_bans_total', { kind: 'address' }), 1, 'one ban, decided once');

  // Both workers refuse the address now (the ban reached worker 1 through the store).
  let r: Record<string, unknown> = {};
  for (let i = 0; i < 20; i++) {
    r = await run(bed, ['burst', '4'], 'burst');
    if (r['ok'] === 0) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.equal(r['ok'], 0, `connections from the banned address were admitted: ${JSON.stringify(r)}`);
  // Refused before TLS and counted in the metrics whichever worker they would have gone to: the
  // privileged process refuses a banned address at accept (priv/address-bans.ts).
  const after = parsePrometheus((await ctl(gw, ['metrics'])).stdout);
  assert.ok(valueOf(after, 'sslgate_refused_connections_total', { reason: 'banned' }) >= 4, 'the burst counted as refused: banned');
});

/**
 * `ban.points.connection` counts across workers too: the privileged process, which hands every
 * connection to a worker, tells worker 0 (priv/connection-acceptor.ts conn-points), which scores
 * them for the gateway. A burst of 6 connections at once goes to both workers (the balancer
 * alternates while they are in flight): the score is 60, not the 30 or so worker 0 saw itself
 * (the old per-worker scoring), and two more connections reach max-score 80: one ban.
 */
test('workers: 2 -> ban.points.connection adds up the connections of both workers', { skip, timeout: 180_000 }, async (t) => {
  const bed = await GatewayBed.open(t, 'mcbanc');
  const net = bed.tb.poolNet(0);
  const gw = await bed.startGateway({
    yaml: `workers: 2\nlog: { level: debug }\nban: { max-score: 80, points: { connection: 10, password: 0, cookie: 0, malformed: 0 } }\nnetwork:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
    users: [{ name: 'alice', password: 'secret-a' }],
  });
  const addr = bed.tb.clAddr;
  const r = await run(bed, ['burst', '6'], 'burst');
  assert.equal(r['ok'], 6, `every connection admitted: ${JSON.stringify(r)}`);
  // The privileged process logs each hand-over (debug) with the worker it chose.
  let workers: number[] = [];
  for (let i = 0; i < 50 && new Set(workers).size < 2; i++) {
    workers = gw.logs().filter((l) => l['msg'] === 'connection handed to a worker').map((l) => Number(l['worker']));
    if (new Set(workers).size < 2) await new Promise((res) => setTimeout(res, 200));
  }
  t.diagnostic(`connections handed to workers ${JSON.stringify(workers)}`);
  assert.deepEqual([...new Set(workers)].sort(), [0, 1], 'the burst went to both workers');
  const scored = await banSoon(gw, addr, true, (b) => (b?.score ?? 0) >= 60);
  assert.equal(scored?.score, 60, `ctl bans --scores shows the gateway-wide connection score: ${JSON.stringify(scored)}`);
  assert.equal(scored?.bannedUntil, null);

  await run(bed, ['burst', '2'], 'burst');
  const banned = await banSoon(gw, addr, false, (b) => b?.bannedUntil != null);
  assert.ok(banned?.bannedUntil, `the 8th connection banned the address: ${JSON.stringify(banned)}`);
  const m = parsePrometheus((await ctl(gw, ['metrics'])).stdout);
  assert.equal(valueOf(m, 'sslgate_bans_total', { kind: 'address' }), 1, 'one ban, decided once');
});
