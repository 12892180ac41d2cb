/**
 * The shape of a benchmark result: one row per comparison (ours vs the reference), each side a
 * list of samples, the ratio of medians, and the goal for that row.
 */
import type { Disturbance } from './disturbance.js';
import { fractionOf } from './efficiency.js';
import { summarize, type Summary } from './stats.js';

export interface Sample {
  value: number;
  /** how many attempts this sample took (repeats after disturbed runs) */
  attempts: number;
  disturbance: Disturbance;
  /** measurement details worth keeping (cipher, MTU, CPU...) */
  detail?: Record<string, unknown>;
}

export type SideStatus = 'ok' | 'n/a' | 'error';

export interface Side {
  /** e.g. "openconnect → sslgate" */
  label: string;
  status: SideStatus;
  /** why n/a or what failed */
  reason?: string;
  /** on failure: the last lines the peers printed (JSON only) */
  diagnostics?: string[];
  samples: Sample[];
}

/**
 * Goals as the issue states them. `ratio-min`: ours/ref ≥ value (higher is better), `ratio-max`:
 * ours/ref ≤ value (lower is better), `abs-max`/`abs-min`: ours alone against a number.
 */
export type Goal =
  | { kind: 'ratio-min'; value: number }
  | { kind: 'ratio-max'; value: number }
  | { kind: 'abs-max'; value: number }
  | { kind: 'abs-min'; value: number };

export interface Row {
  id: string;
  /** issue item number 1..5 */
  item: number;
  title: string;
  unit: string;
  ours: Side;
  ref: Side;
  goal?: Goal;
  /** printed under the table */
  note?: string;
  /** the sides ran at different sizes (sessions): no ratio */
  noRatio?: boolean;
  /**
   * Lower is better (CPU-seconds per GB): the ratio is reference ÷ ours, so that, as on the
   * throughput rows, above 1 means ours is ahead and a `ratio-min` goal reads as the issue says.
   */
  lowerIsBetter?: boolean;
  /** a measurement without a counterpart (the plain-veth ceiling): the reference cell is "–" */
  refless?: boolean;
  /** throughput rows: the plain-veth ceiling of the same run (median Gbit/s), for "x% of veth" */
  ceiling?: { value: number | null };
}

export interface RowSummary {
  ours: Summary | null;
  ref: Summary | null;
  /** ours ÷ reference of the medians; reference ÷ ours on `lowerIsBetter` rows */
  ratio: number | null;
  /** null when there is no goal or a side is missing */
  met: boolean | null;
  /** medians as fractions of the row's ceiling (throughput rows), else null */
  oursOfCeiling: number | null;
  refOfCeiling: number | null;
}

export function newSide(label: string): Side {
  return { label, status: 'ok', samples: [] };
}

export function notAvailable(side: Side, reason: string): void {
  side.status = 'n/a';
  side.reason = reason;
}

export function failed(side: Side, err: unknown): void {
  side.status = 'error';
  side.reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
}

export function summarizeRow(r: Row): RowSummary {
  const ours = r.ours.status === 'ok' ? summarize(r.ours.samples.map((s) => s.value)) : null;
  const ref = r.ref.status === 'ok' ? summarize(r.ref.samples.map((s) => s.value)) : null;
  let ratio: number | null = null;
  if (!r.noRatio && !r.refless && ours && ref) {
    const [num, den] = r.lowerIsBetter ? [ref.median, ours.median] : [ours.median, ref.median];
    if (den !== 0) ratio = num / den;
  }
  let met: boolean | null = null;
  const g = r.goal;
  if (g && ours) {
    if (g.kind === 'abs-max') met = ours.median <= g.value;
    else if (g.kind === 'abs-min') met = ours.median >= g.value;
    else if (ratio !== null) met = g.kind === 'ratio-min' ? ratio >= g.value : ratio <= g.value;
  }
  return {
    ours,
    ref,
    ratio,
    met,
    oursOfCeiling: ours ? fractionOf(ours.median, r.ceiling?.value) : null,
    refOfCeiling: ref ? fractionOf(ref.median, r.ceiling?.value) : null,
  };
}

export function goalText(g: Goal | undefined, unit: string): string {
  if (!g) return '–';
  switch (g.kind) {
    case 'ratio-min':
      return `≥ ${g.value}×`;
    case 'ratio-max':
      return `≤ ${g.value}×`;
    case 'abs-max':
      return `≤ ${g.value} ${unit}`;
    case 'abs-min':
      return `≥ ${g.value} ${unit}`;
  }
}
