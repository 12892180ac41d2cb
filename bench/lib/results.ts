/**
 * The shape of a benchmark result: one row per comparison (ours vs the reference), each side a
 * list of samples, the ratio of medians, and the goal for that row.
 */
import type { Disturbance } from './disturbance.js';
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
}

export interface RowSummary {
  ours: Summary | null;
  ref: Summary | null;
  ratio: number | null;
  /** null when there is no goal or a side is missing */
  met: boolean | null;
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
  const ratio = !r.noRatio && ours && ref && ref.median !== 0 ? ours.median / ref.median : null;
  let met: boolean | null = null;
  const g = r.goal;
  if (g && ours) {
    if (g.kind === 'abs-max') met = ours.median <= g.value;
    else if (g.kind === 'abs-min') met = ours.median >= g.value;
    else if (ratio !== null) met = g.kind === 'ratio-min' ? ratio >= g.value : ratio <= g.value;
  }
  return { ours, ref, ratio, met };
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
