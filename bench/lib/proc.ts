/**
 * Readers for /proc: per-process CPU time, the process tree, PSS memory and /proc/stat.
 * Everything is synchronous and cheap (a few hundred small files), so a sample can be taken right
 * before and after a measured run without disturbing it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Clock ticks per second of the utime/stime fields (USER_HZ; 100 on every Linux we run on). */
export const CLK_TCK = ((): number => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

export interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** own CPU seconds (user + system) */
  cpu: number;
  /** CPU seconds of children this process has reaped (cutime + cstime) */
  childCpu: number;
  /** start time after boot, in clock ticks: tells a reused pid from the process seen before */
  startTicks: number;
  /** kernel threads (kthreadd and its children) do work for everyone, ours included */
  kernel: boolean;
}

/** Parses /proc/PID/stat; null when the process is gone. */
export function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  return parseProcStat(pid, text, CLK_TCK);
}

/**
 * One /proc/PID/stat line (proc(5)); null when it does not have the fields we read. utime and
 * stime cover every thread of the process, including threads that have ended.
 */
export function parseProcStat(pid: number, text: string, clkTck: number): ProcStat | null {
  // comm may contain spaces and parentheses: the fields start after the last ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const comm = text.slice(open + 1, close);
  const f = text.slice(close + 2).trim().split(' ');
  // f[0] is field 3 (state): ppid = field 4, flags = 9, utime..cstime = 14..17, starttime = 22.
  if (f.length < 20) return null;
  const num = (field: number): number => Number(f[field - 3] ?? 0);
  const PF_KTHREAD = 0x00200000;
  return {
    pid,
    ppid: num(4),
    comm,
    cpu: (num(14) + num(15)) / clkTck,
    childCpu: (num(16) + num(17)) / clkTck,
    startTicks: num(22),
    kernel: pid === 2 || num(4) === 2 || (num(9) & PF_KTHREAD) !== 0,
  };
}

/** Every process on the machine (threads are folded into their process by the kernel). */
export function allProcStats(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readProcStat(Number(name));
    if (s) out.set(s.pid, s);
  }
  return out;
}

/** `root` and all its descendants, from a snapshot. */
export function descendants(stats: Map<number, ProcStat>, root: number): Set<number> {
  const children = new Map<number, number[]>();
  for (const s of stats.values()) {
    const list = children.get(s.ppid);
    if (list) list.push(s.pid);
    else children.set(s.ppid, [s.pid]);
  }
  const out = new Set<number>();
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (out.has(pid)) continue;
    out.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/**
 * CPU seconds used so far by a group of processes, counting the children they reaped (ocserv's
 * workers end up in the main process's cutime when they exit), so the difference of two readings
 * is the group's CPU in between.
 */
export function groupCpu(pids: Iterable<number>): number {
  let sum = 0;
  for (const pid of pids) {
    const s = readProcStat(pid);
    if (s) sum += s.cpu + s.childCpu;
  }
  return sum;
}

/** /proc/PID/stat of each process of a group that is still there. */
export function groupSnapshot(pids: Iterable<number>): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const pid of pids) {
    const s = readProcStat(pid);
    if (s) out.set(pid, s);
  }
  return out;
}

/**
 * CPU seconds (utime + stime, and cutime + cstime of reaped children) a group used between two
 * snapshots. A process present in both contributes the difference; one born in between
 * (a worker forked for a new client; same pid but another start time counts as new) all of its
 * CPU; one gone by the second snapshot nothing — its parent, if in the group and it reaped it,
 * then carries all of its CPU in cutime, so a worker that ends between the snapshots is counted
 * with its whole life (an overcount that the measured transfers, whose workers outlive them,
 * do not hit).
 */
export function cpuBetween(before: Map<number, ProcStat>, after: Map<number, ProcStat>): number {
  let sum = 0;
  for (const a of after.values()) {
    const b = before.get(a.pid);
    const prior = b && b.startTicks === a.startTicks ? b.cpu + b.childCpu : 0;
    sum += Math.max(0, a.cpu + a.childCpu - prior);
  }
  return sum;
}

/** Proportional set size in bytes (shared pages split among their users), or null when gone. */
export function pssBytes(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
    const m = /^Pss:\s+(\d+) kB/m.exec(text);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export interface CpuTimes {
  /** seconds of all CPUs not idle and not iowait */
  busy: number;
  /** seconds the hypervisor ran someone else while we wanted the CPU */
  steal: number;
}

/** /proc/loadavg: runnable-or-waiting task averages over 1, 5 and 15 minutes. */
export interface LoadAvg {
  one: number;
  five: number;
  fifteen: number;
}

export function parseLoadavg(text: string): LoadAvg | null {
  const [one, five, fifteen] = text.trim().split(/\s+/).map(Number);
  if (![one, five, fifteen].every((x) => typeof x === 'number' && Number.isFinite(x))) return null;
  return { one: one!, five: five!, fifteen: fifteen! };
}

export function readLoadavg(): LoadAvg | null {
  try {
    return parseLoadavg(readFileSync('/proc/loadavg', 'latin1'));
  } catch {
    return null;
  }
}

/**
 * The fields after the name of a /proc/stat "cpu" or "cpuN" line (proc(5)), in seconds: busy is
 * everything but idle and iowait (user, nice, system, irq, softirq), steal apart.
 */
function statLineTimes(fields: string, clkTck: number): CpuTimes {
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields.trim().split(/\s+/).map(Number);
  return { busy: (user + nice + system + irq + softirq) / clkTck, steal: steal / clkTck };
}

/** The "cpu" line of /proc/stat. */
export function readCpuTimes(): CpuTimes {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '';
  return statLineTimes(line.replace(/^cpu\s+/, ''), CLK_TCK);
}

/**
 * The "cpuN" lines of /proc/stat, busy seconds per CPU (index = CPU number; same fields as
 * readCpuTimes). Empty when the text has none.
 */
export function parsePerCpuBusy(text: string, clkTck: number): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const cpu = Number(m[1]);
    if (!Number.isInteger(cpu) || cpu > 4096) continue;
    const { busy } = statLineTimes(m[2]!, clkTck);
    if (Number.isFinite(busy)) out[cpu] = busy;
  }
  return out;
}

export function readPerCpuBusy(): number[] {
  try {
    return parsePerCpuBusy(readFileSync('/proc/stat', 'latin1'), CLK_TCK);
  } catch {
    return [];
  }
}

/**
 * Share of each CPU that was busy between two readings `wall` seconds apart, rounded to 0.01:
 * with the benchmark's pinning (CPU 0 the client side, CPU 1 the gateway side) it says which end
 * had no CPU left, whatever process or softirq used it.
 */
export function perCpuBusyShare(before: number[], after: number[], wall: number): number[] {
  if (!(wall > 0)) return [];
  return after.map((a, i) => Math.round((Math.min(1, Math.max(0, (a - (before[i] ?? a)) / wall))) * 100) / 100);
}

/** Processes inside a network namespace (`ip netns pids`). */
export function netnsPids(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 })
      .split(/\s+/)
      .filter((s) => /^\d+$/.test(s))
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * The same CPU seconds as cpuBetween, process by process (largest first): shows whether a
 * gateway's work is spread over its processes (workers on several cores) or sits in one.
 */
export function cpuByProcess(before: Map<number, ProcStat>, after: Map<number, ProcStat>): Array<{ pid: number; comm: string; cpu: number }> {
  const out: Array<{ pid: number; comm: string; cpu: number }> = [];
  for (const a of after.values()) out.push({ pid: a.pid, comm: a.comm, cpu: cpuBetween(before, new Map([[a.pid, a]])) });
  return out.sort((x, y) => y.cpu - x.cpu);
}
