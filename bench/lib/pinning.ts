/**
 * CPU pinning and resource limits for the processes under test.
 *
 * On this 2-core VM the benchmark plays two machines: the client side (clients, iperf3 client,
 * load generator, and this orchestrator) on CPU 0, the gateway side (gateway, its iperf3 server)
 * on CPU 1. This process pins itself to the client CPU at start so everything it spawns inherits
 * that; gateway-side processes are started under `taskset` or moved after start (ocserv forks
 * its workers from the main process, which then hands its affinity down).
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

export interface Pinning {
  /** CPU list for the client side, or null when pinning is off (one CPU, or --no-pin) */
  client: string | null;
  gateway: string | null;
}

export function choosePinning(enabled: boolean): Pinning {
  if (!enabled || cpus().length < 2) return { client: null, gateway: null };
  return { client: '0', gateway: '1' };
}

/**
 * The multicore item's CPU lists on an n-CPU machine: the gateway on the last CPU (on 2 CPUs the
 * pinned items' gateway CPU) or the last two; clients and iperf3 anywhere. `two` is null below 2.
 */
export function coreLists(n: number): { one: string; two: string | null; all: string } {
  return { one: String(n - 1), two: n >= 2 ? `${n - 2},${n - 1}` : null, all: n >= 2 ? `0-${n - 1}` : '0' };
}

/** Sets the CPU affinity of every thread of `pid` (taskset -a). Returns false when it failed. */
export function pinPid(pid: number, cpus: string | null): boolean {
  if (cpus === null) return true;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false; // the process may have exited in between
  }
}

/** `[taskset -c CPUS] cmd args`, as an argv for spawning. */
export function pinnedArgv(cpus: string | null, cmd: string, args: string[]): [string, string[]] {
  return cpus === null ? [cmd, args] : ['taskset', ['-c', cpus, cmd, ...args]];
}

/**
 * Raises this process's open-file limit (soft and hard); children inherit it. 10,000 sessions
 * need more than 20,000 descriptors in the load generator and in the gateway.
 */
export function raiseFdLimit(n: number): void {
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${n}:${n}`], { stdio: 'ignore', timeout: 5000 });
  } catch {
    // not fatal: the sessions item reports what it reached
  }
}
