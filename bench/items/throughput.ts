/**
 * Items 1 and 2: TCP throughput through the tunnel (iperf3, one flow, both directions), per
 * transport mode. Up to four set-ups live side by side, each in its own lab:
 *
 *   oc-ocserv    openconnect → ocserv        the reference of every row
 *   oc-sslgate   openconnect → our gateway   item 1 (gateway), goal per mode
 *   sg-ocserv    our client  → ocserv        item 2 (client), goal 1.0×
 *   sg-sslgate   our client  → our gateway   item 2 (both ends ours), no goal
 *
 * Runs alternate between the set-ups (the order rotates each run), so slow drift of the shared
 * machine hits all of them alike. A set-up that cannot do a mode (no DTLS yet) is "n/a".
 *
 * Each run also records the gateway's CPU-seconds (utime + stime of every gateway process: ours
 * is the privileged and the network process, ocserv main, sec-mod and the worker; not the iperf3
 * server next to them) per GB that crossed the client's TUN, which become rows of their own:
 * when the client's core saturates first, Gbit/s stops measuring the gateway but CPU per byte
 * does not. And one more member of the rotation, in every mode, is iperf3 over the plain veth
 * between the same two namespaces (no VPN, same pinning): the ceiling every throughput row is
 * reported against ("x% of veth"), pooled over the modes.
 */
import type { BenchContext } from '../context.js';
import { MODES, type Mode } from '../modes.js';
import { failed, newSide, notAvailable, type Row, type Sample, type Side } from '../lib/results.js';
import { connectOpenconnect, connectSslgateClient, NoDtlsError, sslgateClientArgs, sslgateClientSupport, type TunnelClient } from '../peers/clients.js';
import { runIperf, startIperfServer, type Direction } from '../peers/iperf.js';
import { startLab, type GatewayKind, type Lab } from '../peers/lab.js';
import { cpuBetween, groupSnapshot, perCpuBusyShare, readPerCpuBusy } from '../lib/proc.js';
import { bytesMoved, cpuSecondsPerGB } from '../lib/efficiency.js';
import { summarize } from '../lib/stats.js';
import { readTunCounters } from '../peers/tun-counters.js';
import { readUdpCounters } from '../peers/udp-counters.js';
import { startPerfRecord } from '../lib/perf-record.js';

type SetupKey = 'oc-ocserv' | 'oc-sslgate' | 'sg-ocserv' | 'sg-sslgate';

const SETUPS: Record<SetupKey, { gateway: GatewayKind; client: 'openconnect' | 'sslgate'; label: string }> = {
  'oc-ocserv': { gateway: 'ocserv', client: 'openconnect', label: 'openconnect→ocserv' },
  'oc-sslgate': { gateway: 'sslgate', client: 'openconnect', label: 'openconnect→sslgate' },
  'sg-ocserv': { gateway: 'ocserv', client: 'sslgate', label: 'sslgate-client→ocserv' },
  'sg-sslgate': { gateway: 'sslgate', client: 'sslgate', label: 'sslgate-client→sslgate' },
};

const IPERF_PORT = 5201;
const round2 = (x: number): number => Math.round(x * 100) / 100;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const DIRECTIONS: Direction[] = ['up', 'down'];

interface Setup {
  key: SetupKey;
  lab?: Lab;
  client?: TunnelClient;
  /** iperf3 server pid: in the gateway namespace, but not the gateway */
  iperfPid?: number;
  /** the client's TUN MTU (peers negotiate different ones; it shapes TCP throughput) */
  mtu?: number;
  /** n/a or error, decided while setting up */
  side: Side;
  samples: Record<Direction, Sample[]>;
}

/** Why our client cannot run this mode, or null when it should. */
function oursUnsupported(key: SetupKey, mode: Mode): string | null {
  if (SETUPS[key].client !== 'sslgate') return null;
  const s = sslgateClientSupport();
  if (!s.connect) return `our client is not available yet (${s.reason ?? 'no sslgate connect'})`;
  if (mode.dtls && !s.dtls) return 'not implemented (sslgate connect has no DTLS yet)';
  const a = sslgateClientArgs(mode.sslgateClientArgs, mode.dtls !== null);
  if ('missing' in a) return `not implemented (sslgate connect has no ${a.missing})`;
  return null;
}

async function bringUp(ctx: BenchContext, s: Setup, mode: Mode): Promise<void> {
  const def = SETUPS[s.key];
  const why = oursUnsupported(s.key, mode);
  if (why) return notAvailable(s.side, why);
  const say = (): void => ctx.log(`${def.label} [${mode.id}]: ${s.side.status}: ${s.side.reason}`);
  try {
    s.lab = await startLab(ctx, def.gateway, { tag: `bt${s.key.replace(/[^a-z]/g, '').slice(0, 6)}`, mode });
    s.iperfPid = (await startIperfServer(s.lab.tb.gw, ctx.pinning.gateway, IPERF_PORT)).pid;
  } catch (e) {
    failed(s.side, e);
    say();
    return tearDown(s);
  }
  const lab = s.lab;
  try {
    if (def.client === 'openconnect') {
      s.client = await connectOpenconnect(lab.tb.cl, lab.login, mode.openconnectArgs, mode.dtls);
    } else {
      const a = sslgateClientArgs(mode.sslgateClientArgs, mode.dtls !== null);
      s.client = await connectSslgateClient(lab.tb.cl, lab.login, 'args' in a ? a.args : [], { dtls: mode.sslgateClientDtls });
    }
  } catch (e) {
    if (e instanceof NoDtlsError && s.key !== 'oc-ocserv') notAvailable(s.side, `not implemented (${e.message})`);
    else if (def.client === 'sslgate') notAvailable(s.side, `our client does not connect yet: ${(e as Error).message.split('\n')[0]}`);
    else failed(s.side, e);
    say();
    return tearDown(s);
  }
  const mtu = await lab.tb.cl.exec('cat', [`/sys/class/net/${s.client.iface}/mtu`]);
  s.mtu = Number(mtu.stdout.trim());
  ctx.log(`${def.label} [${mode.id}]: tunnel ${s.client.address} on ${s.client.iface} (MTU ${s.mtu})${s.client.dtls ? `, ${s.client.dtls}` : ''}`);
}

async function tearDown(s: Setup): Promise<void> {
  await s.client?.stop().catch(() => undefined);
  await s.lab?.close().catch(() => undefined);
  delete s.client;
  delete s.lab;
}

/** One iperf3 run through a tunnel, with the CPU of both ends and the bytes the TUN counted. */
async function measureTunnel(ctx: BenchContext, s: Setup, dir: Direction): Promise<{ value: number; detail: Record<string, unknown> }> {
  const { opts } = ctx;
  const lab = s.lab!;
  const client = s.client!;
  const gwPids = lab.gatewayPids().filter((p) => p !== s.iperfPid);
  const clPids = [client.proc.pid];
  const tun0 = await readTunCounters(lab.tb.cl, client.iface);
  const udp0 = await Promise.all([readUdpCounters(lab.tb.cl), readUdpCounters(lab.tb.gw)]);
  // CPU of each tunnel end during the run: tells a CPU-bound end from a waiting one.
  const [gw0, cl0, busy0, t0] = [groupSnapshot(gwPids), groupSnapshot(clPids), readPerCpuBusy(), performance.now()];
  // SSLGATE_BENCH_PERF=<folder>: profile both ends (bench/lib/perf-record.ts)
  const name = `${s.key}-${dir}-${Date.now()}`;
  const perf = [startPerfRecord(`${name}-gateway`, gwPids), startPerfRecord(`${name}-client`, clPids)];
  const r = await runIperf(lab.tb.cl, lab.login.tunAddr, IPERF_PORT, dir, opts.seconds, opts.omit).finally(() => Promise.all(perf.map((p) => p?.stop())));
  const wall = (performance.now() - t0) / 1000;
  const [gw1, cl1, busy1] = [groupSnapshot(gwPids), groupSnapshot(clPids), readPerCpuBusy()];
  const bytes = bytesMoved(tun0, await readTunCounters(lab.tb.cl, client.iface), dir);
  const udp1 = await Promise.all([readUdpCounters(lab.tb.cl), readUdpCounters(lab.tb.gw)]);
  const udpDelta = (i: 0 | 1, k: string): number => (udp1[i][k] ?? 0) - (udp0[i][k] ?? 0);
  const gwCpu = cpuBetween(gw0, gw1);
  const clCpu = cpuBetween(cl0, cl1);
  const gwPerGB = cpuSecondsPerGB(gwCpu, bytes);
  if (gwPerGB === null) throw new Error(`iperf3 reported ${r.gbps.toFixed(3)} Gbit/s but ${client.iface} counted no bytes ${dir}`);
  const detail: Record<string, unknown> = {
    retransmits: r.retransmits,
    mtu: s.mtu,
    gatewayCores: round2(gwCpu / wall),
    clientCores: round2(clCpu / wall),
    // Each CPU's busy share (processes and softirq alike): with the pinning, the end whose CPU is
    // at ~1.0 is the one that set the row's Gbit/s.
    cpuBusy: perCpuBusyShare(busy0, busy1, wall),
    // Datagrams each end's namespace received, and those its sockets had no room for (DTLS loss).
    udpIn: { client: udpDelta(0, 'InDatagrams'), gateway: udpDelta(1, 'InDatagrams') },
    udpRcvbufDrops: { client: udpDelta(0, 'RcvbufErrors'), gateway: udpDelta(1, 'RcvbufErrors') },
    bytes,
    gatewayCpuSeconds: round3(gwCpu),
    gatewayCpuPerGB: gwPerGB,
    clientCpuPerGB: cpuSecondsPerGB(clCpu, bytes),
    // Which processes were counted as the gateway (privileged + network; ocserv main, sec-mod, worker).
    gatewayProcesses: [...gw1.values()].map((p) => p.comm),
  };
  if (client.dtls) detail['dtls'] = client.dtls;
  return { value: r.gbps, detail };
}

/** iperf3 over the veth between the lab's namespaces, no tunnel: the ceiling. */
async function measureVeth(ctx: BenchContext, lab: Lab, dir: Direction): Promise<{ value: number; detail: Record<string, unknown> }> {
  const r = await runIperf(lab.tb.cl, lab.tb.gwAddr, IPERF_PORT, dir, ctx.opts.seconds, ctx.opts.omit);
  return { value: r.gbps, detail: { retransmits: r.retransmits } };
}

/** The plain-veth samples, collected across the modes, and their medians once all modes ran. */
interface Ceiling {
  side: Side;
  samples: Record<Direction, Sample[]>;
  median: Record<Direction, { value: number | null }>;
}

async function measureMode(ctx: BenchContext, mode: Mode, keys: SetupKey[], ceiling: Ceiling): Promise<Row[]> {
  const { opts } = ctx;
  const setups: Setup[] = keys.map((key) => ({ key, side: newSide(SETUPS[key].label), samples: { up: [], down: [] } }));
  const by = (k: SetupKey): Setup | undefined => setups.find((s) => s.key === k);
  try {
    for (const s of setups) await bringUp(ctx, s, mode);
    const live = (): Setup[] => setups.filter((s) => s.side.status === 'ok');
    // The ceiling runs in the reference's namespaces (any live lab's if the reference is down).
    const vethLab = (): Lab | undefined => (by('oc-ocserv')?.lab ? by('oc-ocserv')!.lab : live()[0]?.lab);
    for (let run = 0; run < opts.runs; run++) {
      for (const dir of DIRECTIONS) {
        const order: Array<Setup | 'veth'> = [...live()];
        if (ceiling.side.status === 'ok' && vethLab()) order.push('veth');
        // Rotate the order every run so no set-up always goes first.
        for (let i = 0; i < order.length; i++) {
          const s = order[(i + run) % order.length]!;
          if (s === 'veth') {
            try {
              ceiling.samples[dir].push(await ctx.sample(`plain veth [${mode.id}] ${dir} run ${run + 1}`, () => measureVeth(ctx, vethLab()!, dir)));
            } catch (e) {
              failed(ceiling.side, e);
              ctx.log(`plain veth [${mode.id}]: ${ceiling.side.reason}`);
            }
            continue;
          }
          try {
            const sample = await ctx.sample(`${SETUPS[s.key].label} [${mode.id}] ${dir} run ${run + 1}`, () => measureTunnel(ctx, s, dir));
            s.samples[dir].push(sample);
          } catch (e) {
            failed(s.side, e);
            // What the tunnel's ends said last: a stalled tunnel usually explains itself there.
            s.side.diagnostics = [
              `${dir} run ${run + 1}`,
              ...(s.client?.proc.tail(15).split('\n').map((l) => `client ${l}`) ?? []),
              ...(s.lab?.gateway.tail(15).split('\n').map((l) => `gateway ${l}`) ?? []),
            ];
            ctx.log(`${SETUPS[s.key].label} [${mode.id}]: ${s.side.reason}\n${s.side.diagnostics.join('\n')}`);
          }
        }
      }
    }
  } finally {
    for (const s of setups) await tearDown(s);
  }
  const side = (s: Setup | undefined, dir: Direction): Side => {
    if (!s) return { label: '?', status: 'n/a', reason: 'not run', samples: [] };
    return { ...s.side, samples: s.samples[dir] };
  };
  const rows: Row[] = [];
  const ref = by('oc-ocserv');
  const ceilingOf = ceiling.median;
  for (const dir of DIRECTIONS) {
    const dirText = dir === 'up' ? 'client→gateway' : 'gateway→client';
    if (by('oc-sslgate')) {
      rows.push({
        id: `gateway-${mode.id}-${dir}`,
        item: 1,
        title: `gateway throughput, ${mode.id}, ${dirText}`,
        unit: 'Gbit/s',
        ours: side(by('oc-sslgate'), dir),
        ref: side(ref, dir),
        goal: { kind: 'ratio-min', value: mode.gatewayGoal },
        ceiling: ceilingOf[dir],
      });
      rows.push({
        id: `gateway-cpu-${mode.id}-${dir}`,
        item: 1,
        title: `gateway CPU-seconds per GB moved, ${mode.id}, ${dirText}`,
        unit: 'CPU-s/GB',
        ours: cpuSide(side(by('oc-sslgate'), dir)),
        ref: cpuSide(side(ref, dir)),
        goal: { kind: 'ratio-min', value: mode.gatewayGoal },
        lowerIsBetter: true,
      });
    }
    if (by('sg-ocserv')) {
      rows.push({
        id: `client-${mode.id}-${dir}`,
        item: 2,
        title: `client throughput, ${mode.id}, ${dirText}`,
        unit: 'Gbit/s',
        ours: side(by('sg-ocserv'), dir),
        ref: side(ref, dir),
        goal: { kind: 'ratio-min', value: 1.0 },
        ceiling: ceilingOf[dir],
      });
      // The client's own CPU per GB (the client process only, not iperf3): where ocserv is the
      // end that saturates, Gbit/s says little about the client, and this still does.
      rows.push({
        id: `client-cpu-${mode.id}-${dir}`,
        item: 2,
        title: `client CPU-seconds per GB moved, ${mode.id}, ${dirText}`,
        unit: 'CPU-s/GB',
        ours: cpuSide(side(by('sg-ocserv'), dir), 'clientCpuPerGB'),
        ref: cpuSide(side(ref, dir), 'clientCpuPerGB'),
        lowerIsBetter: true,
      });
    }
    if (by('sg-sslgate')) {
      rows.push({
        id: `both-ours-${mode.id}-${dir}`,
        item: 2,
        title: `both ends ours, ${mode.id}, ${dirText}`,
        unit: 'Gbit/s',
        ours: side(by('sg-sslgate'), dir),
        ref: side(ref, dir),
        ceiling: ceilingOf[dir],
      });
    }
  }
  return rows;
}

/** The same runs seen as one end's CPU-seconds per GB (recorded by measureTunnel). */
function cpuSide(s: Side, end: 'gatewayCpuPerGB' | 'clientCpuPerGB' = 'gatewayCpuPerGB'): Side {
  const samples = s.samples.flatMap((x) => {
    const v = x.detail?.[end];
    return typeof v === 'number' ? [{ ...x, value: v }] : [];
  });
  return { ...s, samples };
}

/** Items 1 ("throughput") and/or 2 ("client"), every selected mode, and the plain-veth ceiling. */
export async function throughputItems(ctx: BenchContext, gateway: boolean, client: boolean): Promise<Row[]> {
  const keys: SetupKey[] = ['oc-ocserv'];
  if (gateway) keys.push('oc-sslgate');
  if (client) keys.push('sg-ocserv', 'sg-sslgate');
  // Filled in after every mode ran; the rows hold these objects, so they see the pooled medians.
  const ceiling: Ceiling = {
    side: newSide('plain veth'),
    samples: { up: [], down: [] },
    median: { up: { value: null }, down: { value: null } },
  };
  const rows: Row[] = [];
  for (const mode of MODES.filter((m) => ctx.opts.modes.includes(m.id))) {
    ctx.log(`throughput: mode ${mode.id} (${mode.title}): ${keys.join(', ')}, plain veth`);
    rows.push(...(await measureMode(ctx, mode, keys, ceiling)));
  }
  const ceilingRows: Row[] = DIRECTIONS.map((dir) => {
    ceiling.median[dir].value = summarize(ceiling.samples[dir].map((x) => x.value))?.median ?? null;
    return {
      id: `veth-ceiling-${dir}`,
      item: 1,
      title: `plain veth, no VPN, the ceiling (iperf3 between the same namespaces, ${dir === 'up' ? 'client→gateway' : 'gateway→client'})`,
      unit: 'Gbit/s',
      ours: { ...ceiling.side, samples: ceiling.samples[dir] },
      ref: newSide('–'),
      refless: true,
    };
  });
  return [...ceilingRows, ...rows];
}
