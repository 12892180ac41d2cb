/**
 * Item 4: K concurrent tunnels from the load generator (no TUN on the client side), gateway
 * memory per session and whether every tunnel still answers an ICMP echo.
 *
 *   memory per session = (PSS of the gateway's processes at K sessions − at 0) / K
 *
 * PSS splits shared pages among the processes that map them, so ocserv's one-worker-per-session
 * design is charged fairly: the sum over its processes. Our gateway is one process.
 *
 * Logins use the light password hash on our side (peers/sslgate.ts): 10,000 logins at 55 ms of
 * scrypt each would take minutes of CPU and measure the KDF, not the memory. Memory does not
 * depend on CPU contention, so a disturbed run is recorded but not repeated.
 */
import type { BenchContext } from '../context.js';
import { BENCH_USER } from '../context.js';
import { failed, newSide, type Row, type Sample, type Side } from '../lib/results.js';
import { groupCpu, pssBytes } from '../lib/proc.js';
import { startLab, type GatewayKind } from '../peers/lab.js';
import { LoadGen } from '../loadgen/driver.js';
import { parseIpv4 } from '../../src/protocol/ipv4.js';

/** openconnect's user agent: ocserv treats other agents differently. */
export const LOADGEN_UA = 'Open AnyConnect VPN Agent v9.01 (sslgate bench loadgen)';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function pssOf(pids: number[]): number {
  return pids.reduce((a, p) => a + (pssBytes(p) ?? 0), 0);
}

interface SessionsResult {
  perSessionKB: number;
  answered: number;
  detail: Record<string, unknown>;
}

async function runOne(ctx: BenchContext, kind: GatewayKind, k: number): Promise<SessionsResult> {
  const lab = await startLab(ctx, kind, { tag: `bses${kind.slice(0, 2)}`, wide: true, maxClients: k + 1000, kdf: 'light' });
  let lg: LoadGen | undefined;
  try {
    await sleep(ctx.opts.quick ? 300 : 1000);
    const pss0 = pssOf(lab.gatewayPids());
    lg = await LoadGen.start(lab.tb.cl, {
      host: lab.tb.gwAddr,
      port: 443,
      user: BENCH_USER.user,
      password: BENCH_USER.password,
      group: BENCH_USER.group,
      userAgent: LOADGEN_UA,
      echoTo: parseIpv4(lab.login.tunAddr)!,
    });
    const cpu0 = groupCpu(lab.gatewayPids());
    const t0 = Date.now();
    const opened = await lg.open(k, 32, 120_000);
    const openSeconds = (Date.now() - t0) / 1000;
    const openCpu = groupCpu(lab.gatewayPids()) - cpu0;
    ctx.log(`sessions ${kind}: ${opened.ok}/${k} open in ${openSeconds.toFixed(1)} s${opened.failed ? `; failures: ${JSON.stringify(opened.errors)}` : ''}`);
    const ping = await lg.ping(256, 2000, 3, k);
    ctx.log(`sessions ${kind}: ${ping.ok}/${opened.total} answer an echo (${ping.failed} failed, ${ping.closed} closed)`);
    // Let allocation settle (timers fire, GC runs) before reading memory.
    await sleep(ctx.opts.quick ? 1000 : 3000);
    const pids = lab.gatewayPids();
    const pssK = pssOf(pids);
    const perSessionKB = (pssK - pss0) / k / 1024;
    ctx.log(`sessions ${kind}: PSS ${(pss0 / 2 ** 20).toFixed(1)} MiB at 0 → ${(pssK / 2 ** 20).toFixed(1)} MiB at ${k} (${pids.length} processes): ${perSessionKB.toFixed(1)} KB per session`);
    return {
      perSessionKB,
      answered: ping.ok,
      detail: {
        k,
        opened: opened.ok,
        openFailures: opened.errors,
        openSeconds,
        openPerSecond: opened.ok / openSeconds,
        gatewayCpuSecondsToOpen: openCpu,
        pingFailed: ping.failed,
        closedBeforePing: ping.closed,
        rttMs: ping.rttMs,
        pss0MiB: pss0 / 2 ** 20,
        pssKMiB: pssK / 2 ** 20,
        gatewayProcesses: pids.length,
        loadgenPssMiB: (pssBytes(lg.pid) ?? 0) / 2 ** 20,
      },
    };
  } finally {
    await lg?.close();
    await lg?.stop();
    await lab.close();
  }
}

export async function sessionsItem(ctx: BenchContext): Promise<Row[]> {
  const ours = { mem: newSide('sslgate'), count: newSide('sslgate') };
  const ref = { mem: newSide('ocserv'), count: newSide('ocserv') };
  const plan: Array<[GatewayKind, number, { mem: Side; count: Side }]> = [
    ['ocserv', ctx.opts.refSessions, ref],
    ['sslgate', ctx.opts.sessions, ours],
  ];
  for (const [kind, k, sides] of plan) {
    try {
      const mark = ctx.monitor.start();
      const r = await runOne(ctx, kind, k);
      const disturbance = ctx.monitor.stop(mark);
      const mem: Sample = { value: r.perSessionKB, attempts: 1, disturbance, detail: r.detail };
      const count: Sample = { value: r.answered, attempts: 1, disturbance, detail: { k } };
      sides.mem.samples.push(mem);
      sides.count.samples.push(count);
      sides.mem.label = sides.count.label = `${kind} at K=${k}`;
    } catch (e) {
      failed(sides.mem, e);
      failed(sides.count, e);
      ctx.log(`sessions ${kind}: error: ${sides.mem.reason}`);
    }
  }
  return [
    {
      id: 'sessions-answering',
      item: 4,
      title: 'concurrent tunnels answering an echo',
      unit: 'tunnels',
      ours: ours.count,
      ref: ref.count,
      goal: { kind: 'abs-min', value: 10_000 },
      noRatio: true,
    },
    {
      id: 'sessions-memory',
      item: 4,
      title: 'gateway memory per session (PSS)',
      unit: 'KB',
      ours: ours.mem,
      ref: ref.mem,
      goal: { kind: 'abs-max', value: 80 },
    },
  ];
}
