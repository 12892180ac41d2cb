/**
 * iperf3 through a tunnel: the server in the gateway namespace (pinned with the gateway), the
 * client in the client namespace, aimed at the gateway's tunnel address so every byte crosses
 * the tunnel. One TCP flow; "up" = client → gateway, "down" = gateway → client (-R).
 */
import type { Ns, NsProcess } from '../../test/helpers/netns.js';
import { pinnedArgv } from '../lib/pinning.js';

export type Direction = 'up' | 'down';

export interface IperfResult {
  /** receiver's goodput, Gbit/s */
  gbps: number;
  retransmits: number;
  /** iperf3's own CPU view (sender/receiver host %, whole machine here) */
  cpu: { local: number; remote: number };
}

export async function startIperfServer(ns: Ns, cpus: string | null, port: number): Promise<NsProcess> {
  // --forceflush: without a terminal iperf3 buffers its output, and we wait for a line.
  const [cmd, args] = pinnedArgv(cpus, 'iperf3', ['-s', '-p', String(port), '--forceflush']);
  const p = ns.spawn(cmd, args, { label: `iperf3-s@${ns.name}` });
  await p.waitForLine(/Server listening on/, 10_000);
  return p;
}

interface IperfJson {
  error?: string;
  end?: {
    sum_received?: { bits_per_second?: number };
    sum_sent?: { retransmits?: number };
    cpu_utilization_percent?: { host_total?: number; remote_total?: number };
  };
}

/** `cpus`: where the iperf3 client runs (default: where this process runs, i.e. the client CPU). */
export async function runIperf(ns: Ns, addr: string, port: number, dir: Direction, seconds: number, omit: number, cpus: string | null = null): Promise<IperfResult> {
  const args = ['-c', addr, '-p', String(port), '-t', String(seconds), '-O', String(omit), '-J', '--connect-timeout', '5000'];
  if (dir === 'down') args.push('-R');
  const [cmd, argv] = pinnedArgv(cpus, 'iperf3', args);
  const r = await ns.exec(cmd, argv, { timeoutMs: (seconds + omit + 30) * 1000 });
  let j: IperfJson;
  try {
    j = JSON.parse(r.stdout) as IperfJson;
  } catch {
    throw new Error(`iperf3 printed no JSON (exit ${r.code}): ${r.stderr.trim() || r.stdout.slice(0, 200)}`);
  }
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  const bps = j.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number') throw new Error('iperf3: no sum_received in its JSON');
  return {
    gbps: bps / 1e9,
    retransmits: j.end?.sum_sent?.retransmits ?? 0,
    cpu: { local: j.end?.cpu_utilization_percent?.host_total ?? 0, remote: j.end?.cpu_utilization_percent?.remote_total ?? 0 },
  };
}
