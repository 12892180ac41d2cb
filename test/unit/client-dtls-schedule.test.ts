/**
 * The client's DTLS retry schedule (src/client/dtls-schedule.ts, [SEED] §6.1): a DtlsClient built
 * with dtlsRoundTimers() and driven on a fake clock by its own timerAt, with a gateway that never
 * answers, sends its ClientHello at 0 and retransmits it after 1, 2, 4, 8 and 16 s, then fails
 * with 'timeout' 16 s after the last retry (47 s) without sending anything more. Late timers
 * (an event loop that fires a few ms late) shift the attempts but not the deadline.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DTLS0_9, DtlsClient, SuiteId, createResult, type DtlsClientOptions } from '../../src/dtls/index.js';
import { DTLS_ATTEMPTS, DTLS_RETRY_LATER_MS, DTLS_ROUND_MS, dtlsRoundTimers, plannedAttemptOffsetMs } from '../../src/client/dtls-schedule.js';

interface Run {
  sends: number[];
  failedAt: number | null;
  reason: string | null;
}

function run(opts: DtlsClientOptions, lateMs = 0): Run {
  const ep = new DtlsClient(opts);
  const out: Run = { sends: [], failedAt: null, reason: null };
  let r = ep.start(0);
  let now = 0;
  for (let i = 0; i < 100; i++) {
    for (const _ of r.send) out.sends.push(now);
    const failed = r.events.find((e) => e.type === 'failed');
    if (failed && failed.type === 'failed') {
      out.failedAt = now;
      out.reason = failed.reason;
      break;
    }
    if (r.timerAt === null) break;
    now = r.timerAt + lateMs;
    r = ep.onTimer(now, createResult());
  }
  return out;
}

const PSK: DtlsClientOptions = { role: 'client', mode: 'psk', psk: Buffer.alloc(32, 1), appId: Buffer.alloc(32, 2), ...dtlsRoundTimers() };
const RESUME: DtlsClientOptions = {
  role: 'client',
  mode: 'resume',
  version: DTLS0_9,
  suite: SuiteId.TLS_RSA_WITH_AES_128_CBC_SHA,
  sessionId: Buffer.alloc(32, 3),
  masterSecret: Buffer.alloc(48, 4),
  ...dtlsRoundTimers(),
};

test('the round: ClientHello at 0, retries at +1, +3, +7, +15, +31 s, failure at 47 s', () => {
  for (const opts of [PSK, RESUME]) {
    const r = run(opts);
    assert.deepEqual(r.sends, [0, 1000, 3000, 7000, 15000, 31000], opts.mode);
    assert.equal(r.sends.length, DTLS_ATTEMPTS);
    assert.equal(r.failedAt, 47000);
    assert.equal(r.reason, 'timeout');
  }
});

test('gaps between attempts are 1, 2, 4, 8, 16 s; the planned offsets say the same', () => {
  const r = run(PSK);
  assert.deepEqual(r.sends.slice(1).map((t, i) => t - r.sends[i]!), [1000, 2000, 4000, 8000, 16000]);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(plannedAttemptOffsetMs), r.sends);
  assert.equal(DTLS_ROUND_MS, 47000);
  assert.equal(DTLS_RETRY_LATER_MS, 60000);
});

test('late timers: each gap is measured from the actual previous attempt; the deadline stays at 47 s', () => {
  const r = run(PSK, 3);
  assert.deepEqual(r.sends, [0, 1003, 3006, 7009, 15012, 31015]);
  assert.equal(r.failedAt, 47000 + 3);
});
