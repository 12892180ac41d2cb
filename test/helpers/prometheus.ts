/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for tests: every line must
 * be a `# HELP`, a `# TYPE` or a sample of a declared family, label values must be properly
 * quoted and escaped, values must be numbers. Throws on the first bad line, naming it.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  /** family name -> type (counter, gauge, histogram, summary, untyped) */
  types: Map<string, string>;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created'];

function family(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const s of SUFFIXES) if (name.endsWith(s) && types.has(name.slice(0, -s.length))) return name.slice(0, -s.length);
  return undefined;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(text.slice(i));
    if (!m) throw new Error(`bad label in: ${line}`);
    i += m[0].length;
    let v = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new Error(`unterminated label value in: ${line}`);
      if (c === '"') break;
      if (c === '\\') {
        const n = text[i + 1];
        if (n === 'n') v += '\n';
        else if (n === '\\' || n === '"') v += n;
        else throw new Error(`bad escape in: ${line}`);
        i += 2;
        continue;
      }
      v += c;
      i++;
    }
    i++; // closing quote
    labels[m[1]!] = v;
    const rest = text.slice(i);
    const sep = /^\s*,?\s*/.exec(rest)![0];
    i += sep.length;
  }
  return labels;
}

export function parsePrometheus(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) continue; // other comments are allowed
      if (!NAME.test(m[2]!)) throw new Error(`bad metric name: ${line}`);
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3] ?? '')) throw new Error(`bad type: ${line}`);
        types.set(m[2]!, m[3]!);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    // Prometheus reads values with Go's ParseFloat: NaN and Inf in any letter case (prom-client
    // writes "Nan" for a gauge without data yet).
    const special = /^([+-]?)(inf|infinity|nan)$/i.exec(m[3]!);
    const value = special ? (special[2]!.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity) : Number(m[3]);
    if (Number.isNaN(value) && !special) throw new Error(`bad value: ${line}`);
    if (!family(m[1]!, types)) throw new Error(`sample of an undeclared family: ${line}`);
    samples.push({ name: m[1]!, labels: m[2] ? parseLabels(m[2], line) : {}, value });
  }
  return { types, samples };
}

/** The value of the sample with this name whose labels include `labels` (sum if several). */
export function valueOf(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const s of e.samples) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) {
      sum += s.value;
      found = true;
    }
  }
  return found ? sum : NaN;
}
