/**
 * The drill's assertions, one row each: the legitimate user succeeded, the gateway's memory stayed
 * under the stated bound, and every attacker ended up refused, cut off or banned, judged from
 * the attacker's own side. A row that could not be measured fails: the drill never passes
 * something it did not see.
 */
import type { BruteForceReport } from './attackers/brute-force.js';
import type { DpdFloodReport } from './attackers/dpd-flood.js';
import type { DtlsReplayReport } from './attackers/dtls-replay.js';
import type { PipelineReport } from './attackers/pipeline.js';
import type { SlowlorisReport } from './attackers/slowloris.js';
import type { LoginTiming, TransferOutcome } from './legit.js';

export interface Check {
  check: string;
  pass: boolean;
  measured: string;
}

export interface AttackerRun<R> {
  address: string;
  report: (R & { stoppedEarly?: boolean }) | null;
  /** why there is no report (crashed, killed, no RESULT line) */
  error?: string;
  /** not run (--only) */
  skipped?: boolean;
}

export interface DtlsWatch {
  /** where the live session's id came from */
  idSource: string | null;
  mode: string | null;
  /** admin API samples of the legitimate session while the replay ran */
  samples: number;
  /** samples in which its DTLS association was not established (torn down) */
  notEstablished: number;
  /** samples in which the session was not connected at all */
  gone: number;
  /** openconnect's DTLS lines after the replay started (dead peer, new handshakes, ...) */
  openconnectLines: string[];
  error?: string;
}

export interface DrillData {
  rssBound: number;
  rssPeak: number;
  rssIdle: number;
  rssAborted: string | null;
  gatewayRunning: boolean;
  baseline: { login: LoginTiming; transfer: TransferOutcome };
  /** attacksEndedBefore: the drill stopped the attacks (safety cap) before this step ended */
  underAttack: { login: LoginTiming; transfer: TransferOutcome; attacksEndedBefore: 'login' | 'transfer' | null } | null;
  transferBytes: number;
  dtls: DtlsWatch;
  slowloris: AttackerRun<SlowlorisReport>;
  pipeline: AttackerRun<PipelineReport>;
  dpdFlood: AttackerRun<DpdFloodReport>;
  bruteForce: AttackerRun<BruteForceReport>;
  dtlsReplay: AttackerRun<DtlsReplayReport>;
}

const MiB = 1024 * 1024;
const mib = (b: number): string => `${(b / MiB).toFixed(1)} MiB`;
const ms = (v: number | null): string => (v === null ? '-' : `${v} ms`);

function loginText(l: LoginTiming): string {
  return l.ok ? `tunnel up ${ms(l.tunnelUpMs)}, first ping ${ms(l.firstPingMs)}, DTLS ${l.dtlsEstablished ? 'up' : 'not up'}` : `failed: ${l.error ?? '?'}`;
}

function transferText(t: TransferOutcome, size: number): string {
  if (t.error) return `failed: ${t.error}`;
  const mbps = t.ms ? ((t.bytes * 8) / t.ms / 1000).toFixed(0) : '-';
  return `${(t.bytes / MiB).toFixed(1)}/${(size / MiB).toFixed(0)} MiB in ${ms(t.ms)} (${mbps} Mbit/s), sha256 ${t.sha256Sent !== null && t.sha256Sent === t.sha256Received ? 'equal' : 'DIFFERENT'}`;
}

function missing(name: string, run: AttackerRun<unknown>): Check {
  return { check: `${name} (${run.address}) stopped`, pass: false, measured: `no report: ${run.error ?? 'unknown'}` };
}

const early = (r: { stoppedEarly?: boolean } | null): string => (r?.stoppedEarly ? ' [window ended early by the drill: gateway memory at the safety cap]' : '');

export function evaluate(d: DrillData): Check[] {
  const rows: Check[] = [];
  rows.push({ check: 'legitimate login without attack (baseline)', pass: d.baseline.login.ok, measured: loginText(d.baseline.login) });
  rows.push({ check: 'legitimate transfer without attack (baseline)', pass: d.baseline.transfer.ok, measured: transferText(d.baseline.transfer, d.transferBytes) });
  const ua = d.underAttack;
  const ended = (step: 'login' | 'transfer'): string =>
    ua?.attacksEndedBefore === step || (step === 'transfer' && ua?.attacksEndedBefore === 'login') ? ` [not under attack to the end: the drill had stopped the attacks (safety cap) before the ${step} finished]` : '';
  rows.push({
    check: 'legitimate login under attack',
    pass: ua?.login.ok === true && ended('login') === '',
    measured: ua ? loginText(ua.login) + ended('login') : 'not run',
  });
  rows.push({
    check: `legitimate ${(d.transferBytes / MiB).toFixed(0)} MiB transfer under attack, checksum verified`,
    pass: ua?.transfer.ok === true && ended('transfer') === '',
    measured: ua ? transferText(ua.transfer, d.transferBytes) + ended('transfer') : 'not run',
  });
  rows.push({
    check: `gateway RSS (process tree, sampled every 250 ms) peak <= ${mib(d.rssBound)}`,
    pass: d.rssPeak > 0 && d.rssPeak <= d.rssBound && d.rssAborted === null,
    measured: `peak ${mib(d.rssPeak)} (idle ${mib(d.rssIdle)})${d.rssAborted ? `; ${d.rssAborted}` : ''}`,
  });
  rows.push({ check: 'gateway still running after the drill', pass: d.gatewayRunning, measured: d.gatewayRunning ? 'running' : 'exited' });

  const s = d.slowloris;
  if (s.skipped) {
    // not run (--only): no row
  }
  else if (!s.report) rows.push(missing('slowloris', s));
  else {
    const r = s.report;
    rows.push({
      check: `slowloris (${s.address}, ${r.slots} slots) stopped: no connection open at the window's end`,
      pass: r.attempts > 0 && r.openAtEnd === 0,
      measured:
        `${r.attempts} attempts: ${r.refused} refused before TLS, ${r.connectTimeouts} connect timeouts, ${r.admitted} admitted ` +
        `(${Object.entries(r.admittedByFlavour).map(([k, v]) => `${k} ${v}`).join(', ')}); ${r.closedByGateway} closed by the gateway ` +
        `(held max ${(r.heldMsMax / 1000).toFixed(0)} s), ${r.openAtEnd} still open at the end` +
        (r.openAtEnd > 0 ? ` (${Object.entries(r.openAtEndByFlavour).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ')})` : '') +
        early(r),
    });
  }

  const p = d.pipeline;
  if (p.skipped) {
    // not run (--only): no row
  }
  else if (!p.report) rows.push(missing('pipelining flood', p));
  else {
    const c = p.report.connections;
    const stopped = c.filter((x) => x.outcome === 'refused' || x.outcome === 'cut-off').length;
    const by = (o: string): number => c.filter((x) => x.outcome === o).length;
    rows.push({
      check: `pipelining flood (${p.address}, ${c.length} connections) stopped: every connection refused or cut off`,
      pass: c.length > 0 && stopped === c.length,
      measured:
        `${p.report.requestsWritten} requests written; cut off ${by('cut-off')}` +
        `${c.some((x) => x.outcome === 'cut-off') ? ` (after ${c.filter((x) => x.outcome === 'cut-off').map((x) => `${((x.cutOffAfterMs ?? 0) / 1000).toFixed(0)} s`).join(', ')})` : ''}` +
        `, refused ${by('refused')}, half-closed but still reading ${by('half-closed')}, open at the end ${by('open-at-end')}, connect failed ${by('connect-failed')}` +
        `${c.some((x) => x.stalled) ? `; writes stalled on ${c.filter((x) => x.stalled).length}` : ''}${early(p.report)}`,
    });
  }

  const f = d.dpdFlood;
  if (f.skipped) {
    // not run (--only): no row
  }
  else if (!f.report) rows.push(missing('DPD flood', f));
  else {
    const r = f.report;
    rows.push({
      check: `DPD flood from an authenticated client (${f.address}) cut off`,
      pass: r.login === 'success' && r.outcome === 'cut-off',
      measured:
        r.login !== 'success'
          ? `could not log in (${r.login}: ${r.detail}): attack not run`
          : `${r.framesWritten} DPD-REQ written (${r.rate}/s), outcome ${r.outcome}` +
            `${r.cutOffAfterMs !== null ? ` after ${(r.cutOffAfterMs / 1000).toFixed(1)} s (${r.detail})` : ''}${r.stalled ? ', writes stalled' : ''}${early(r)}`,
    });
  }

  const b = d.bruteForce;
  if (b.skipped) {
    // not run (--only): no row
  }
  else if (!b.report) rows.push(missing('login brute force', b));
  else {
    const r = b.report;
    const lastRefused = r.last.length > 0 && r.last.slice(-3).every((x) => x === 'refused');
    rows.push({
      check: `login brute force (${b.address}) banned, no wrong password accepted`,
      pass: r.attempts > 0 && r.outcomes.success === 0 && r.firstRefusedAt !== null && lastRefused,
      measured:
        `${r.attempts} attempts: ${Object.entries(r.outcomes).map(([k, v]) => `${k} ${v}`).join(', ')}; first refusal at attempt ${r.firstRefusedAt ?? '-'}; ` +
        `last ${r.last.join(',')}; messages ${JSON.stringify(r.messages)}${early(r)}`,
    });
  }

  const x = d.dtlsReplay;
  const w = d.dtls;
  if (x.skipped) return rows;
  if (!x.report) rows.push(missing('DTLS replay', x));
  else {
    const r = x.report;
    rows.push({
      check: `DTLS ClientHello replay (${x.address}) refused: no handshake completed`,
      pass: r.hellos > 0 && r.established === 0,
      measured: `${r.hellos} hellos from ${r.sourcePorts} ports naming the live id (from ${w.idSource ?? '?'}): ${r.answered} answered ${JSON.stringify(r.answers)}, ${r.established} established, failures ${JSON.stringify(r.failures)}${early(r)}`,
    });
  }
  rows.push({
    check: 'legitimate DTLS association survived the replay',
    pass: x.report !== null && w.samples > 0 && w.notEstablished === 0 && w.gone === 0 && w.openconnectLines.length === 0,
    measured: w.error
      ? `not measured: ${w.error}`
      : `${w.samples} samples of the session (1/s): ${w.notEstablished} without DTLS, ${w.gone} disconnected; openconnect DTLS lines after the replay began: ${w.openconnectLines.length}` +
        `${w.openconnectLines.length > 0 ? ` (first: "${w.openconnectLines[0]}")` : ''}`,
  });
  return rows;
}
