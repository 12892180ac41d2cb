/**
 * The benchmark's gateway-efficiency figures (issue 11): CPU-seconds from /proc stat lines, CPU
 * per GB, fraction of the plain-veth ceiling, 2-core ÷ 1-core scaling, the machine-load note, and
 * how the table shows them. Pure code; the measurements themselves run in `npm run bench`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesMoved, cpuSecondsPerGB, fractionOf, pairedScaling, parseTunCounters, percentText } from '../../bench/lib/efficiency.js';
import { countSamples, loadNote, runLoad } from '../../bench/lib/load.js';
import { coreLists } from '../../bench/lib/pinning.js';
import { parseUdpSnmp } from '../../bench/peers/udp-counters.js';
import { cpuBetween, cpuByProcess, parseLoadavg, parsePerCpuBusy, perCpuBusyShare, parseProcStat, type ProcStat } from '../../bench/lib/proc.js';
import { summarizeRow, type Row, type Sample } from '../../bench/lib/results.js';
import { renderTable } from '../../bench/lib/table.js';
import { parseOptions } from '../../bench/options.js';
import type { Disturbance } from '../../bench/lib/disturbance.js';

/** A /proc/PID/stat line as Linux 6.x prints it, with the fields we read set. */
function statLine(o: { pid: number; comm: string; ppid?: number; flags?: number; utime: number; stime: number; cutime?: number; cstime?: number; start: number }): string {
  // fields 3..52 after "pid (comm) "; index = field number - 3
  const f: Array<string | number> = ['S', o.ppid ?? 1, 100, 100, 0, -1, o.flags ?? 4194560, 10, 0, 0, 0, o.utime, o.stime, o.cutime ?? 0, o.cstime ?? 0, 20, 0, 3, 0, o.start];
  while (f.length < 50) f.push(0);
  return `${o.pid} (${o.comm}) ${f.join(' ')}\n`;
}

test('parseProcStat: utime+stime and cutime+cstime in seconds, start time, odd comm names', () => {
  const s = parseProcStat(4242, statLine({ pid: 4242, comm: 'ocserv-worker', utime: 250, stime: 150, cutime: 7, cstime: 3, start: 987654 }), 100);
  assert.ok(s);
  assert.equal(s.comm, 'ocserv-worker');
  assert.equal(s.cpu, 4);
  assert.equal(s.childCpu, 0.1);
  assert.equal(s.startTicks, 987654);
  assert.equal(s.kernel, false);
  // comm may hold spaces and ')': the fields start after the last ')'.
  const odd = parseProcStat(7, statLine({ pid: 7, comm: 'a) (b c', utime: 1, stime: 2, start: 5 }), 100);
  assert.equal(odd?.comm, 'a) (b c');
  assert.equal(odd?.cpu, 0.03);
  // another clock tick rate
  assert.equal(parseProcStat(7, statLine({ pid: 7, comm: 'x', utime: 1000, stime: 0, start: 5 }), 1000)?.cpu, 1);
  // a kernel thread: kthreadd's child, or PF_KTHREAD in flags
  assert.equal(parseProcStat(9, statLine({ pid: 9, comm: 'kworker/1:0', ppid: 2, utime: 0, stime: 0, start: 1 }), 100)?.kernel, true);
  assert.equal(parseProcStat(9, statLine({ pid: 9, comm: 'k', flags: 0x00200040, utime: 0, stime: 0, start: 1 }), 100)?.kernel, true);
  // a real line from this kind of machine
  const real = parseProcStat(12777, '12777 (cat) R 12774 12774 4813 0 -1 4194304 100 0 0 0 3 2 0 0 20 0 1 0 1284119 3133440 393 18446744073709551615 94760076304384 94760076324265 140733980257520 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94760076340272 94760076341888 94760390787072 140733980260894 140733980260914 140733980260914 140733980262379 0\n', 100);
  assert.deepEqual(real, { pid: 12777, ppid: 12774, comm: 'cat', cpu: 0.05, childCpu: 0, startTicks: 1284119, kernel: false });
  assert.equal(parseProcStat(1, 'garbage', 100), null);
  assert.equal(parseProcStat(1, '1 (init) S 0', 100), null, 'truncated');
});

function snap(list: Array<[number, number, number, number?]>): Map<number, ProcStat> {
  // [pid, cpu, start, childCpu]
  return new Map(list.map(([pid, cpu, start, childCpu = 0]) => [pid, { pid, ppid: 1, comm: 'p', cpu, childCpu, startTicks: start, kernel: false }]));
}

test('cpuBetween: differences of processes seen twice, all of a new one, nothing of a gone one, reused pid counted as new', () => {
  const before = snap([[10, 5, 100], [11, 1, 100], [12, 3, 100]]);
  const after = snap([
    [10, 7.5, 100], // +2.5
    [11, 1, 100, 0.75], // reaped a child: +0.75
    // 12 gone
    [13, 0.5, 200], // born in between: +0.5
  ]);
  assert.equal(cpuBetween(before, after), 3.75);
  // pid 12 reused by another process with a lower total: its whole CPU, never a negative
  assert.equal(cpuBetween(before, snap([[12, 0.2, 300]])), 0.2);
  assert.equal(cpuBetween(before, new Map()), 0);
});

test('cpuByProcess: the same seconds as cpuBetween, process by process, busiest first', () => {
  const before = snap([[10, 5, 100], [11, 1, 100]]);
  const after = snap([[10, 5.5, 100], [11, 3, 100], [13, 0.25, 200]]);
  const per = cpuByProcess(before, after);
  assert.deepEqual(per.map((p) => [p.pid, p.cpu]), [[11, 2], [10, 0.5], [13, 0.25]]);
  assert.equal(per.reduce((a, p) => a + p.cpu, 0), cpuBetween(before, after));
  assert.deepEqual(cpuByProcess(before, new Map()), []);
});

test('per-CPU busy seconds from /proc/stat and their share over a run; garbage gives nothing', () => {
  const text = 'cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 100 5 50 900 3 0 20 7 0 0\ncpu1 200 0 100 700 0 10 40 0 0 0\nintr 1 2 3\n';
  assert.deepEqual(parsePerCpuBusy(text, 100), [1.75, 3.5]);
  assert.deepEqual(parsePerCpuBusy('garbage\ncpuX 1 2\n', 100), []);
  assert.deepEqual(parsePerCpuBusy('', 100), []);
  // 2 s apart: CPU 0 busy 1.9 s (0.95), CPU 1 more than the wall (clamped to 1), CPU 2 new (0).
  assert.deepEqual(perCpuBusyShare([10, 20], [11.9, 22.5, 4], 2), [0.95, 1, 0]);
  assert.deepEqual(perCpuBusyShare([1], [2], 0), [], 'no wall time: no shares');
});

test('parseUdpSnmp: the Udp: lines of /proc/net/snmp by name; garbage gives null', () => {
  const text = 'Ip: Forwarding DefaultTTL\nIp: 1 64\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 1000 2 30 900 28 0\nUdpLite: InDatagrams\nUdpLite: 0\n';
  assert.deepEqual(parseUdpSnmp(text), { InDatagrams: 1000, NoPorts: 2, InErrors: 30, OutDatagrams: 900, RcvbufErrors: 28, SndbufErrors: 0 });
  assert.equal(parseUdpSnmp(''), null);
  assert.equal(parseUdpSnmp('Udp: InDatagrams NoPorts\n'), null, 'no value line');
  assert.equal(parseUdpSnmp('Udp: InDatagrams NoPorts\nUdp: 1\n'), null, 'fewer values than names');
  assert.equal(parseUdpSnmp('Udp: InDatagrams\nUdp: x\n'), null, 'not a number');
});

test('CPU-seconds per GB, bytes from TUN counters, fraction of the ceiling', () => {
  assert.equal(cpuSecondsPerGB(3, 1.5e9), 2);
  assert.equal(cpuSecondsPerGB(0, 1e9), 0);
  assert.equal(cpuSecondsPerGB(1, 0), null, 'nothing moved: no figure, not Infinity');
  assert.equal(cpuSecondsPerGB(Number.NaN, 1e9), null);
  const c0 = parseTunCounters('1000\n5000\n');
  const c1 = parseTunCounters('1500\n905000\n');
  assert.deepEqual(c0, { rx: 1000, tx: 5000 });
  assert.ok(c0 && c1);
  assert.equal(bytesMoved(c0, c1, 'up'), 900_000, 'up = what the client sent into its TUN');
  assert.equal(bytesMoved(c0, c1, 'down'), 500);
  assert.equal(parseTunCounters('12\n'), null);
  assert.equal(parseTunCounters('cat: no such file'), null);
  assert.equal(fractionOf(0.5, 4), 0.125);
  assert.equal(fractionOf(0.5, null), null);
  assert.equal(fractionOf(0.5, 0), null);
  assert.equal(percentText(0.125), '13%');
  assert.equal(percentText(0.034), '3.4%');
  assert.equal(percentText(null), '–');
});

test('scaling: 2-core ÷ 1-core paired by run, runs missing a side left out', () => {
  assert.deepEqual(pairedScaling([2, 3, undefined, 4], [1, 2, 1, 0]), [
    { run: 0, value: 2 },
    { run: 1, value: 1.5 },
  ]);
  assert.deepEqual(pairedScaling([], [1]), []);
  assert.deepEqual(coreLists(2), { one: '1', two: '0,1', all: '0-1' });
  assert.deepEqual(coreLists(8), { one: '7', two: '6,7', all: '0-7' });
  assert.equal(coreLists(1).two, null);
});

const calm: Disturbance = { seconds: 6, outside: 0.01, steal: 0, disturbed: false, top: [] };
const busy: Disturbance = { seconds: 6, outside: 0.9, steal: 0.1, disturbed: true, top: [{ pid: 5, comm: 'cc1', cores: 0.9 }] };
// Each measured run has its own disturbance record (as DisturbanceMonitor.stop makes one per run).
const sample = (value: number, d: Disturbance = calm): Sample => ({ value, attempts: 1, disturbance: { ...d } });

function row(o: Partial<Omit<Row, 'ours' | 'ref'>> & { ours: number[]; ref: number[] }): Row {
  const { ours, ref, ...rest } = o;
  return {
    id: 'r',
    item: 1,
    title: 't',
    unit: 'Gbit/s',
    ours: { label: 'sslgate', status: 'ok', samples: ours.map((v) => sample(v)) },
    ref: { label: 'ocserv', status: 'ok', samples: ref.map((v) => sample(v)) },
    ...rest,
  };
}

test('CPU per GB rows: the ratio is reference ÷ ours and the issue\'s goal reads on it', () => {
  // ocserv 12 CPU-s/GB, ours 6: ours twice as efficient → 2.00×, goal ≥ 1.5 met
  const r = row({ ours: [6, 5, 7], ref: [12, 11, 13], unit: 'CPU-s/GB', lowerIsBetter: true, goal: { kind: 'ratio-min', value: 1.5 } });
  const s = summarizeRow(r);
  assert.equal(s.ratio, 2);
  assert.equal(s.met, true);
  assert.equal(summarizeRow({ ...r, ours: { ...r.ours, samples: [sample(10)] } }).met, false, '12 / 10 = 1.2 < 1.5');
  const t = renderTable([r]).text;
  assert.match(t, /2\.00× \(ref÷ours\)/);
  assert.match(t, /reference ÷ ours/);
  // an ordinary row keeps ours ÷ reference
  assert.equal(summarizeRow(row({ ours: [1], ref: [4] })).ratio, 0.25);
});

test('throughput rows show their share of the plain-veth ceiling; the ceiling row has no reference', () => {
  const ceiling = { value: null as number | null };
  const tput = row({ ours: [0.5], ref: [1], ceiling });
  const veth = row({ id: 'veth-ceiling-up', title: 'plain veth', ours: [4], ref: [], refless: true });
  veth.ref = { label: '–', status: 'ok', samples: [] };
  // The rows hold the ceiling object and see the median filled in after every mode ran.
  ceiling.value = 4;
  const s = summarizeRow(tput);
  assert.equal(s.oursOfCeiling, 0.125);
  assert.equal(s.refOfCeiling, 0.25);
  assert.equal(summarizeRow(veth).ratio, null);
  const t = renderTable([veth, tput]).text;
  assert.match(t, /0\.500 Gbit\/s, 13% of veth/);
  assert.match(t, /1 Gbit\/s, 25% of veth/);
  assert.match(t, /plain veth \(sslgate\) +4 Gbit\/s +– +– /);
  assert.match(t, /% of veth" = /);
  // no ceiling measured: no share shown
  assert.doesNotMatch(renderTable([row({ ours: [0.5], ref: [1], ceiling: { value: null } })]).text, /of veth,|of veth$/m);
});

test('machine load: load averages, outside CPU over the run, each run counted once', () => {
  assert.deepEqual(parseLoadavg('9.19 9.63 6.39 8/236 12782\n'), { one: 9.19, five: 9.63, fifteen: 6.39 });
  assert.equal(parseLoadavg(''), null);
  const shared = sample(1, busy);
  const a = row({ ours: [], ref: [] });
  a.ours.samples = [shared, sample(2)];
  a.ref.samples = [sample(3)];
  // the CPU row shows the same runs again (copies of the samples sharing their disturbance)
  const b = row({ ours: [], ref: [] });
  b.ours.samples = [{ ...shared, value: 9 }];
  assert.deepEqual(countSamples([a, b]), { samples: 3, disturbed: 1 });
  const l = runLoad({ one: 1, five: 0.5, fifteen: 0.25 }, null, busy, [a, b]);
  assert.equal(l.outsideCores, 0.9);
  const note = loadNote(l);
  assert.match(note, /loadavg 1\.00 0\.50 0\.25 at start, \? at end/);
  assert.match(note, /other processes used 0\.90 cores on average over the run \(busiest: cc1 0\.90\), steal 0\.10/);
  assert.match(note, /1 of 3 runs still disturbed/);
});

test('options: multicore item, --clients, --multi-mode', () => {
  const d = parseOptions([]);
  assert.ok(d !== 'help');
  assert.ok(d.only.has('multicore'));
  assert.equal(d.clients, 4);
  assert.equal(d.multiMode, 'dtls-psk');
  const q = parseOptions(['--quick']);
  assert.ok(q !== 'help' && q.clients === 2 && q.only.has('multicore'));
  const o = parseOptions(['--clients', '3', '--multi-mode', 'tls']);
  assert.ok(o !== 'help' && o.clients === 3 && o.multiMode === 'tls');
  assert.throws(() => parseOptions(['--multi-mode', 'tls,dtls-psk']), /expected one mode/);
  assert.throws(() => parseOptions(['--multi-mode', 'quic']), /unknown quic/);
  assert.throws(() => parseOptions(['--clients', '0']), /whole number/);
});
