/**
 * `npm run fuzz`: coverage-guided fuzzing of every parser that sees untrusted bytes.
 *
 *   npm run fuzz                           # full run: 1,000,000 inputs per target
 *   npm run fuzz -- --quick                # ~3 s per target (CI); exit 1 on any finding
 *   npm run fuzz -- --only http-request,cstp --runs 200000
 *   npm run fuzz -- --time 60              # seconds per target (with --runs 0: time only)
 *   npm run fuzz -- --jobs 2 --seed 42     # targets in parallel; the PRNG seed is logged
 *   npm run fuzz -- --list
 *
 * Each target runs in its own process (fuzz/engine/child.ts) so its RSS is its own. Findings
 * (crash, hang, oom) are written to fuzz/findings/<target>/ with the error; a fixed one becomes a
 * regression input under test/fixtures/fuzz-crashes/<target>/ (test/unit/fuzz-regressions.test.ts).
 *
 * Why not jazzer.js: @jazzer.js/core 4.0.0 installs, but its prebuilt libFuzzer addon needs
 * glibc 2.38 (`__isoc23_strtol`) and Debian 12 has 2.36; it ships no sources to rebuild, and
 * 2.1.0 downloads its binary from GitHub at install time. So the engine here is a small
 * libFuzzer-style mutator guided by V8's own block coverage (fuzz/engine/coverage.ts).
 */
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FuzzOptions, TargetResult } from './engine/protocol.js';
import { TARGETS } from './targets/index.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/fuzz
const repo = resolve(here, '../..');

interface Args {
  quick: boolean;
  only: string[] | null;
  runs: number | null;
  time: number | null;
  jobs: number;
  seed: number;
  hangMs: number;
  rssLimitMb: number;
  list: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, only: null, runs: null, time: null, jobs: 1, seed: (Date.now() ^ process.pid) >>> 0, hangMs: 10_000, rssLimitMb: 1024, list: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    const num = (): number => {
      const s = v();
      const n = Number(s);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${k}: not a number: ${s}`);
      return n;
    };
    switch (k) {
      case '--quick': a.quick = true; break;
      case '--only': a.only = v().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--runs': a.runs = num(); break;
      case '--time': a.time = num(); break;
      case '--jobs': case '-j': a.jobs = Math.max(1, Math.floor(num())); break;
      case '--seed': a.seed = num() >>> 0; break;
      case '--hang-ms': a.hangMs = num(); break;
      case '--rss-limit-mb': a.rssLimitMb = num(); break;
      case '--list': a.list = true; break;
      default: throw new Error(`unknown option ${k} (see fuzz/run.ts)`);
    }
  }
  return a;
}

function runTarget(opts: FuzzOptions): Promise<TargetResult> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [join(here, 'engine/child.js'), JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith('FUZZ-RESULT '));
      if (line) return res(JSON.parse(line.slice('FUZZ-RESULT '.length)) as TargetResult);
      res({ target: opts.target, execs: 0, crashes: 0, hangs: 0, oom: 0, corpus: 0, features: 0, peakRssMb: 0, midRssMb: 0, endRssMb: 0, seconds: 0, findings: [],
        error: signal
          ? `the target process died with ${signal} (a crash in native code; the input is not saved: rerun with --only ${opts.target} --seed ${opts.seed})`
          : `child exited with ${code} without a result${out ? `: ${out.slice(-500)}` : ''}` });
    });
  });
}

function table(results: TargetResult[]): string {
  const head = ['target', 'inputs', 'crashes', 'hangs', 'oom', 'peak RSS MB', 'RSS mid→end', 'blocks', 'corpus', 'inputs/s'];
  const rows = results.map((r) => [
    r.target, String(r.execs), String(r.crashes), String(r.hangs), String(r.oom), r.peakRssMb.toFixed(0),
    `${r.midRssMb.toFixed(0)}→${r.endRssMb.toFixed(0)}`, String(r.features), String(r.corpus),
    r.seconds > 0 ? (r.execs / r.seconds).toFixed(0) : '-',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [fmt(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(fmt)].join('\n');
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  if (a.list) {
    for (const t of TARGETS) console.log(`${t.name.padEnd(22)} ${t.description}`);
    return 0;
  }
  const unknown = (a.only ?? []).filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length) throw new Error(`unknown target(s): ${unknown.join(', ')} (npm run fuzz -- --list)`);
  const chosen = TARGETS.filter((t) => !a.only || a.only.includes(t.name));
  const runs = a.runs ?? (a.quick ? 0 : 1_000_000);
  const time = a.time ?? (a.quick ? 3 : 0);
  console.log(`fuzz: ${chosen.length} target(s), ${runs ? `${runs} inputs` : 'no input limit'}${time ? `, ${time} s` : ''} per target, seed ${a.seed}, ${a.jobs} job(s)`);
  const queue = chosen.map((t, i): FuzzOptions => ({
    target: t.name, runs, maxTimeMs: time * 1000, seed: (a.seed + i * 0x9e3779b9) >>> 0, hangMs: a.hangMs, rssLimitMb: a.rssLimitMb,
    findingsDir: join(repo, 'fuzz/findings', t.name), corpusDir: join(repo, 'fuzz/corpus', t.name),
  }));
  const results: TargetResult[] = [];
  await Promise.all(Array.from({ length: Math.min(a.jobs, queue.length) }, async () => {
    for (let o = queue.shift(); o; o = queue.shift()) {
      const r = await runTarget(o);
      results.push(r);
      console.log(`fuzz: ${r.target}: ${r.execs} inputs in ${r.seconds.toFixed(0)} s, ${r.crashes} crashes, ${r.hangs} hangs, ${r.oom} oom, peak RSS ${r.peakRssMb.toFixed(0)} MB${r.error ? `, ERROR ${r.error}` : ''}`);
    }
  }));
  results.sort((x, y) => chosen.findIndex((t) => t.name === x.target) - chosen.findIndex((t) => t.name === y.target));
  console.log('\n' + table(results));
  const bad = results.filter((r) => r.crashes || r.hangs || r.oom || r.error || r.findings.length);
  for (const r of bad) for (const f of r.findings) console.log(`  ${r.target}: ${f.kind}: ${f.message}\n    ${f.file}`);
  const short = runs > 0 ? results.filter((r) => r.execs < runs && !r.findings.length) : [];
  if (short.length) console.log(`note: stopped by --time before ${runs} inputs: ${short.map((r) => r.target).join(', ')}`);
  console.log(bad.length ? `fuzz: FAILED (${bad.map((r) => r.target).join(', ')})` : 'fuzz: OK, 0 crashes, 0 hangs, 0 memory findings');
  return bad.length ? 1 : 0;
}

main().then((code) => process.exit(code), (e: Error) => {
  console.error(`fuzz: ${e.message}`);
  process.exit(2);
});
