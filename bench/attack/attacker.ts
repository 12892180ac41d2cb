/**
 * One attacker process, run by the drill inside the attacker namespace:
 *
 *   node dist/bench/attack/attacker.js KIND 'OPTIONS-JSON'
 *
 * KIND is slowloris, pipeline, dpd-flood, brute-force or dtls-replay. Progress goes to stderr;
 * the report is the last stdout line, `RESULT {json}`. Every attacker ends on its own by the
 * window's end (`endAt` in its options); the drill kills it if it does not. A SIGTERM ends the window at once.
 */
import { bruteForce } from './attackers/brute-force.js';
import { dpdFlood } from './attackers/dpd-flood.js';
import { dtlsReplay } from './attackers/dtls-replay.js';
import { pipeline } from './attackers/pipeline.js';
import { slowloris } from './attackers/slowloris.js';
import { attackWindow, endWindowNow } from './attackers/net.js';

type Runner = (o: never, progress: (msg: string) => void) => Promise<unknown>;
const KINDS: Record<string, Runner> = {
  slowloris: slowloris as Runner,
  pipeline: pipeline as Runner,
  'dpd-flood': dpdFlood as Runner,
  'brute-force': bruteForce as Runner,
  'dtls-replay': dtlsReplay as Runner,
};

async function main(): Promise<void> {
  const [kind, json] = process.argv.slice(2);
  const run = kind ? KINDS[kind] : undefined;
  if (!run || !json) {
    process.stderr.write(`usage: attacker.js ${Object.keys(KINDS).join('|')} OPTIONS-JSON\n`);
    process.exit(2);
  }
  const opts = JSON.parse(json) as never;
  attackWindow.endAt = (opts as { endAt: number }).endAt;
  // The drill ends the window early when the gateway's memory reaches its safety cap.
  process.on('SIGTERM', endWindowNow);
  const t0 = Date.now();
  const progress = (msg: string): void => void process.stderr.write(`PROGRESS +${((Date.now() - t0) / 1000).toFixed(0)}s ${msg}\n`);
  const report = await run(opts, progress);
  process.stdout.write(`RESULT ${JSON.stringify({ ...(report as object), stoppedEarly: attackWindow.stoppedEarly })}\n`);
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stdout.write(`RESULT ${JSON.stringify({ crashed: (e as Error).stack ?? String(e) })}\n`);
  process.exit(1);
});
