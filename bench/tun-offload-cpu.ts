/**
 * Load-independent measure of the TUN offloads (issue 11): the gateway network process's
 * CPU-seconds (utime+stime from /proc/PID/stat) per GB of TCP download (gateway -> openconnect),
 * and, in a second pass under `strace -c -f`, its syscalls per GB — offloads on vs off, DTLS and
 * TLS. Wall-clock numbers are printed but mean little on a shared machine.
 *
 *   node dist/bench/tun-offload-cpu.js [MB=256] [strace MB=64]     (as root)
 *   env: TUN_OFFLOAD_CPU_ONLY=tls|dtls,on|off   TUN_OFFLOAD_CPU_TRACE=1   TUN_OFFLOAD_CPU_PERF=<folder>
 */
import { readFileSync } from 'node:fs';
import { createTestbed, tcpTransfer, tempDir, type Testbed } from '../test/helpers/netns.js';
import { startOpenconnect, type OpenconnectClient } from '../test/helpers/openconnect.js';
import { gwHost, startGateway, type SslgateGateway } from '../test/helpers/sslgate.js';

const MB = Number(process.argv[2] ?? 256);
const STRACE_MB = Number(process.argv[3] ?? 64);
const TICK = 100; // USER_HZ on Linux

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields 14 and 15 of stat(5) are utime and stime; f[0] is field 3
  return (Number(f[11]) + Number(f[12])) / TICK;
}

/** strace -c summary: total calls and the top rows. */
function parseStrace(text: string): { total: number; rows: Array<[string, number]> } {
  const rows: Array<[string, number]> = [];
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\S+)\s*$/.exec(line);
    if (!m) continue;
    if (m[2] === 'total') total = Number(m[1]);
    else rows.push([m[2]!, Number(m[1])]);
  }
  rows.sort((a, b) => b[1] - a[1]);
  return { total, rows: rows.slice(0, 8) };
}

async function run(tb: Testbed, offload: boolean, dtls: boolean): Promise<void> {
  const net = tb.poolNet(0);
  let gw: SslgateGateway | undefined;
  let oc: OpenconnectClient | undefined;
  try {
    gw = await startGateway(tb.gw, {
      listenHost: tb.gwAddr,
      yaml: `network:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\n`,
      users: [{ name: 'alice', password: 'secret' }],
      tunOffload: offload,
    });
    const pid = Number(/network (\d+)/.exec(gw.proc.lines.map((l) => l.text).join('\n'))?.[1]);
    oc = startOpenconnect(tb.cl, { url: gw.url, servercert: gw.pin, user: 'alice', password: 'secret', authgroup: 'Employees', noDtls: !dtls });
    const tun = await oc.waitTunnel(20_000);
    if (dtls) await oc.proc.waitForLine(/Established DTLS connection/, 15_000);
    while (!(await tb.cl.ping(gwHost(net), { count: 1, timeoutMs: 3000 })));
    await tcpTransfer(tb.gw, tb.cl, tun.address, 8 << 20); // warm-up (JIT)

    // TUN_OFFLOAD_CPU_PERF=<folder>: `perf record -g` of the network process during this pass.
    const perfDir = process.env['TUN_OFFLOAD_CPU_PERF'];
    const perf = perfDir
      ? tb.gw.spawn('perf', ['record', '-F', '1999', '-g', '-o', `${perfDir}/${dtls ? 'dtls' : 'tls'}-${offload ? 'on' : 'off'}.data`, '-p', String(pid)], { label: 'perf' })
      : null;
    const c0 = cpuSeconds(pid);
    const r = await tcpTransfer(tb.gw, tb.cl, tun.address, MB << 20, { timeoutMs: 600_000 });
    const cpu = cpuSeconds(pid) - c0;
    await perf?.stop('SIGINT', 10_000);
    if (r.receivedSha256 !== r.sentSha256) throw new Error('transfer corrupted');
    const gb = r.bytes / 1e9;

    const out = `${tempDir('sg-strace-')}/strace.txt`;
    const st = tb.gw.spawn('strace', ['-c', '-f', '-o', out, '-p', String(pid)], { label: 'strace' });
    await new Promise((res) => setTimeout(res, 1000));
    const r2 = await tcpTransfer(tb.gw, tb.cl, tun.address, STRACE_MB << 20, { timeoutMs: 600_000 });
    await st.stop('SIGINT', 5000);
    const s = parseStrace(readFileSync(out, 'utf8'));
    const gb2 = r2.bytes / 1e9;
    console.log(JSON.stringify({
      offload, channel: dtls ? 'DTLS' : 'TLS', MB,
      cpuSecondsPerGB: +(cpu / gb).toFixed(2), wallMbitPerS: +((r.bytes * 8) / r.ms / 1000).toFixed(0),
      syscallsPerGB: Math.round(s.total / gb2), top: s.rows.map(([n, c]) => `${n}:${Math.round(c / gb2)}`).join(' '),
    }));
    if (process.env['TUN_OFFLOAD_CPU_TRACE'] === '1') await traceWrites(tb, pid, tun.address);
  } finally {
    await oc?.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
  }
}

/**
 * TUN_OFFLOAD_CPU_TRACE=1: which writes the network process makes during a 16 MB download, per fd
 * (the TUN or a client's TLS socket): calls and bytes per call, from `strace -e write,writev`.
 */
async function traceWrites(tb: Testbed, pid: number, addr: string): Promise<void> {
  const out = `${tempDir('sg-strace-')}/writes.txt`;
  const st = tb.gw.spawn('strace', ['-f', '-e', 'trace=write,writev', '-o', out, '-p', String(pid)], { label: 'strace' });
  await new Promise((res) => setTimeout(res, 1000));
  const r = await tcpTransfer(tb.gw, tb.cl, addr, 16 << 20, { timeoutMs: 600_000 });
  await st.stop('SIGINT', 5000);
  const byFd = new Map<string, { calls: number; bytes: number }>();
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    const m = /(writev?)\((\d+),.*\)\s+=\s+(\d+)/.exec(line);
    if (!m) continue;
    const k = `${m[1]}(fd ${m[2]})`;
    const e = byFd.get(k) ?? { calls: 0, bytes: 0 };
    e.calls++;
    e.bytes += Number(m[3]);
    byFd.set(k, e);
  }
  const mb = r.bytes / 1e6;
  console.log(JSON.stringify({ traceMB: +mb.toFixed(1), writes: [...byFd].map(([k, e]) => `${k}: ${e.calls} calls (${Math.round(e.calls / mb)}/MB), ${Math.round(e.bytes / e.calls)} B/call`) }));
}

const tb = await createTestbed({ tag: 'tunbench' });
try {
  // TUN_OFFLOAD_CPU_ONLY=tls|dtls and =on|off narrow the runs (comma-separated), e.g. "tls,on".
  const only = (process.env['TUN_OFFLOAD_CPU_ONLY'] ?? '').split(',').filter(Boolean);
  const wanted = (x: string, group: string[]): boolean => !only.some((o) => group.includes(o)) || only.includes(x);
  for (const dtls of [true, false]) for (const offload of [false, true]) {
    if (wanted(dtls ? 'dtls' : 'tls', ['dtls', 'tls']) && wanted(offload ? 'on' : 'off', ['on', 'off'])) await run(tb, offload, dtls);
  }
} finally {
  await tb.cleanup();
}
process.exit(0);
