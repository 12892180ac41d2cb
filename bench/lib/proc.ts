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
  // comm may contain spaces and parentheses: the fields start after the last ')'.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state): ppid = field 4, utime..cstime = fields 14..17, flags = field 9.
  const num = (field: number): number => Number(f[field - 3] ?? 0);
  const PF_KTHREAD = 0x00200000;
  return {
    pid,
    ppid: num(4),
    comm,
    cpu: (num(14) + num(15)) / CLK_TCK,
    childCpu: (num(16) + num(17)) / CLK_TCK,
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

/** The "cpu" line of /proc/stat. */
export function readCpuTimes(): CpuTimes {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = v;
  return { busy: (user + nice + system + irq + softirq) / CLK_TCK, steal: steal / CLK_TCK };
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
