/**
 * The machine's load while the benchmark ran, for the header of the table and the JSON: the
 * load averages at start and end, and over the whole run the CPU that processes outside the
 * benchmark used (the disturbance monitor's view: user-space processes that are not this one or
 * its descendants) and hypervisor steal, with the busiest outside processes. Numbers from a
 * loaded machine are not comparable with a quiet one's; this says which kind a table is.
 */
import type { Disturbance } from './disturbance.js';
import type { LoadAvg } from './proc.js';
import type { Row } from './results.js';

export interface RunLoad {
  loadavgStart: LoadAvg | null;
  loadavgEnd: LoadAvg | null;
  /** over the whole run, in cores */
  outsideCores: number;
  stealCores: number;
  top: Disturbance['top'];
  /** measured samples, and how many of them were still disturbed after their repeats */
  samples: number;
  disturbedSamples: number;
}

/** Counts each measured run once (rows that show the same runs another way share its disturbance record). */
export function countSamples(rows: Row[]): { samples: number; disturbed: number } {
  const seen = new Set<Disturbance>();
  for (const r of rows) for (const side of [r.ours, r.ref]) for (const s of side.samples) seen.add(s.disturbance);
  return { samples: seen.size, disturbed: [...seen].filter((d) => d.disturbed).length };
}

export function runLoad(start: LoadAvg | null, end: LoadAvg | null, whole: Disturbance, rows: Row[]): RunLoad {
  const c = countSamples(rows);
  return {
    loadavgStart: start,
    loadavgEnd: end,
    outsideCores: whole.outside,
    stealCores: whole.steal,
    top: whole.top,
    samples: c.samples,
    disturbedSamples: c.disturbed,
  };
}

const la = (l: LoadAvg | null): string => (l ? `${l.one.toFixed(2)} ${l.five.toFixed(2)} ${l.fifteen.toFixed(2)}` : '?');

export function loadNote(l: RunLoad): string {
  const top = l.top.length > 0 ? ` (busiest: ${l.top.map((t) => `${t.comm} ${t.cores.toFixed(2)}`).join(', ')})` : '';
  return (
    `load: loadavg ${la(l.loadavgStart)} at start, ${la(l.loadavgEnd)} at end (1/5/15 min); ` +
    `other processes used ${l.outsideCores.toFixed(2)} cores on average over the run${top}, steal ${l.stealCores.toFixed(2)}; ` +
    `${l.disturbedSamples} of ${l.samples} runs still disturbed after repeats`
  );
}
