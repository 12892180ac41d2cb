/** Command-line options of `npm run bench -- [options]`, with the full and --quick defaults. */
import { parseArgs } from 'node:util';
import { MODES } from './modes.js';

export const ITEMS = ['throughput', 'client', 'multicore', 'latency', 'sessions', 'handshakes', 'cluster'] as const;
export type ItemName = (typeof ITEMS)[number];

export interface Options {
  quick: boolean;
  only: Set<ItemName>;
  /** measured runs per side and row (alternating ours / reference) */
  runs: number;
  out: string;
  /** extra attempts for a run that other work disturbed */
  retries: number;
  /** outside CPU (+ steal) in cores above which a run counts as disturbed */
  threshold: number;
  pin: boolean;
  modes: string[];
  /** iperf3 seconds per run, plus seconds omitted at the start (TCP slow start) */
  seconds: number;
  omit: number;
  /** multicore item: parallel openconnect clients, and the transport mode they use */
  clients: number;
  multiMode: string;
  /** connects per side for the latency item */
  connects: number;
  /** concurrent sessions: ours, ocserv */
  sessions: number;
  refSessions: number;
  /** handshake-rate window per run, seconds, and the load generator's concurrency */
  rateSeconds: number;
  rateConcurrency: number;
}

export const USAGE = `usage: npm run bench -- [options]      (as root)

  --quick              CI smoke: every item, tiny sizes, one run each (well under a minute)
  --only LIST          items to run, comma-separated: ${ITEMS.join(',')}
  --runs N             measured runs per side (default 3; quick 1)
  --out FILE           JSON results (default bench/results/latest.json; quick: bench/results/quick.json)
  --modes LIST         throughput modes: ${MODES.map((m) => m.id).join(',')} (default all; quick: tls)
  --seconds S          iperf3 seconds per run (default 5, after 1 omitted; quick 1, none omitted)
  --clients N          parallel openconnect clients of the multicore item (default 4; quick 2)
  --multi-mode ID      their transport mode (default dtls-psk, openconnect's default)
  --connects N         connects per side for the latency item (default 10; quick 2)
  --sessions K         concurrent sessions against our gateway (default 10000; quick 50)
  --ref-sessions K     concurrent sessions against ocserv (default 2000; quick 20)
  --rate-seconds S     handshake-rate window per run (default 10; quick 1)
  --retries N          repeats of a disturbed run (default 2; quick 0)
  --threshold F        outside CPU, in cores, that marks a run disturbed (default 0.15)
  --no-pin             do not pin processes to CPUs
`;

/** `--name N`: a whole number of at least `min`, or `dflt` when absent (bench and attack drill). */
export function wholeNumberOption(v: string | undefined, name: string, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected a whole number >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

export function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      runs: { type: 'string' },
      out: { type: 'string' },
      retries: { type: 'string' },
      threshold: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      modes: { type: 'string' },
      seconds: { type: 'string' },
      connects: { type: 'string' },
      clients: { type: 'string' },
      'multi-mode': { type: 'string' },
      sessions: { type: 'string' },
      'ref-sessions': { type: 'string' },
      'rate-seconds': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const q = values.quick === true;
  const int = wholeNumberOption;
  const list = <T extends string>(v: string | undefined, name: string, known: readonly T[], dflt: readonly T[]): T[] => {
    if (v === undefined) return [...dflt];
    const items = v.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = items.filter((x) => !(known as readonly string[]).includes(x));
    if (bad.length > 0) throw new Error(`--${name}: unknown ${bad.join(', ')} (known: ${known.join(', ')})`);
    return items as T[];
  };
  const one = (v: string[], name: string): string => {
    if (v.length !== 1) throw new Error(`--${name}: expected one mode, got ${JSON.stringify(v.join(','))}`);
    return v[0]!;
  };
  const threshold = values.threshold === undefined ? 0.15 : Number(values.threshold);
  if (!(threshold > 0)) throw new Error(`--threshold: expected a positive number, got ${values.threshold}`);
  const modeIds = MODES.map((m) => m.id);
  return {
    quick: q,
    only: new Set(list(values.only, 'only', ITEMS, ITEMS)),
    runs: int(values.runs, 'runs', q ? 1 : 3),
    out: values.out ?? (q ? 'bench/results/quick.json' : 'bench/results/latest.json'),
    // --quick has no time for repeats: it marks disturbed runs only.
    retries: int(values.retries, 'retries', q ? 0 : 2, 0),
    threshold,
    pin: values['no-pin'] !== true,
    modes: list(values.modes, 'modes', modeIds, q ? ['tls'] : modeIds),
    seconds: int(values.seconds, 'seconds', q ? 1 : 5),
    omit: q ? 0 : 1,
    // --quick: the same code with 2 clients; 4 more namespaces and logins would double its set-up.
    clients: int(values.clients, 'clients', q ? 2 : 4),
    multiMode: one(list(values['multi-mode'], 'multi-mode', modeIds, ['dtls-psk']), 'multi-mode'),
    connects: int(values.connects, 'connects', q ? 2 : 10),
    sessions: int(values.sessions, 'sessions', q ? 50 : 10_000),
    refSessions: int(values['ref-sessions'], 'ref-sessions', q ? 20 : 2000),
    rateSeconds: int(values['rate-seconds'], 'rate-seconds', q ? 1 : 10),
    rateConcurrency: 16,
  };
}
