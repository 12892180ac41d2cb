/** Messages between a fuzz child process, its worker thread, and the driver (fuzz/run.ts). */

export interface FuzzOptions {
  target: string;
  /** stop after this many generated inputs (0 = no limit) */
  runs: number;
  /** stop after this many ms (0 = no limit) */
  maxTimeMs: number;
  seed: number;
  /** an input running longer than this is a hang */
  hangMs: number;
  /** process RSS above this is a finding (memory not bounded) */
  rssLimitMb: number;
  /** where crash/hang inputs are written */
  findingsDir: string;
  /** seed corpus folder */
  corpusDir: string;
}

export interface CrashRecord {
  kind: 'crash' | 'hang' | 'oom';
  message: string;
  file: string;
}

export interface WorkerProgress {
  type: 'progress' | 'done';
  execs: number;
  corpus: number;
  features: number;
  crashes: number;
  elapsedMs: number;
}

export interface WorkerCrash {
  type: 'crash';
  message: string;
  stack: string;
  input: Uint8Array;
}

export type WorkerMessage = WorkerProgress | WorkerCrash;

export interface TargetResult {
  target: string;
  execs: number;
  crashes: number;
  hangs: number;
  oom: number;
  corpus: number;
  features: number;
  peakRssMb: number;
  /** RSS (MB) at half-time and at the end: equal-ish when memory is bounded */
  midRssMb: number;
  endRssMb: number;
  seconds: number;
  findings: CrashRecord[];
  error?: string;
}

/** Shared memory layout: the child reads the current input from here when the worker hangs. */
export const CTRL_EXECS = 0;
export const CTRL_LEN = 1;
