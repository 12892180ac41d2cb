/**
 * The benchmark suite's pure parts: the load generator's ICMP packets, the statistics, goal
 * checks and option defaults. (The suite itself runs with `npm run bench`; CI runs `--quick`.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { echoRequest, inetChecksum, parseEchoReply } from '../../bench/loadgen/icmp.js';
import { summarize, fmt } from '../../bench/lib/stats.js';
import { summarizeRow, type Row, type Sample } from '../../bench/lib/results.js';
import { renderTable } from '../../bench/lib/table.js';
import { parseOptions } from '../../bench/options.js';
import { parseIpv4 } from '../../src/protocol/ipv4.js';

const src = parseIpv4('10.200.0.2')!;
const dst = parseIpv4('10.200.0.1')!;

test('echo request: valid IPv4 and ICMP checksums, fields where a kernel expects them', () => {
  const p = echoRequest(src, dst, 0x1234, 7);
  assert.equal(p.length, 84); // 20 + 8 + 56, as ping sends
  assert.equal(p[0], 0x45);
  assert.equal(p.readUInt16BE(2), 84);
  assert.equal(p[9], 1);
  assert.equal(inetChecksum(p, 0, 20), 0, 'IP header checksum');
  assert.equal(inetChecksum(p, 20, p.length), 0, 'ICMP checksum');
  assert.equal(p[20], 8);
  assert.equal(p.readUInt16BE(24), 0x1234);
  assert.equal(p.readUInt16BE(26), 7);
  assert.equal(p.readUInt32BE(12), src);
  assert.equal(p.readUInt32BE(16), dst);
  assert.equal(parseEchoReply(p, 0, p.length), null, 'a request is not a reply');
});

test('echo reply: parsed from a frame view, other packets ignored', () => {
  // The kernel's answer: addresses swapped, type 0.
  const r = echoRequest(dst, src, 42, 9);
  r[20] = 0;
  const framed = Buffer.concat([Buffer.alloc(8), r]);
  assert.deepEqual(parseEchoReply(framed, 8, framed.length), { src: dst, dst: src, id: 42, seq: 9 });
  const udp = Buffer.from(r);
  udp[9] = 17;
  assert.equal(parseEchoReply(udp, 0, udp.length), null);
  assert.equal(parseEchoReply(r, 0, 20), null, 'truncated');
});

test('summarize: min / median / max, even and odd counts', () => {
  assert.deepEqual(summarize([3, 1, 2]), { n: 3, min: 1, median: 2, max: 3 });
  assert.deepEqual(summarize([4, 1, 3, 2]), { n: 4, min: 1, median: 2.5, max: 4 });
  assert.equal(summarize([]), null);
  assert.equal(fmt(10000), '10000');
  assert.equal(fmt(0.7812), '0.781');
  assert.equal(fmt(84.26), '84.3');
});

const sample = (value: number, disturbed = false): Sample => ({
  value,
  attempts: 1,
  disturbance: { seconds: 1, outside: disturbed ? 0.5 : 0, steal: 0, disturbed, top: [] },
});

function row(ours: number[], ref: number[], goal: Row['goal']): Row {
  return {
    id: 'x',
    item: 1,
    title: 't',
    unit: 'Gbit/s',
    ours: { label: 'a', status: 'ok', samples: ours.map((v) => sample(v)) },
    ref: { label: 'b', status: 'ok', samples: ref.map((v) => sample(v)) },
    ...(goal ? { goal } : {}),
  };
}

test('goals: ratio of medians against ≥ / ≤, absolute limits, n/a sides', () => {
  assert.equal(summarizeRow(row([1.6, 1.5, 1.7], [1, 1, 1], { kind: 'ratio-min', value: 1.5 })).met, true);
  assert.equal(summarizeRow(row([1.4], [1], { kind: 'ratio-min', value: 1.5 })).met, false);
  assert.equal(summarizeRow(row([90], [100], { kind: 'ratio-max', value: 1.0 })).met, true);
  assert.equal(summarizeRow(row([81], [800], { kind: 'abs-max', value: 80 })).met, false);
  const na = row([], [1], { kind: 'ratio-min', value: 1.2 });
  na.ours = { label: 'a', status: 'n/a', reason: 'not implemented', samples: [] };
  const s = summarizeRow(na);
  assert.equal(s.ratio, null);
  assert.equal(s.met, null);
  const t = renderTable([na]).text;
  assert.match(t, /n\/a/);
  assert.match(t, /not implemented/);
});

test('options: --quick is small, one run, TLS only, no repeats', () => {
  const q = parseOptions(['--quick']);
  assert.notEqual(q, 'help');
  if (q === 'help') return;
  assert.equal(q.runs, 1);
  assert.equal(q.retries, 0);
  assert.deepEqual(q.modes, ['tls']);
  assert.ok(q.sessions <= 100);
  const full = parseOptions(['--only', 'sessions,handshakes', '--runs', '5']);
  assert.ok(full !== 'help' && full.runs === 5 && full.sessions === 10_000 && [...full.only].join() === 'sessions,handshakes');
  assert.throws(() => parseOptions(['--only', 'speed']), /unknown speed/);
});
