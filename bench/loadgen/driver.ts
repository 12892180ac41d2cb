/** The orchestrator's handle on a load generator process (main.ts) running in a namespace. */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ns, NsProcess } from '../../test/helpers/netns.js';
import type { Summary } from '../lib/stats.js';
import type { Target } from './session.js';

const MAIN_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');

export interface OpenResult {
  ok: number;
  failed: number;
  total: number;
  ms: number;
  errors: Record<string, number>;
}

export interface PingResult {
  ok: number;
  failed: number;
  closed: number;
  ms: number;
  rttMs: Summary | null;
}

export interface RateResult {
  done: number;
  failed: number;
  seconds: number;
  perSecond: number;
  errors: Record<string, number>;
}

export class LoadGen {
  private constructor(readonly proc: NsProcess) {}

  static async start(ns: Ns, target: Target): Promise<LoadGen> {
    // --max-semi-space-size: fewer scavenges while thousands of TLS sockets are being set up.
    const proc = ns.spawn(process.execPath, ['--max-semi-space-size=32', MAIN_JS, JSON.stringify(target)], { label: `loadgen@${ns.name}` });
    await proc.waitForLine(/^LG \{"ev":"ready"/, 15_000);
    return new LoadGen(proc);
  }

  get pid(): number {
    return this.proc.pid;
  }

  private async command<T>(cmd: Record<string, unknown>, ev: string, timeoutMs: number): Promise<T> {
    const from = this.proc.lines.length;
    this.proc.write(JSON.stringify(cmd) + '\n');
    const m = await this.proc.waitForLine(new RegExp(`^LG (\\{"ev":"(?:${ev}|error)".*)$`), timeoutMs, from);
    const res = JSON.parse(m[1] ?? '{}') as { ev: string; message?: string } & T;
    if (res.ev === 'error') throw new Error(`load generator: ${res.message ?? 'failed'}`);
    return res;
  }

  open(count: number, concurrency: number, perSessionTimeoutMs = 60_000): Promise<OpenResult> {
    // Generous: 10,000 logins at a few ms each, on a shared core.
    const budget = 120_000 + Math.ceil(count / Math.max(1, concurrency)) * perSessionTimeoutMs;
    return this.command({ op: 'open', count, concurrency, timeoutMs: perSessionTimeoutMs }, 'open', budget);
  }

  ping(concurrency: number, timeoutMs = 2000, tries = 3, sessions = 10_000): Promise<PingResult> {
    const budget = 60_000 + Math.ceil(sessions / Math.max(1, concurrency)) * timeoutMs * tries;
    return this.command({ op: 'ping', concurrency, timeoutMs, tries }, 'ping', budget);
  }

  rate(seconds: number, concurrency: number, timeoutMs = 20_000): Promise<RateResult> {
    return this.command({ op: 'rate', seconds, concurrency, timeoutMs }, 'rate', seconds * 1000 + timeoutMs + 30_000);
  }

  async close(): Promise<void> {
    await this.command({ op: 'close' }, 'close', 30_000).catch(() => undefined);
  }

  async stop(): Promise<void> {
    // End of stdin makes it say DISCONNECT to every session and exit; kill it if it does not.
    this.proc.endStdin();
    try {
      await this.proc.waitExit(5000);
    } catch {
      await this.proc.stop('SIGKILL', 2000).catch(() => undefined);
    }
  }
}
