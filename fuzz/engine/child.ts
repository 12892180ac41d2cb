/**
 * One fuzz target in its own process (so RSS is per target): runs the worker thread, watches it
 * for hangs and memory growth, writes findings, and prints one `FUZZ-RESULT {json}` line.
 *
 *   node dist/fuzz/engine/child.js '<FuzzOptions as JSON>'
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { CTRL_EXECS, CTRL_LEN, type CrashRecord, type FuzzOptions, type TargetResult, type WorkerMessage } from './protocol.js';
import { findTarget } from '../targets/index.js';

const opts = JSON.parse(process.argv[2]!) as FuzzOptions;
const target = findTarget(opts.target);
const ctrlBuf = new SharedArrayBuffer(8);
const inputBuf = new SharedArrayBuffer(target.maxLen);
const ctrl = new Int32Array(ctrlBuf);
const MB = 1024 * 1024;

const result: TargetResult = {
  target: opts.target, execs: 0, crashes: 0, hangs: 0, oom: 0, corpus: 0, features: 0,
  peakRssMb: 0, midRssMb: 0, endRssMb: 0, seconds: 0, findings: [],
};
const started = Date.now();
const rssSamples: number[] = [];

function save(kind: CrashRecord['kind'], message: string, input: Uint8Array, detail: string): void {
  mkdirSync(opts.findingsDir, { recursive: true });
  const name = `${kind}-${createHash('sha1').update(input).digest('hex').slice(0, 16)}`;
  const file = join(opts.findingsDir, name);
  writeFileSync(file, input);
  writeFileSync(file + '.txt', `${message}\n\n${detail}\n`);
  result.findings.push({ kind, message, file });
  process.stderr.write(`[${opts.target}] ${kind.toUpperCase()}: ${message}\n  input: ${file} (${input.length} bytes)\n`);
}

function currentInput(): Uint8Array {
  return new Uint8Array(inputBuf).slice(0, Atomics.load(ctrl, CTRL_LEN));
}

const worker = new Worker(new URL('./worker.js', import.meta.url), {
  workerData: { opts, ctrlBuf, inputBuf },
  // The worker's heap is where a leak would grow; the RSS limit below is the real bound.
  resourceLimits: { maxOldGenerationSizeMb: Math.max(256, opts.rssLimitMb) },
});

let lastExecs = -1;
let lastChange = Date.now();
let finished = false;

const watchdog = setInterval(() => {
  const rss = process.memoryUsage.rss() / MB;
  rssSamples.push(rss);
  result.peakRssMb = Math.max(result.peakRssMb, rss);
  const now = Date.now();
  const e = Atomics.load(ctrl, CTRL_EXECS);
  if (e !== lastExecs) {
    lastExecs = e;
    lastChange = now;
  } else if (now - lastChange > opts.hangMs && !finished) {
    result.hangs++;
    save('hang', `an input ran for more than ${opts.hangMs} ms`, currentInput(), 'the worker was terminated');
    stop();
  }
  if (rss > opts.rssLimitMb && !finished) {
    result.oom++;
    save('oom', `RSS ${rss.toFixed(0)} MB exceeds the limit of ${opts.rssLimitMb} MB`, currentInput(), 'the input running when the limit was crossed (the growth may come from earlier inputs)');
    stop();
  }
}, 250);

worker.on('message', (m: WorkerMessage) => {
  if (m.type === 'crash') {
    save('crash', m.message, m.input, m.stack);
    return;
  }
  result.execs = m.execs;
  result.corpus = m.corpus;
  result.features = m.features;
  result.crashes = m.crashes;
  if (m.type === 'progress') {
    process.stderr.write(`[${opts.target}] ${m.execs} inputs, ${(m.execs / (m.elapsedMs / 1000)).toFixed(0)}/s, corpus ${m.corpus}, blocks ${m.features}, crashes ${m.crashes}, rss ${(process.memoryUsage.rss() / MB).toFixed(0)} MB\n`);
  } else {
    stop();
  }
});

worker.on('error', (e) => {
  // An exception escaping the loop itself (e.g. heap limit): a finding, not a tool failure.
  result.oom += /memory/i.test(e.message) ? 1 : 0;
  if (!/memory/i.test(e.message)) result.error = e.stack ?? e.message;
  else save('oom', e.message, currentInput(), e.stack ?? '');
  stop();
});

worker.on('exit', () => stop());

function stop(): void {
  if (finished) return;
  finished = true;
  clearInterval(watchdog);
  void worker.terminate().then(() => {
    result.seconds = (Date.now() - started) / 1000;
    const rss = process.memoryUsage.rss() / MB;
    rssSamples.push(rss);
    result.peakRssMb = Math.max(result.peakRssMb, rss);
    result.midRssMb = rssSamples[Math.floor(rssSamples.length / 2)] ?? rss;
    result.endRssMb = rssSamples[rssSamples.length - 2] ?? rss; // last sample while the worker ran
    process.stdout.write(`FUZZ-RESULT ${JSON.stringify(result)}\n`);
    process.exit(0);
  });
}
