/**
 * `npm run attack [-- --quick]`: the attack drill of issue 9 §4 (as root).
 *
 *   1. namespaces (lab.ts): gateway, legitimate client, attackers (one address each)
 *   2. the gateway on its defaults (gateway.ts); its RSS summed over its process tree every 250 ms
 *   3. baseline: the legitimate user (openconnect) logs in, pings, moves the transfer, logs out
 *   4. all at once from the attacker namespace (attackers/): slowloris, pipelining flood, DPD
 *      flood from an authenticated client, login brute force; once the legitimate user is back
 *      in (timed again), ClientHellos replaying its live DTLS session id; the legitimate user
 *      moves the transfer (SHA-256 compared) while all of it runs
 *   5. the window lasts the slowloris ramp + the gateway's auth timeout + a grace: an attacker
 *      still connected when it ends was not stopped
 *   6. the verdict (verdict.ts): table on stdout, JSON in bench/results/attack-latest.json
 *
 * Exit status: 0 when every check holds, 1 when one fails (or the drill broke), 2 on bad usage.
 * Namespaces, processes and temp folders are removed on every exit, Ctrl-C included.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasCommand, isRoot, sleep, type NsProcess } from '../../test/helpers/netns.js';
import { REPO_ROOT } from '../../test/helpers/sslgate.js';
import { call } from '../../src/cli/ctl-client.js';
import type { BruteForceOptions, BruteForceReport } from './attackers/brute-force.js';
import type { DpdFloodOptions, DpdFloodReport } from './attackers/dpd-flood.js';
import type { DtlsReplayOptions, DtlsReplayReport } from './attackers/dtls-replay.js';
import type { PipelineOptions, PipelineReport } from './attackers/pipeline.js';
import type { SlowlorisOptions, SlowlorisReport } from './attackers/slowloris.js';
import { dtlsIdOf, liveSessionView, startDrillGateway, type DrillGateway, type DrillUser } from './gateway.js';
import { createAttackLab, type AttackLab } from './lab.js';
import { dtlsEvents, legitLogin, legitTransfer, type LegitSession, type LoginTiming, type TransferOutcome } from './legit.js';
import { ATTACKERS, parseAttackOptions, USAGE, type AttackerName, type AttackOptions } from './options.js';
import { RssSampler } from './rss.js';
import { evaluate, type AttackerRun, type Check, type DrillData, type DtlsWatch } from './verdict.js';

const ATTACKER_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'attacker.js');
const LEGIT: DrillUser = { name: 'alice', password: 'alice-Secret-77' };
/** The DPD flooder's own account: an insider, or stolen credentials. */
const INSIDER: DrillUser = { name: 'mallory', password: 'mallory-Secret-42' };
const MiB = 1024 * 1024;

const t0 = Date.now();
function log(msg: string): void {
  process.stderr.write(`[attack +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
}

function spawnAttacker(lab: AttackLab, kind: AttackerName, opts: object): NsProcess {
  return lab.attackers.spawn(process.execPath, [ATTACKER_JS, kind, JSON.stringify(opts)], { label: kind, echo: true });
}

async function attackerResult<R>(proc: NsProcess | undefined, address: string, timeoutMs: number): Promise<AttackerRun<R>> {
  if (!proc) return { address, report: null, skipped: true };
  try {
    const m = await proc.waitForLine(/^RESULT (.*)$/, timeoutMs);
    const r = JSON.parse(m[1] ?? 'null') as (R & { crashed?: string }) | null;
    if (r && typeof r === 'object' && 'crashed' in r && r.crashed) return { address, report: null, error: `crashed: ${r.crashed.split('\n')[0]}` };
    return { address, report: r };
  } catch (e) {
    return { address, report: null, error: (e as Error).message.split('\n')[0] ?? 'no result' };
  }
}

async function waitLoggedOut(gw: DrillGateway, user: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await liveSessionView(gw, user).catch(() => null)) === null) return;
    await sleep(200);
  }
}

/** Samples the legitimate session's DTLS state once a second until stopped. */
function watchDtls(gw: DrillGateway, user: string, w: DtlsWatch): () => Promise<void> {
  let running = true;
  const loop = (async (): Promise<void> => {
    while (running) {
      const t = Date.now();
      try {
        const v = await liveSessionView(gw, user);
        w.samples++;
        if (!v) w.gone++;
        else if (v.channel?.dtls?.established !== true) w.notEstablished++;
      } catch {
        // the admin API did not answer in time: no sample
      }
      await sleep(Math.max(0, 1000 - (Date.now() - t)));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

const notRun = (why: string): { login: LoginTiming; transfer: TransferOutcome } => ({
  login: { ok: false, tunnelUpMs: null, firstPingMs: null, dtls: null, dtlsEstablished: false, error: why },
  transfer: { ok: false, bytes: 0, sentBytes: 0, sha256Sent: null, sha256Received: null, ms: null, error: why },
});

interface Outcome {
  data: DrillData;
  extra: Record<string, unknown>;
}

async function drill(o: AttackOptions): Promise<Outcome> {
  const lab = await createAttackLab(ATTACKERS);
  const { tb } = lab;
  const addr = lab.addr as Record<AttackerName, string>;
  let gw: DrillGateway | undefined;
  let sampler: RssSampler | undefined;
  let legit: LegitSession | undefined;
  const extra: Record<string, unknown> = { namespaces: [tb.gw.name, tb.cl.name, lab.attackers.name], addresses: { gateway: tb.gwAddr, legitimate: tb.clAddr, ...addr } };
  try {
    gw = await startDrillGateway(tb.gw, { listenHost: tb.gwAddr, pool: tb.poolNet(0), users: [LEGIT, INSIDER] });
    const g = gw;
    const cfg = g.config;
    extra['gatewayConfig'] = { yaml: g.yaml, limits: cfg.limits, auth: cfg.auth, ban: (cfg as unknown as Record<string, unknown>)['ban'] ?? null, dtls: cfg.dtls, dpd: cfg.dpd };
    log(`gateway up on ${g.url} (pid ${g.proc.pid}); auth-timeout ${cfg.limits.authTimeout} s; attackers ${JSON.stringify(addr)}`);

    // Memory: a safety cap protects the machine if the gateway grows without bound.
    const safetyCap = Math.max(1536 * MiB, 3 * o.rssBound);
    let aborted: string | null = null;
    let abortedAt: number | null = null;
    const s = new RssSampler(g.proc.pid, 250, (x) => {
      if (aborted === null && x.bytes > safetyCap) {
        aborted = `attacks stopped early by the drill at +${(x.t / 1000).toFixed(1)} s: gateway RSS ${(x.bytes / MiB).toFixed(0)} MiB over the safety cap ${(safetyCap / MiB).toFixed(0)} MiB`;
        abortedAt = Date.now();
        log(aborted);
        // SIGTERM ends each attacker's window now: they still report what they saw.
        for (const p of lab.attackers.procs) p.signal('SIGTERM');
      }
    });
    sampler = s;
    s.start();

    // Baseline: no attack.
    log('baseline: legitimate login and transfer without attack');
    const base = await legitLogin(tb.cl, g, LEGIT, 30_000);
    const baseTransfer = base.timing.ok ? await legitTransfer(tb.cl, tb.gw, g, o.transferBytes, 120_000) : notRun('login failed').transfer;
    await base.client.stop();
    await waitLoggedOut(g, LEGIT.name, 10_000);
    log(`baseline: ${JSON.stringify(base.timing)}; transfer ${baseTransfer.ok ? 'ok' : 'FAILED'} in ${baseTransfer.ms} ms`);
    await sleep(1000);
    const idle = s.samples[s.samples.length - 1]?.bytes ?? 0;

    // The attack window.
    const attackStart = Date.now();
    const rampEndAt = attackStart + o.rampSeconds * 1000;
    const endAt = rampEndAt + (cfg.limits.authTimeout + o.graceSeconds) * 1000;
    const target = (name: AttackerName): { host: string; port: number; localAddress: string } => ({ host: g.host, port: g.port, localAddress: addr[name] });
    log(`attack: window of ${((endAt - attackStart) / 1000).toFixed(0)} s (ramp ${o.rampSeconds} s + auth-timeout ${cfg.limits.authTimeout} s + grace ${o.graceSeconds} s)`);
    const procs: Partial<Record<AttackerName, NsProcess>> = {};
    const on = (name: AttackerName): boolean => o.only.includes(name);
    if (on('slowloris')) procs.slowloris = spawnAttacker(lab, 'slowloris', {
      ...target('slowloris'),
      connections: o.slow,
      rampEndAt,
      endAt,
      byteEveryMs: o.byteEverySeconds * 1000,
      parallel: 256,
    } satisfies SlowlorisOptions);
    if (on('pipeline')) procs.pipeline = spawnAttacker(lab, 'pipeline', {
      ...target('pipeline'),
      connections: o.pipelineConnections,
      requestsPerConnection: o.pipelineRequests,
      batch: 100,
      endAt,
      trickleEveryMs: 5000,
    } satisfies PipelineOptions);
    if (on('dpd-flood')) procs['dpd-flood'] = spawnAttacker(lab, 'dpd-flood', {
      ...target('dpd-flood'),
      user: INSIDER.name,
      password: INSIDER.password,
      endAt,
      framesPerWrite: 1024,
      maxFrames: 2_000_000_000,
    } satisfies DpdFloodOptions);
    if (on('brute-force')) procs['brute-force'] = spawnAttacker(lab, 'brute-force', {
      ...target('brute-force'),
      names: [LEGIT.name, 'admin', 'root', 'test', 'guest', 'vpn'],
      attempts: o.bruteAttempts,
      parallel: 4,
      endAt,
    } satisfies BruteForceOptions);

    await sleep(o.warmupSeconds * 1000);
    log('legitimate user logs in under attack');
    legit = await legitLogin(tb.cl, g, LEGIT, 60_000);
    const loginEnd = Date.now();
    log(`under attack: ${JSON.stringify(legit.timing)}`);

    const watch: DtlsWatch = { idSource: null, mode: null, samples: 0, notEstablished: 0, gone: 0, openconnectLines: [] };
    let stopWatch: (() => Promise<void>) | null = null;
    let ocFrom = 0;
    if (!on('dtls-replay')) watch.error = 'not run (--only)';
    else if (aborted !== null) watch.error = 'the attacks were stopped early (gateway memory at the safety cap)';
    else if (legit.timing.ok) {
      const id = await dtlsIdOf(g, LEGIT.name).catch((e: unknown) => {
        watch.error = `reading the DTLS id: ${(e as Error).message}`;
        return null;
      });
      if (id) {
        watch.idSource = id.source;
        watch.mode = id.mode;
        ocFrom = legit.client.lines.length;
        procs['dtls-replay'] = spawnAttacker(lab, 'dtls-replay', {
          ...target('dtls-replay'),
          idHex: id.id,
          endAt,
          everyMs: o.dtlsEveryMs,
          listenMs: 2000,
        } satisfies DtlsReplayOptions);
        stopWatch = watchDtls(g, LEGIT.name, watch);
        await sleep(2000);
      } else watch.error ??= 'the gateway shows no DTLS id for the session (neither ctl session --json nor the debug log)';
    } else watch.error = 'the legitimate login failed';
    const transferStart = Date.now();
    const transfer = legit.timing.ok ? await legitTransfer(tb.cl, tb.gw, g, o.transferBytes, Math.max(60_000, endAt - Date.now())) : notRun('login failed').transfer;
    log(`under attack: transfer ${transfer.ok ? 'ok' : 'FAILED'} ${JSON.stringify({ ms: transfer.ms, bytes: transfer.bytes, error: transfer.error })}`);

    // Every attacker ends on its own at endAt; a minute more for its report.
    const wait = Math.max(0, endAt - Date.now()) + 60_000;
    const runs = {
      slowloris: attackerResult<SlowlorisReport>(procs.slowloris, addr.slowloris, wait),
      pipeline: attackerResult<PipelineReport>(procs.pipeline, addr.pipeline, wait),
      dpdFlood: attackerResult<DpdFloodReport>(procs['dpd-flood'], addr['dpd-flood'], wait),
      bruteForce: attackerResult<BruteForceReport>(procs['brute-force'], addr['brute-force'], wait),
      dtlsReplay:
        procs['dtls-replay'] || !on('dtls-replay')
          ? attackerResult<DtlsReplayReport>(procs['dtls-replay'], addr['dtls-replay'], wait)
          : Promise.resolve({ address: addr['dtls-replay'], report: null, error: `not started: ${watch.error ?? '?'}` }),
    };
    const [slowloris, pipeline, dpdFlood, bruteForce, dtlsReplay] = await Promise.all([runs.slowloris, runs.pipeline, runs.dpdFlood, runs.bruteForce, runs.dtlsReplay]);
    log('attackers done');
    if (stopWatch) await stopWatch();
    watch.openconnectLines = dtlsEvents(legit.client, ocFrom);

    const gatewayRunning = g.proc.running;
    if (gatewayRunning) {
      extra['gatewayStatus'] = await call(g.admin, 'GET', '/v1/status', 10_000).catch((e: unknown) => `error: ${(e as Error).message}`);
      extra['gatewayBans'] = await call(g.admin, 'GET', '/v1/bans', 10_000).catch((e: unknown) => `error: ${(e as Error).message}`);
    } else extra['gatewayExit'] = { status: g.proc.exitStatus, tail: g.proc.tail(30) };
    const underLogin = legit.timing;
    await legit.client.stop().catch(() => undefined);
    legit = undefined;
    s.stop();
    extra['rssSamples'] = s.samples.length;
    extra['rssPeakAtSeconds'] = +(s.peak.t / 1000).toFixed(2);
    extra['rssProcesses'] = s.peak.processes;
    extra['attackWindowSeconds'] = Math.round((endAt - attackStart) / 1000);
    extra['rssSafetyCap'] = safetyCap;
    return {
      extra,
      data: {
        rssBound: o.rssBound,
        rssPeak: s.peak.bytes,
        rssIdle: idle,
        rssAborted: aborted,
        gatewayRunning,
        baseline: { login: base.timing, transfer: baseTransfer },
        underAttack: {
          login: underLogin,
          transfer,
          // Attacks the drill ended early do not count as an attack the legitimate user survived.
          attacksEndedBefore: abortedAt === null ? null : abortedAt < loginEnd ? 'login' : abortedAt < transferStart + (transfer.ms ?? 0) ? 'transfer' : null,
        },
        transferBytes: o.transferBytes,
        dtls: watch,
        slowloris,
        pipeline,
        dpdFlood,
        bruteForce,
        dtlsReplay,
      },
    };
  } finally {
    sampler?.stop();
    await legit?.client.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await lab.cleanup();
  }
}

function renderTable(rows: Check[]): string {
  const w = Math.max(...rows.map((r) => r.check.length));
  return rows.map((r) => `${r.pass ? 'PASS' : 'FAIL'}  ${r.check.padEnd(w)}  ${r.measured}`).join('\n');
}

function loginRow(label: string, l: LoginTiming | undefined): string {
  if (!l) return `${label}: not run`;
  return `${label}: openconnect start -> tunnel up ${l.tunnelUpMs ?? '-'} ms -> first ping ${l.firstPingMs ?? '-'} ms${l.ok ? '' : ` (failed: ${l.error})`}`;
}

async function main(): Promise<number> {
  let o: AttackOptions | 'help';
  try {
    o = parseAttackOptions(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`attack: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (o === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!isRoot()) {
    process.stderr.write('attack: must run as root (it creates network namespaces and a TUN device)\n');
    return 2;
  }
  const missing = ['openconnect', 'ip', 'ping'].filter((c) => !hasCommand(c));
  if (missing.length > 0) {
    process.stderr.write(`attack: missing programs: ${missing.join(', ')} (apt-get install openconnect vpnc-scripts iproute2 iputils-ping)\n`);
    return 2;
  }
  const started = new Date();
  let outcome: Outcome | null = null;
  let broke: string | null = null;
  try {
    outcome = await drill(o);
  } catch (e) {
    broke = (e as Error).stack ?? String(e);
    log(`the drill broke: ${broke}`);
  }
  const checks: Check[] = outcome ? evaluate(outcome.data) : [{ check: 'the drill ran', pass: false, measured: (broke ?? '?').split('\n')[0] ?? '' }];
  const passed = checks.every((c) => c.pass);
  const d = outcome?.data;
  const partial = o.only.length < ATTACKERS.length ? ` (only ${o.only.join(',')}: NOT the full drill)` : '';
  const header = `sslgate attack drill ${started.toISOString()}${o.quick ? ' (--quick)' : ''}${partial}: ${passed ? 'PASS' : 'FAIL'} (${checks.filter((c) => !c.pass).length} of ${checks.length} checks failed)`;
  const timing = [loginRow('legitimate login without attack', d?.baseline.login), loginRow('legitimate login under attack  ', d?.underAttack?.login)].join('\n');
  process.stdout.write(`\n${header}\n\n${renderTable(checks)}\n\n${timing}\n`);
  const out = path.resolve(REPO_ROOT, o.out);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const json = {
    date: started.toISOString(),
    durationSeconds: Math.round((Date.now() - started.getTime()) / 1000),
    passed,
    options: o,
    checks,
    data: d ?? null,
    ...(outcome?.extra ?? {}),
    broke,
  };
  fs.writeFileSync(out, JSON.stringify(json, null, 1) + '\n');
  process.stdout.write(`\nJSON: ${path.relative(process.cwd(), out) || out}\n`);
  return passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`attack: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
