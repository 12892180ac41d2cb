/**
 * The fuzz loop, in a worker thread so the child's main thread can watch it (a parser stuck in a
 * synchronous loop cannot be interrupted from inside; the watchdog terminates the worker).
 *
 * Coverage guidance is batched: V8's takePreciseCoverage walks every function in the isolate and
 * costs far more than one parser call, so a batch of inputs runs first and its coverage is taken
 * once; only a batch that reached new blocks is replayed input by input to find which inputs go
 * into the corpus. After warm-up almost no batch is new, so the cost per input stays small.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { BlockCoverage } from './coverage.js';
import { mutate, type MutationContext } from './mutate.js';
import { CTRL_EXECS, CTRL_LEN, type FuzzOptions, type WorkerMessage } from './protocol.js';
import { Rng } from './rng.js';
import { findTarget } from '../targets/index.js';

const { opts, ctrlBuf, inputBuf } = workerData as { opts: FuzzOptions; ctrlBuf: SharedArrayBuffer; inputBuf: SharedArrayBuffer };
const ctrl = new Int32Array(ctrlBuf);
const shared = new Uint8Array(inputBuf);
const target = findTarget(opts.target);
const rng = new Rng(opts.seed);
const post = (m: WorkerMessage): void => parentPort!.postMessage(m);

const BATCH = 128;
const MAX_CORPUS = 8192;
const MAX_REPORTED_CRASHES = 8;

const corpus: Buffer[] = [];
const crashKeys = new Set<string>();
let crashes = 0;
let execs = 0;

function loadSeeds(): Buffer[] {
  const seeds: Buffer[] = [];
  try {
    for (const f of readdirSync(opts.corpusDir).sort()) seeds.push(readFileSync(join(opts.corpusDir, f)));
  } catch {
    // no seed folder for this target: generated seeds (below) or the empty input
  }
  if (target.seeds) seeds.push(...target.seeds());
  if (seeds.length === 0) seeds.push(Buffer.alloc(0));
  return seeds.map((s) => (s.length > target.maxLen ? s.subarray(0, target.maxLen) : s));
}

/** Error identity for de-duplication: class, first message line, first frame in our code. */
function crashKey(e: unknown): { key: string; message: string; stack: string } {
  const err = e instanceof Error ? e : new Error(`non-Error thrown: ${String(e)}`);
  const stack = err.stack ?? String(err);
  const frame = stack.split('\n').find((l) => l.includes('/dist/')) ?? '';
  const message = `${err.name}: ${err.message.split('\n')[0]!.slice(0, 200)}`;
  return { key: `${err.name}|${frame.trim()}`, message, stack };
}

/** Runs one input; returns the error key if it crashed. */
function execute(data: Buffer): string | null {
  const n = Math.min(data.length, shared.length);
  shared.set(data.subarray(0, n));
  Atomics.store(ctrl, CTRL_LEN, n);
  Atomics.add(ctrl, CTRL_EXECS, 1);
  try {
    target.run(data);
    return null;
  } catch (e) {
    return crashKey(e).key;
  }
}

/** Shrinks a crashing input while it still crashes the same way (a few hundred tries). */
function minimize(data: Buffer, key: string): Buffer {
  let best = data;
  for (let tries = 0; tries < 400 && best.length > 0; tries++) {
    const at = rng.below(best.length);
    const n = 1 + rng.below(Math.max(1, Math.min(best.length - at, best.length >> 2)));
    const cand = Buffer.concat([best.subarray(0, at), best.subarray(at + n)]);
    if (execute(cand) === key) best = cand;
  }
  return best;
}

function recordCrash(data: Buffer, e: unknown): void {
  crashes++;
  const c = crashKey(e);
  if (crashKeys.has(c.key) || crashKeys.size >= MAX_REPORTED_CRASHES) return;
  crashKeys.add(c.key);
  const small = minimize(data, c.key);
  post({ type: 'crash', message: c.message, stack: c.stack, input: new Uint8Array(small) });
}

function runChecked(data: Buffer): void {
  const n = Math.min(data.length, shared.length);
  shared.set(data.subarray(0, n));
  Atomics.store(ctrl, CTRL_LEN, n);
  Atomics.add(ctrl, CTRL_EXECS, 1);
  try {
    target.run(data);
  } catch (e) {
    recordCrash(data, e);
  }
}

async function main(): Promise<void> {
  const cov = new BlockCoverage(target.covers);
  const start = Date.now();
  // Seeds: each one individually, kept when it reaches something new (and the first always).
  cov.reset();
  for (const s of loadSeeds()) {
    runChecked(s);
    const fresh = cov.takeNew();
    if (fresh.length > 0 || corpus.length === 0) {
      for (const f of fresh) cov.seen.add(f);
      corpus.push(s);
    }
  }
  const mctx: MutationContext = {
    rng,
    maxLen: target.maxLen,
    dictionary: (target.dictionary ?? []).map((d) => Buffer.from(d, 'latin1')),
    other: () => corpus[rng.below(corpus.length)]!,
  };
  let lastReport = Date.now();
  const batch: Buffer[] = [];
  for (;;) {
    const elapsed = Date.now() - start;
    if ((opts.runs > 0 && execs >= opts.runs) || (opts.maxTimeMs > 0 && elapsed >= opts.maxTimeMs)) break;
    batch.length = 0;
    const n = opts.runs > 0 ? Math.min(BATCH, opts.runs - execs) : BATCH;
    for (let i = 0; i < n; i++) {
      // Recent corpus entries are favoured a little: they are the frontier.
      const parent = rng.chance(3) ? corpus[corpus.length - 1 - rng.below(Math.min(corpus.length, 16))]! : corpus[rng.below(corpus.length)]!;
      const input = mutate(parent, mctx);
      batch.push(input);
      runChecked(input);
      execs++;
    }
    const fresh = cov.takeNew();
    if (fresh.length > 0) {
      // Which inputs of the batch reached the new blocks? Replay them one by one.
      const wanted = new Set(fresh);
      for (const input of batch) {
        runChecked(input);
        const got = cov.takeNew();
        if (got.length === 0) continue;
        for (const f of got) {
          cov.seen.add(f);
          wanted.delete(f);
        }
        if (corpus.length < MAX_CORPUS) corpus.push(input);
        else corpus[rng.below(corpus.length)] = input;
        if (wanted.size === 0) break;
      }
      for (const f of wanted) cov.seen.add(f); // state-dependent blocks: do not chase them again
    }
    // Yield to the event loop after each batch, as a server does between reads: Node runs N-API
    // finalizers (the native record openers) from there, and a loop that never yields makes
    // their memory look like a leak (RSS grew ~2 KB per opener until the end of the run).
    await new Promise((res) => setImmediate(res));
    if (Date.now() - lastReport > 2000) {
      lastReport = Date.now();
      post({ type: 'progress', execs, corpus: corpus.length, features: cov.seen.size, crashes, elapsedMs: Date.now() - start });
    }
  }
  post({ type: 'done', execs, corpus: corpus.length, features: cov.seen.size, crashes, elapsedMs: Date.now() - start });
}

void main();
