/**
 * Item 5: handshake rate. The load generator runs `rateConcurrency` sessions back to back (TLS,
 * init, login, CONNECT, then DISCONNECT) for `rateSeconds`; the gateway is pinned to one CPU and
 * its CPU time over the window (processes and the children they reaped: ocserv's workers) gives
 * handshakes per gateway CPU-second, the "equal CPU" comparison of the goal.
 *
 * "Full auth" means the password is checked for real on every login, as ocserv does (SHA-512
 * crypt, ~2.6 ms here). Our gateway remembers recently verified passwords (auth.cache-seconds),
 * and the load generator logs in as one user again and again, so it runs three ways:
 *   sslgate            cache off, default scrypt (N=16384, ~55 ms): every login a full KDF — the goal row
 *   sslgate, cached    the default config: every login after the first is a cache hit
 *   sslgate, light KDF cache off, scrypt N=1024 (~3.4 ms, about ocserv's crypt): the rest of the cost
 */
import type { BenchContext } from '../context.js';
import { BENCH_USER } from '../context.js';
import { failed, newSide, notAvailable, type Row, type Side } from '../lib/results.js';
import { groupCpu } from '../lib/proc.js';
import { LoadGen } from '../loadgen/driver.js';
import { startLab, type GatewayKind, type Lab } from '../peers/lab.js';
import { parseIpv4 } from '../../src/protocol/ipv4.js';
import { LOADGEN_UA } from './sessions.js';

interface Setup {
  key: 'ocserv' | 'sslgate' | 'sslgate-cached' | 'sslgate-light';
  kind: GatewayKind;
  kdf: 'default' | 'light';
  cache: boolean;
  /** namespace name part */
  tag: string;
  lab?: Lab;
  lg?: LoadGen;
  perCpu: Side;
  rate: Side;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function handshakesItem(ctx: BenchContext): Promise<Row[]> {
  const { opts } = ctx;
  const setups: Setup[] = [
    { key: 'ocserv', kind: 'ocserv', kdf: 'default', cache: false, tag: 'oc', perCpu: newSide('ocserv'), rate: newSide('ocserv') },
    { key: 'sslgate', kind: 'sslgate', kdf: 'default', cache: false, tag: 'sg', perCpu: newSide('sslgate'), rate: newSide('sslgate') },
    { key: 'sslgate-cached', kind: 'sslgate', kdf: 'default', cache: true, tag: 'sgcache', perCpu: newSide('sslgate, credential cache'), rate: newSide('sslgate, credential cache') },
    { key: 'sslgate-light', kind: 'sslgate', kdf: 'light', cache: false, tag: 'sglight', perCpu: newSide('sslgate, light KDF'), rate: newSide('sslgate, light KDF') },
  ];
  // The smoke run keeps to the goal row's pair; the variants use the same code paths.
  if (opts.quick) for (const s of setups.slice(2)) for (const side of [s.perCpu, s.rate]) notAvailable(side, 'not run with --quick');
  try {
    for (const s of setups.filter((x) => x.perCpu.status === 'ok')) {
      try {
        // Sessions end right after CONNECT, but ocserv's workers take a moment to go: room for them.
        s.lab = await startLab(ctx, s.kind, {
          tag: `bhs${s.tag}`,
          wide: true,
          maxClients: 4096,
          kdf: s.kdf,
          ...(s.kind === 'sslgate' && !s.cache ? { credentialCache: false } : {}),
        });
        s.lg = await LoadGen.start(s.lab.tb.cl, {
          host: s.lab.tb.gwAddr,
          port: 443,
          user: BENCH_USER.user,
          password: BENCH_USER.password,
          group: BENCH_USER.group,
          userAgent: LOADGEN_UA,
          echoTo: parseIpv4(s.lab.login.tunAddr)!,
        });
        // Warm-up, not measured: code paths compiled, and (cached set-up) the password remembered.
        await s.lg.open(2, 1);
        await s.lg.close();
      } catch (e) {
        failed(s.perCpu, e);
        failed(s.rate, e);
      }
    }
    for (let run = 0; run < opts.runs; run++) {
      const live = setups.filter((s) => s.perCpu.status === 'ok');
      for (let i = 0; i < live.length; i++) {
        const s = live[(i + run) % live.length]!;
        const lab = s.lab!;
        const lg = s.lg!;
        try {
          const sample = await ctx.sample(`handshakes ${s.perCpu.label} run ${run + 1}`, async () => {
            const cpu0 = groupCpu(lab.gatewayPids());
            const t0 = performance.now();
            const r = await lg.rate(opts.rateSeconds, opts.rateConcurrency);
            // Session teardown after the last DISCONNECT belongs to these handshakes too.
            await sleep(500);
            const cpu = groupCpu(lab.gatewayPids()) - cpu0;
            const wall = (performance.now() - t0) / 1000;
            if (r.done === 0) throw new Error(`no handshake completed: ${JSON.stringify(r.errors)}`);
            const detail = { done: r.done, failed: r.failed, errors: r.errors, seconds: r.seconds, gatewayCpuSeconds: cpu, gatewayCores: cpu / wall, perSecond: r.perSecond };
            return { value: r.done / Math.max(cpu, 0.01), detail };
          });
          s.perCpu.samples.push(sample);
          // The same run seen as a plain rate (the attempt the sample kept, if it was repeated).
          const d = sample.detail as { perSecond: number; gatewayCores: number };
          s.rate.samples.push({ ...sample, value: d.perSecond });
          ctx.log(`handshakes ${s.perCpu.label}: ${d.perSecond.toFixed(1)}/s, gateway ${d.gatewayCores.toFixed(2)} cores`);
        } catch (e) {
          failed(s.perCpu, e);
          failed(s.rate, e);
          ctx.log(`handshakes ${s.perCpu.label}: error: ${s.perCpu.reason}`);
        }
      }
    }
  } finally {
    for (const s of setups) {
      await s.lg?.stop();
      await s.lab?.close().catch(() => undefined);
    }
  }
  const [oc, sg, cached, light] = setups as [Setup, Setup, Setup, Setup];
  const title = `full-auth handshakes (login + CONNECT) per gateway CPU-second, ${opts.rateConcurrency} in parallel`;
  return [
    { id: 'handshakes-per-cpu', item: 5, title, unit: '/CPU-s', ours: sg.perCpu, ref: oc.perCpu, goal: { kind: 'ratio-min', value: 3 } },
    { id: 'handshakes-rate', item: 5, title: 'full-auth handshakes per second (gateway on one CPU)', unit: '/s', ours: sg.rate, ref: oc.rate },
    {
      id: 'handshakes-per-cpu-cached',
      item: 5,
      title: 'handshakes per gateway CPU-second, same user again (our default config: credential cache)',
      unit: '/CPU-s',
      ours: cached.perCpu,
      ref: oc.perCpu,
    },
    { id: 'handshakes-per-cpu-light-kdf', item: 5, title: 'full-auth handshakes per gateway CPU-second, scrypt N=1024', unit: '/CPU-s', ours: light.perCpu, ref: oc.perCpu },
  ];
}
