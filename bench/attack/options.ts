/** Command-line options of `npm run attack -- [options]`, with the full and --quick sizes. */
import { parseArgs } from 'node:util';
import { wholeNumberOption } from '../options.js';

export const ATTACKERS = ['slowloris', 'pipeline', 'dpd-flood', 'brute-force', 'dtls-replay'] as const;
export type AttackerName = (typeof ATTACKERS)[number];

export interface AttackOptions {
  quick: boolean;
  /** attackers to run (default all; fewer only to find out which one hurts) */
  only: AttackerName[];
  out: string;
  /** the stated bound on the gateway's summed RSS, bytes */
  rssBound: number;
  /** legitimate transfer size, bytes */
  transferBytes: number;
  /** slowloris connections from one address */
  slow: number;
  /** seconds the slowloris keeps (re)opening refused connections */
  rampSeconds: number;
  /** seconds between the slowloris's bytes */
  byteEverySeconds: number;
  pipelineConnections: number;
  pipelineRequests: number;
  bruteAttempts: number;
  /** ms between replayed DTLS ClientHellos */
  dtlsEveryMs: number;
  /**
   * seconds the window lasts beyond the ramp and the gateway's auth timeout: an attacker still
   * connected then was not stopped
   */
  graceSeconds: number;
  /** seconds the attacks run before the legitimate user starts */
  warmupSeconds: number;
}

export const USAGE = `usage: npm run attack -- [options]      (as root)

  --quick              smaller numbers for a quick check (300 slow connections, 5 MB, ...); the
                       window still lasts the gateway's auth timeout (60 s by default) + grace
  --out FILE           JSON results (default bench/results/attack-latest.json; quick: attack-quick.json)
  --rss-bound MIB      the bound on the gateway's summed RSS (default 400)
  --transfer-mb N      the legitimate user's transfer (default 50; quick 5)
  --slow N             slowloris connections (default 3000; quick 300)
  --only LIST          run only these attackers (diagnosis; the drill then is not the full drill):
                       ${ATTACKERS.join(',')}
`;

export function parseAttackOptions(argv: string[]): AttackOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      'rss-bound': { type: 'string' },
      'transfer-mb': { type: 'string' },
      slow: { type: 'string' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const q = values.quick === true;
  const int = wholeNumberOption;
  const MiB = 1024 * 1024;
  const only = values.only === undefined ? [...ATTACKERS] : values.only.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = only.filter((x) => !(ATTACKERS as readonly string[]).includes(x));
  if (bad.length > 0) throw new Error(`--only: unknown ${bad.join(', ')} (known: ${ATTACKERS.join(', ')})`);
  return {
    quick: q,
    only: only as AttackerName[],
    out: values.out ?? (q ? 'bench/results/attack-quick.json' : 'bench/results/attack-latest.json'),
    rssBound: int(values['rss-bound'], 'rss-bound', 400) * MiB,
    transferBytes: int(values['transfer-mb'], 'transfer-mb', q ? 5 : 50) * MiB,
    slow: int(values.slow, 'slow', q ? 300 : 3000),
    rampSeconds: q ? 5 : 20,
    byteEverySeconds: 10,
    pipelineConnections: q ? 2 : 4,
    pipelineRequests: q ? 2000 : 5000,
    bruteAttempts: q ? 60 : 400,
    dtlsEveryMs: q ? 200 : 100,
    graceSeconds: 15,
    warmupSeconds: q ? 3 : 5,
  };
}
