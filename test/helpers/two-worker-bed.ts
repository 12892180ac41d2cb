/**
 * The set-up of the `workers: 2` metrics tests: a gateway with two network processes, two
 * Debian openconnect clients in two namespaces (alice, then bob: the balancer gives the second
 * connection to the idle worker, so one tunnel lands on each), 20 pings of 1000 bytes through
 * each tunnel, and a way to stop worker 1 (SIGSTOP) that is undone in the test's cleanup also
 * when the test fails.
 */
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Ns } from './netns.js';
import { GatewayBed } from './gateway-bed.js';
import { addClientNamespace, type ClientNs } from './client-ns.js';
import { startOpenconnect, type OpenconnectClient } from './openconnect.js';
import { gwHost, type SslgateGateway } from './sslgate.js';
import { ctl } from './ctl.js';
import { parsePrometheus } from './prometheus.js';

export interface TwoWorkerBed {
  gw: SslgateGateway;
  /** the pool's network; the gateway's tunnel address is gwHost(net) */
  net: string;
  /** the network processes' pids, worker 0 first (from the gateway's start-up line) */
  networkPids(): number[];
  /** SIGSTOP to a worker; resumed by resume() or at the test's end */
  stop(pid: number): void;
  resume(): void;
}

/** Both tunnels up and pinged through; `dtls`: wait for openconnect's DTLS too, else TLS only. */
export async function openTwoWorkerBed(t: TestContext, tag: string, o: { dtls: boolean }): Promise<TwoWorkerBed> {
  const bed = await GatewayBed.open(t, tag);
  const tb = bed.tb;
  const net = tb.poolNet(0);
  const extra: ClientNs[] = [];
  const clients: OpenconnectClient[] = [];
  let stopped = 0;
  t.after(async () => {
    if (stopped) process.kill(stopped, 'SIGCONT');
    for (const c of clients) await c.stop().catch(() => undefined);
    for (const x of extra) await x.close().catch(() => undefined);
  });
  const gw = await bed.startGateway({
    yaml: `workers: 2\nnetwork:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
    users: [
      { name: 'alice', password: 'secret-a' },
      { name: 'bob', password: 'secret-b' },
    ],
  });
  const x = await addClientNamespace(tb.gw, tb.gwAddr, `${tag}1`);
  extra.push(x);
  const spaces: Ns[] = [tb.cl, x.ns];
  // One after the other: the balancer gives the second connection to the idle worker.
  for (const [i, [user, pw]] of [['alice', 'secret-a'], ['bob', 'secret-b']].entries()) {
    const oc = startOpenconnect(spaces[i]!, { url: gw.url, servercert: gw.pin, user: user!, password: pw!, authgroup: 'Employees', ...(o.dtls ? {} : { noDtls: true }) });
    clients.push(oc);
    await oc.waitTunnel(60_000);
    if (o.dtls) await oc.proc.waitForLine(/Established DTLS connection/, 30_000);
  }
  for (const [i, ns] of spaces.entries()) assert.ok(await ns.ping(gwHost(net), { count: 20, intervalMs: 50, size: 1000, timeoutMs: 10_000 }), `client ${i}: no ping through the tunnel`);
  return {
    gw,
    net,
    networkPids: () => {
      const procs = gw.proc.lines.map((l) => /network ([\d, ]+) \(/.exec(l.text)).find((r) => r !== null);
      assert.ok(procs, 'the network pids in the start-up lines');
      const pids = procs[1]!.split(',').map((s) => Number(s.trim()));
      assert.equal(pids.length, 2);
      return pids;
    },
    stop: (pid) => {
      stopped = pid;
      process.kill(pid, 'SIGSTOP');
    },
    resume: () => {
      if (stopped) process.kill(stopped, 'SIGCONT');
      stopped = 0;
    },
  };
}

/** `sslgate ctl metrics`, parsed. */
export async function scrape(gw: SslgateGateway): Promise<ReturnType<typeof parsePrometheus>> {
  const r = await ctl(gw, ['metrics']);
  assert.equal(r.code, 0, r.stderr);
  return parsePrometheus(r.stdout);
}
