/**
 * Issue 11, `workers: 2`: the per-address connection limits hold for the whole gateway, not per
 * worker (the privileged process counts them once: priv/conn-admission.ts). Raw TCP/TLS clients
 * from the client namespace (limits-attacker.ts):
 *   1. a burst of 30 TLS connections from one address with connection-burst 10: with one worker
 *      and with two, the same 20 are refused before TLS (less what the bucket refilled while the
 *      burst ran, at connection-rate 1/s: bounded by the burst's own measured duration), and the
 *      metrics count each refusal. Counted per worker (the old code) two workers admit about 20;
 *   2. 40 slow connections from one address (max-unauth-per-address 16, spread over both
 *      workers by the balancer): 24 refused, the rest closed at the auth deadline; then the
 *      same address logs in with openconnect and pings (the workers reported their connections
 *      closed, so they no longer count). Counted per worker, 32 would have been admitted.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { interopSkipReason, type NsProcess } from '../helpers/netns.js';
import { GatewayBed } from '../helpers/gateway-bed.js';
import { gwHost, type SslgateGateway } from '../helpers/sslgate.js';
import { ctl } from '../helpers/ctl.js';
import { parsePrometheus, valueOf } from '../helpers/prometheus.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ATTACKER = path.join(HERE, 'limits-attacker.js');
const skip = interopSkipReason(['openconnect', 'ping', 'ip']);

type Report = Record<string, unknown> & { event: string };

/** Runs the attacker from the client namespace; stopped when `t` ends. */
function attack(t: TestContext, bed: GatewayBed, args: string[]): NsProcess {
  const port = new URL(bed.gw.url).port || '443';
  const p = bed.tb.cl.spawn(process.execPath, [ATTACKER, args[0]!, bed.tb.gwAddr, port, ...args.slice(1)], { label: `attacker-${args[0]}` });
  t.after(() => p.stop('SIGKILL', 2000).catch(() => undefined));
  return p;
}

async function reportOf(p: NsProcess, event: string, timeoutMs: number): Promise<Report> {
  const m = await p.waitForLine(new RegExp(`^\\{"event":"(${event}|error|lifetime-over)"`), timeoutMs).catch((e: unknown) => assert.fail(`${p.label}: no ${event}: ${(e as Error).message}\n${p.tail()}`));
  const r = JSON.parse(m.input ?? '{}') as Report;
  assert.equal(r.event, event, `${p.label}: ${m.input}`);
  return r;
}

const refusedMetric = async (gw: SslgateGateway, reason: string): Promise<number> => valueOf(parsePrometheus((await ctl(gw, ['metrics'])).stdout), 'sslgate_refused_connections_total', { reason });

/** The metric once it reached `want` (worker 0 learns the privileged process's refusals a moment later), or its last value. */
async function refusedSoon(gw: SslgateGateway, reason: string, want: number): Promise<number> {
  let v = await refusedMetric(gw, reason);
  for (let i = 0; i < 100 && v < want; i++) {
    await new Promise((r) => setTimeout(r, 200));
    v = await refusedMetric(gw, reason);
  }
  return v;
}

const BURST = 10;
const CONNECTIONS = 30;

for (const workers of [1, 2]) {
  test(`workers: ${workers} -> a burst beyond connection-burst from one address: the same connections refused as with one worker`, { skip, timeout: 180_000 }, async (t) => {
    const bed = await GatewayBed.open(t, `mclr${workers}`);
    const net = bed.tb.poolNet(0);
    const gw = await bed.startGateway({
      yaml: `workers: ${workers}\nlimits: { connection-rate: 1, connection-burst: ${BURST} }\nnetwork:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
      users: [{ name: 'alice', password: 'secret-a' }],
    });
    const r = await reportOf(attack(t, bed, ['burst', String(CONNECTIONS)]), 'burst', 60_000);
    const refused = Number(r['refused']);
    const ms = Number(r['ms']);
    t.diagnostic(`workers ${workers}: ${CONNECTIONS} connections in ${ms} ms: ${r['ok']} admitted, ${refused} refused`);
    // At 1 token a second the bucket refilled at most ceil(ms / 1000) tokens during the burst.
    const most = CONNECTIONS - BURST;
    assert.ok(refused <= most, `more refused than the burst allows: ${refused}`);
    assert.ok(refused >= most - Math.ceil(ms / 1000), `${refused} refused of ${CONNECTIONS} in ${ms} ms: the burst of ${BURST} was not counted once for the gateway`);
    assert.equal(await refusedSoon(gw, 'rate-limit', refused), refused, 'the metrics count every refusal once');
  });
}

test('workers: 2 -> max-unauth-per-address holds across workers; closed connections stop counting', { skip, timeout: 300_000 }, async (t) => {
  const bed = await GatewayBed.open(t, 'mclu');
  const net = bed.tb.poolNet(0);
  const gw = await bed.startGateway({
    // debug: the privileged process logs which worker each connection went to
    yaml: `workers: 2\nlog: { level: debug }\nlimits: { auth-timeout: 10 }\nnetwork:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
    users: [{ name: 'alice', password: 'secret-a' }],
  });
  const a = attack(t, bed, ['slow', '40']);
  await reportOf(a, 'opened', 20_000);
  // 40 connections from one address, max-unauth-per-address 16 (the default): 24 refused before TLS
  assert.equal(await refusedSoon(gw, 'unauth-per-address', 24), 24);
  const done = await reportOf(a, 'all-closed', 90_000);
  const closes = done['closes'] as Array<{ kind: string; tls: boolean }>;
  assert.equal(closes.length, 40);
  // Both workers held some of the 16 (else this would not test "across workers").
  const handed = gw.logs().filter((l) => l['msg'] === 'connection handed to a worker').map((l) => Number(l['worker']));
  assert.deepEqual([...new Set(handed)].sort(), [0, 1], 'the slow connections went to both workers');
  assert.equal(await refusedMetric(gw, 'unauth-per-address'), 24, 'no refusal beyond the 24');
  // The closed connections no longer count: the same address logs in and pings.
  const c = bed.connect({ user: 'alice', password: 'secret-a', authgroup: 'Employees', noDtls: true });
  await bed.loginAndPing(c, 'alice from the slow address after its connections closed', gwHost(net));
});
