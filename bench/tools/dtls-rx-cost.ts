/**
 * Load-independent cost of the gateway's DTLS receive path (issue 11): CPU-seconds of the
 * gateway's network process per GB uploaded over DTLS (utime+stime from /proc), and its system
 * calls per GB (strace -c -f on that process, in a separate run: strace slows everything), with
 * batched receive on and off (`dtls: { batch-receive }`). Not a test and not part of
 * `npm run bench`: a tool for before/after comparisons on a busy machine.
 *
 *   node dist/bench/tools/dtls-rx-cost.js [MB=200] [strace MB=64] [mode args for openconnect...]
 *
 * VETH_GRO=1 turns GRO on for the gateway namespace's veth (ethtool -K ... gro on; veth does no
 * GRO by default, a real NIC does): then UDP GRO trains reach the socket.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createTestbed, execIn, tcpTransfer } from '../../test/helpers/netns.js';
import { startOpenconnect } from '../../test/helpers/openconnect.js';
import { gwHost, startGateway } from '../../test/helpers/sslgate.js';
import { allProcStats, descendants, readProcStat } from '../lib/proc.js';

const MB = Number(process.argv[2] ?? 200);
const STRACE_MB = Number(process.argv[3] ?? 64);
const OC_ARGS = process.argv.slice(4);

function networkProcess(root: number): number {
  for (const pid of descendants(allProcStats(), root)) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    } catch {
      continue;
    }
    if (cmd.includes('network-process')) return pid;
  }
  throw new Error('network process not found');
}

/** strace -c -f summary -> total calls and the top entries. */
function parseStrace(text: string): { total: number; top: string[] } {
  const lines = text.split('\n');
  const total = Number(/^\s*100\.00\s+\S+\s+\S+\s+(\d+)/m.exec(text)?.[1] ?? /\s(\d+)\s+(?:\d+\s+)?total$/m.exec(text)?.[1] ?? NaN);
  const top = lines.filter((l) => /^\s*\d+\.\d+\s/.test(l) && !/total$/.test(l)).slice(0, 6).map((l) => l.trim().replace(/\s+/g, ' '));
  return { total, top };
}

async function run(batch: boolean): Promise<void> {
  const tb = await createTestbed({ tag: batch ? 'rxcost1' : 'rxcost0' });
  try {
    const net = tb.poolNet(0);
    if (process.env['VETH_GRO'] === '1') {
      const links = (await execIn(tb.gw.name, 'ip', ['-o', 'link', 'show'])).stdout;
      for (const m of links.matchAll(/^\d+: ([^:@]+)[@:]/gm)) {
        if (m[1] === 'lo') continue;
        const r = await execIn(tb.gw.name, 'ethtool', ['-K', m[1]!, 'gro', 'on']);
        console.error(`ethtool -K ${m[1]} gro on: ${r.code}`);
      }
    }
    const gw = await startGateway(tb.gw, {
      listenHost: tb.gwAddr,
      yaml: `network:\n  address: ${gwHost(net)}/24\n  routes: [${net}]\ngroups:\n  - name: Employees\ndtls: { batch-receive: ${batch} }\n`,
      users: [{ name: 'alice', password: 'secret' }],
    });
    const path = gw.logs().find((l) => l['msg'] === 'DTLS data path');
    const oc = startOpenconnect(tb.cl, { url: gw.url, servercert: gw.pin, user: 'alice', password: 'secret', authgroup: 'Employees', extraArgs: OC_ARGS });
    try {
      await oc.waitTunnel(20_000);
      const est = await oc.proc.waitForLine(/Established DTLS connection.*Ciphersuite (.*)$/, 15_000);
      const pid = networkProcess(gw.proc.pid);
      await tcpTransfer(tb.cl, tb.gw, gwHost(net), 8 << 20); // warm up (JIT, buffers)
      const before = readProcStat(pid)!.cpu;
      const up = await tcpTransfer(tb.cl, tb.gw, gwHost(net), MB << 20);
      const cpu = readProcStat(pid)!.cpu - before;
      if (up.receivedSha256 !== up.sentSha256) throw new Error('upload corrupted');
      const gb = up.bytes / 1e9;
      // syscalls: strace attached only around a second, smaller upload
      const st = spawn('strace', ['-c', '-f', '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stText = '';
      st.stderr.on('data', (d: Buffer) => (stText += d.toString()));
      await new Promise((r) => setTimeout(r, 1000));
      const up2 = await tcpTransfer(tb.cl, tb.gw, gwHost(net), STRACE_MB << 20, { timeoutMs: 600_000 });
      st.kill('SIGINT');
      await new Promise((r) => st.on('close', r));
      const s = parseStrace(stText);
      await gw.stop();
      const closed = gw.logs().find((l) => l['msg'] === 'DTLS listener closed');
      console.log(
        JSON.stringify({
          batchReceive: batch,
          path: { recvmmsg: path?.['recvmmsg'], gro: path?.['gro'], rcvbuf: path?.['rcvbuf'] },
          dtls: est[1],
          uploadedMB: up.bytes / 1e6,
          cpuSeconds: +cpu.toFixed(2),
          cpuSecondsPerGB: +(cpu / gb).toFixed(2),
          straceUploadMB: up2.bytes / 1e6,
          syscalls: s.total,
          syscallsPerGB: Math.round(s.total / (up2.bytes / 1e9)),
          topSyscalls: s.top,
          listener: closed ? { rxDatagrams: closed['rxDatagrams'], rxBatches: closed['rxBatches'], rxGroTrains: closed['rxGroTrains'], rxDropped: closed['rxDropped'] } : null,
        }),
      );
    } finally {
      await oc.stop().catch(() => undefined);
      await gw.stop().catch(() => undefined);
    }
  } finally {
    await tb.cleanup();
  }
}

execFileSync('strace', ['-V']);
for (const batch of [true, false]) await run(batch);
