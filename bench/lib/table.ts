/** Renders the result rows as the plain-text (and Markdown) table printed at the end. */
import { percentText } from './efficiency.js';
import { fmt, summarize, type Summary } from './stats.js';
import { goalText, summarizeRow, type Row, type Side } from './results.js';

function cell(side: Side, s: Summary | null, unit: string, ofCeiling: number | null): string {
  if (side.status === 'n/a') return 'n/a';
  if (side.status === 'error') {
    // Runs that completed before the failure still say something; the ratio ignores them.
    const partial = summarize(side.samples.map((x) => x.value));
    return partial ? `error (${partial.n} runs done: ${fmt(partial.median)} ${unit})` : 'error';
  }
  if (!s) return '–';
  // One sample (quick mode, or the single 10k-session run): no range to show.
  const range = s.n > 1 ? ` [${fmt(s.min)}–${fmt(s.max)}]` : '';
  const flag = side.samples.some((x) => x.disturbance.disturbed) ? '*' : '';
  const ceiling = ofCeiling === null ? '' : `, ${percentText(ofCeiling)} of veth`;
  return `${fmt(s.median)}${range} ${unit}${flag}${ceiling}`;
}

export interface TableText {
  text: string;
  markdown: string;
}

export function renderTable(rows: Row[]): TableText {
  const header = ['#', 'measurement', 'ours: median [min–max]', 'reference: median [min–max]', 'ratio', 'goal', 'met?'];
  const body: string[][] = [];
  const notes: string[] = [];
  for (const r of rows) {
    const s = summarizeRow(r);
    body.push([
      String(r.item),
      r.refless ? `${r.title} (${r.ours.label})` : `${r.title} (${r.ours.label} vs ${r.ref.label})`,
      cell(r.ours, s.ours, r.unit, s.oursOfCeiling),
      r.refless ? '–' : cell(r.ref, s.ref, r.unit, s.refOfCeiling),
      s.ratio === null ? '–' : `${s.ratio.toFixed(2)}×${r.lowerIsBetter ? ' (ref÷ours)' : ''}`,
      goalText(r.goal, r.unit),
      s.met === null ? '–' : s.met ? 'yes' : 'NO',
    ]);
    for (const side of r.refless ? [r.ours] : [r.ours, r.ref]) {
      if (side.status !== 'ok' && side.reason) notes.push(`${r.id} ${side.label}: ${side.status}: ${side.reason}`);
    }
    if (r.note) notes.push(`${r.id}: ${r.note}`);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cols: string[]): string => cols.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const text = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
  const md = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...body.map((b) => `| ${b.join(' | ')} |`)];
  const footer = ['', '* = still disturbed after the repeats (other work on the machine); see the JSON.'];
  if (rows.some((r) => r.lowerIsBetter)) footer.push('(ref÷ours) = lower is better on that row (CPU-seconds per GB), so the ratio is reference ÷ ours: above 1 means ours is ahead.');
  if (rows.some((r) => r.ceiling)) footer.push('"x% of veth" = the median as a share of plain veth throughput (iperf3, no VPN) between the same namespaces in this run.');
  footer.push(...notes.map((n) => `- ${n}`));
  return { text: [...text, ...footer].join('\n'), markdown: [...md, ...footer].join('\n') };
}
