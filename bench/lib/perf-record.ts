/**
 * Opt-in profiling of benchmark runs: with SSLGATE_BENCH_PERF=<folder>, each measured run of a
 * tunnel records the gateway's processes with `perf record -g` (linux-perf) for the run's length,
 * into <folder>/<name>.data, to be read with `perf report -i`. Off by default: perf's sampling
 * costs the gateway CPU, so profiled runs are not the ones whose numbers are reported.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface PerfRecording {
  /** stops perf (SIGINT: it writes its file) and waits for it to exit */
  stop(): Promise<void>;
}

/** Starts `perf record` on pids when SSLGATE_BENCH_PERF names a folder; null otherwise. */
export function startPerfRecord(name: string, pids: number[]): PerfRecording | null {
  const dir = process.env['SSLGATE_BENCH_PERF'];
  if (!dir || pids.length === 0) return null;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name.replace(/[^A-Za-z0-9._-]+/g, '_')}.data`);
  const child: ChildProcess = spawn('perf', ['record', '-F', '1999', '-g', '-o', file, '-p', pids.join(',')], { stdio: 'ignore' });
  child.on('error', () => undefined); // no perf installed: the run goes on unprofiled
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGINT');
      }),
  };
}
