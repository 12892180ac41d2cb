/**
 * The load generator process: many sessions (session.ts) in one Node process, no TUN.
 * Started by driver.ts inside the client namespace:
 *
 *   node dist/bench/loadgen/main.js '<Target as JSON>'
 *
 * Commands arrive as JSON lines on stdin, each answered by one `LG {json}` line on stdout:
 *   {"op":"open","count":N,"concurrency":C,"timeoutMs":T}   open N more sessions and keep them
 *   {"op":"ping","concurrency":C,"timeoutMs":T,"tries":K}   one ICMP echo through every open session
 *   {"op":"rate","seconds":S,"concurrency":C,"timeoutMs":T} handshakes (login + CONNECT, then
 *                                                           DISCONNECT) back to back for S seconds
 *   {"op":"close"}                                           DISCONNECT every open session
 */
import { createInterface } from 'node:readline';
import { LoadSession, type Target } from './session.js';
import { summarize } from '../lib/stats.js';

type Command =
  | { op: 'open'; count: number; concurrency: number; timeoutMs: number }
  | { op: 'ping'; concurrency: number; timeoutMs: number; tries: number }
  | { op: 'rate'; seconds: number; concurrency: number; timeoutMs: number }
  | { op: 'close' };

const target = JSON.parse(process.argv[2] ?? '{}') as Target;
const open: LoadSession[] = [];
let nextIndex = 1;

function emit(ev: Record<string, unknown>): void {
  process.stdout.write(`LG ${JSON.stringify(ev)}\n`);
}

/** Failure messages by count: 10,000 identical stack traces would say less than one line. */
class Errors {
  readonly counts: Record<string, number> = {};
  add(e: unknown): void {
    const msg = (e instanceof Error ? e.message : String(e)).slice(0, 120);
    this.counts[msg] = (this.counts[msg] ?? 0) + 1;
  }
}

/** Runs `work(i)` for i in [0, n) with at most `concurrency` in flight. */
async function pool(n: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

async function openSessions(c: Extract<Command, { op: 'open' }>): Promise<void> {
  const t0 = performance.now();
  const errors = new Errors();
  let ok = 0;
  await pool(c.count, c.concurrency, async () => {
    const s = new LoadSession(nextIndex++, target);
    try {
      await s.establish(c.timeoutMs);
      open.push(s);
      ok++;
    } catch (e) {
      errors.add(e);
    }
  });
  emit({ ev: 'open', ok, failed: c.count - ok, total: open.filter((s) => !s.closed).length, ms: Math.round(performance.now() - t0), errors: errors.counts });
}

async function pingAll(c: Extract<Command, { op: 'ping' }>): Promise<void> {
  const t0 = performance.now();
  const rtts: number[] = [];
  let failed = 0;
  let closed = 0;
  const live = open.filter((s) => !s.closed);
  closed = open.length - live.length;
  await pool(live.length, c.concurrency, async (i) => {
    const s = live[i]!;
    for (let k = 0; k < c.tries; k++) {
      const rtt = await s.ping(c.timeoutMs);
      if (rtt !== null) {
        rtts.push(rtt);
        return;
      }
      if (s.closed) break;
    }
    failed++;
  });
  const sum = summarize(rtts);
  emit({ ev: 'ping', ok: rtts.length, failed, closed, ms: Math.round(performance.now() - t0), rttMs: sum });
}

async function rate(c: Extract<Command, { op: 'rate' }>): Promise<void> {
  const errors = new Errors();
  let done = 0;
  const t0 = performance.now();
  const end = t0 + c.seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const s = new LoadSession(nextIndex++, target);
      try {
        await s.establish(c.timeoutMs);
        done++;
        s.disconnect();
      } catch (e) {
        errors.add(e);
        await new Promise((r) => setTimeout(r, 20)); // no hot loop against a refusing gateway
      }
    }
  };
  await Promise.all(Array.from({ length: c.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const failed = Object.values(errors.counts).reduce((a, b) => a + b, 0);
  emit({ ev: 'rate', done, failed, seconds, perSecond: done / seconds, errors: errors.counts });
}

function closeAll(): void {
  for (const s of open) s.disconnect();
  const n = open.length;
  open.length = 0;
  emit({ ev: 'close', n });
}

// Keepalive/DPD for every session from one coarse timer, not one timer per session.
setInterval(() => {
  const now = Date.now();
  for (const s of open) s.tick(now);
}, 1000);

let chain: Promise<void> = Promise.resolve();
createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  const c = JSON.parse(line) as Command;
  chain = chain.then(async () => {
    switch (c.op) {
      case 'open':
        return openSessions(c);
      case 'ping':
        return pingAll(c);
      case 'rate':
        return rate(c);
      case 'close':
        return closeAll();
    }
  }).catch((e: unknown) => emit({ ev: 'error', message: (e as Error).message }));
});
process.stdin.on('end', () => {
  closeAll();
  setTimeout(() => process.exit(0), 300);
});
emit({ ev: 'ready', pid: process.pid });
