/**
 * Where a DTLS upload through ocserv loses datagrams (issue 11: our client's uploads against
 * ocserv): our client and openconnect in turn, each in its own lab pinned as `npm run bench` pins
 * (clients on one CPU, ocserv and the iperf3 server on the other), an iperf3 upload per run, and
 * per run the kernel's counters on both sides: the gateway namespace's UDP receive-buffer drops
 * (ocserv's socket), the client namespace's UDP send-buffer errors, the TUN drops of both ends,
 * and iperf3's TCP retransmissions. Our client also runs with the env variants given (for
 * example SSLGATE_UDP_GSO=0). Not a test and not part of `npm run bench`: a diagnostic.
 *
 *   node dist/bench/tools/client-upload-drops.js [mode=dtls-psk] [runs=3] [seconds=5] [VAR=VALUE,...] ...
 */
import { makeBenchPki } from '../peers/pki.js';
import { makeContext } from '../context.js';
import { parseOptions } from '../options.js';
import { choosePinning, pinPid } from '../lib/pinning.js';
import { MODES } from '../modes.js';
import { startLab, type Lab } from '../peers/lab.js';
import { connectOpenconnect, connectSslgateClient, sslgateClientArgs, type TunnelClient } from '../peers/clients.js';
import { runIperf, startIperfServer } from '../peers/iperf.js';
import type { Ns } from '../../test/helpers/netns.js';
import { readUdpCounters } from '../peers/udp-counters.js';

const modeId = process.argv[2] ?? 'dtls-psk';
const RUNS = Number(process.argv[3] ?? 3);
const SECONDS = Number(process.argv[4] ?? 5);
const VARIANTS: Array<Record<string, string>> = [{}, ...process.argv.slice(5).map((v) => Object.fromEntries(v.split(',').map((kv) => kv.split('=') as [string, string])))];

/** Sum of tx_dropped + rx_dropped of every tun-type interface in `ns` (ip -s -j link). */
async function tunDrops(ns: Ns): Promise<number> {
  const r = await ns.exec('ip', ['-s', '-j', 'link']);
  const links = JSON.parse(r.stdout) as Array<{ ifname: string; link_type: string; stats64?: { rx: { dropped: number }; tx: { dropped: number } } }>;
  return links.filter((l) => l.link_type === 'none').reduce((s, l) => s + (l.stats64?.rx.dropped ?? 0) + (l.stats64?.tx.dropped ?? 0), 0);
}

async function main(): Promise<void> {
  const mode = MODES.find((m) => m.id === modeId);
  if (!mode) throw new Error(`unknown mode ${modeId}`);
  const opts = parseOptions([]);
  if (opts === 'help') return;
  const pinning = choosePinning(true);
  pinPid(process.pid, pinning.client);
  const ctx = makeContext(opts, pinning, await makeBenchPki());
  const labs: Lab[] = [];
  try {
    const sides: Array<{ label: string; lab: Lab; connect: () => Promise<TunnelClient> }> = [];
    const ocLab = await startLab(ctx, 'ocserv', { tag: 'cudoc', mode });
    labs.push(ocLab);
    sides.push({ label: 'openconnect', lab: ocLab, connect: () => connectOpenconnect(ocLab.tb.cl, ocLab.login, mode.openconnectArgs, mode.dtls) });
    for (const env of VARIANTS) {
      const lab = await startLab(ctx, 'ocserv', { tag: `cudsg${sides.length}`, mode });
      labs.push(lab);
      const a = sslgateClientArgs(mode.sslgateClientArgs, true);
      if (!('args' in a)) throw new Error(`our client lacks ${a.missing}`);
      const label = `sslgate ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ') || '(default)'}`;
      sides.push({
        label,
        lab,
        connect: async () => {
          const saved = { ...process.env };
          Object.assign(process.env, env); // the client inherits the bench's environment
          try {
            return await connectSslgateClient(lab.tb.cl, lab.login, a.args, { dtls: mode.sslgateClientDtls });
          } finally {
            for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
            else process.env[k] = saved[k];
          }
        },
      });
    }
    const clients = new Map<string, TunnelClient>();
    for (const s of sides) {
      await startIperfServer(s.lab.tb.gw, pinning.gateway, 5201);
      clients.set(s.label, await s.connect());
    }
    for (let run = 1; run <= RUNS; run++) {
      for (let k = 0; k < sides.length; k++) {
        const s = sides[(k + run) % sides.length]!;
        const [g0, c0, gt0, ct0] = [await readUdpCounters(s.lab.tb.gw), await readUdpCounters(s.lab.tb.cl), await tunDrops(s.lab.tb.gw), await tunDrops(s.lab.tb.cl)];
        const r = await runIperf(s.lab.tb.cl, s.lab.login.tunAddr, 5201, 'up', SECONDS, 1, pinning.client);
        const [g1, c1, gt1, ct1] = [await readUdpCounters(s.lab.tb.gw), await readUdpCounters(s.lab.tb.cl), await tunDrops(s.lab.tb.gw), await tunDrops(s.lab.tb.cl)];
        const d = (a: Record<string, number>, b: Record<string, number>, k2: string): number => (b[k2] ?? 0) - (a[k2] ?? 0);
        ctx.log(
          `${s.label.padEnd(28)} run ${run}: ${r.gbps.toFixed(3)} Gbit/s, retransmits ${r.retransmits}; ` +
            `gateway UDP in ${d(g0, g1, 'InDatagrams')} rcvbuf-drops ${d(g0, g1, 'RcvbufErrors')} in-errors ${d(g0, g1, 'InErrors')}; ` +
            `client UDP out ${d(c0, c1, 'OutDatagrams')} sndbuf-errors ${d(c0, c1, 'SndbufErrors')}; TUN drops gateway ${gt1 - gt0} client ${ct1 - ct0}`,
        );
      }
    }
    for (const c of clients.values()) await c.stop().catch(() => undefined);
  } finally {
    for (const l of labs) await l.close().catch(() => undefined);
  }
}

await main();
