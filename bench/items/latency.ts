/**
 * Item 3: connect latency, from starting the client to the first packet answered through the
 * tunnel (peers/echo.ts), `connects` times per set-up, each a fresh login:
 *
 *   openconnect → sslgate   vs  openconnect → ocserv     (our gateway)
 *   sslgate-client → ocserv vs  openconnect → ocserv     (our client)
 *
 * The clients run as a user runs them: openconnect with Debian's vpnc-script and DTLS allowed,
 * ours with its own host configuration. The client processes are started and then left alone
 * until the answer comes (no polling of their state on their core).
 *
 * Every connect is a full login: our gateway runs with its credential cache off (ocserv checks
 * the password on every login too). A third set-up keeps the cache on (the default), which is
 * what a user reconnecting within auth.cache-seconds gets; it has no goal.
 *
 * Our client runs as bin/sslgate runs it: from the bundle with its V8 code cache
 * (scripts/bundle.mjs). A fourth side runs it from the compiled modules (SSLGATE_NO_BUNDLE=1,
 * bin/sslgate's fallback) in the same rotation, so the run shows what the bundle buys.
 */
import type { BenchContext } from '../context.js';
import { failed, newSide, notAvailable, type Row, type Side } from '../lib/results.js';
import { spawnSslgateClient, sslgateClientSupport } from '../peers/clients.js';
import { Prober, startEchoServer } from '../peers/echo.js';
import { startLab, type Lab } from '../peers/lab.js';
import { startOpenconnect } from '../../test/helpers/openconnect.js';

interface Trial {
  key: 'oc-sslgate' | 'oc-sslgate-cached' | 'oc-sslgate-light' | 'oc-ocserv' | 'sg-ocserv' | 'sg-ocserv-unbundled' | 'sg-ocserv-no-extra-ca';
  lab: Lab;
  prober: Prober;
  side: Side;
}

const TIMEOUT_MS = 30_000;

async function connectOnce(t: Trial): Promise<number> {
  const { lab, prober } = t;
  const up = prober.go(lab.login.tunAddr, TIMEOUT_MS);
  const t0 = Date.now();
  const client =
    t.key.startsWith('sg-')
      ? spawnSslgateClient(lab.tb.cl, lab.login, [], clientEnv(t.key))
      : startOpenconnect(lab.tb.cl, { url: lab.login.url, user: lab.login.user, password: lab.login.password, authgroup: lab.login.group, servercert: lab.login.pin });
  try {
    const t1 = await up;
    return t1 - t0;
  } finally {
    await client.stop().catch(() => undefined);
    // The gateway ends the session on the client's DISCONNECT/BYE; give it a moment.
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The environment our client starts with: the bench's, but for the variant rows. */
function clientEnv(key: Trial['key']): { env?: NodeJS.ProcessEnv } {
  if (key === 'sg-ocserv-unbundled') return { env: { ...process.env, SSLGATE_NO_BUNDLE: '1' } };
  if (key === 'sg-ocserv-no-extra-ca') {
    const env = { ...process.env };
    delete env['NODE_EXTRA_CA_CERTS'];
    return { env };
  }
  return {};
}

export async function latencyItem(ctx: BenchContext): Promise<Row[]> {
  const labs: Lab[] = [];
  const trials: Trial[] = [];
  try {
    const ocLab = await startLab(ctx, 'ocserv', { tag: 'blatoc' });
    labs.push(ocLab);
    const sgLab = await startLab(ctx, 'sslgate', { tag: 'blatsg', credentialCache: false });
    labs.push(sgLab);
    const cachedLab = await startLab(ctx, 'sslgate', { tag: 'blatsgc' });
    labs.push(cachedLab);
    // Full logins again, but the user's hash made as cheap as ocserv's SHA-512 crypt (peers/sslgate.ts
    // kdf 'light'): what a login costs here apart from the KDF, which is a choice, not overhead.
    const lightLab = await startLab(ctx, 'sslgate', { tag: 'blatsgl', credentialCache: false, kdf: 'light' });
    labs.push(lightLab);
    for (const lab of labs) await startEchoServer(lab.tb.gw, ctx.pinning.gateway);
    const ocProber = await Prober.start(ocLab.tb.cl);
    const sgProber = await Prober.start(sgLab.tb.cl);
    const cachedProber = await Prober.start(cachedLab.tb.cl);
    const lightProber = await Prober.start(lightLab.tb.cl);
    trials.push(
      { key: 'oc-sslgate', lab: sgLab, prober: sgProber, side: newSide('openconnect→sslgate') },
      { key: 'oc-ocserv', lab: ocLab, prober: ocProber, side: newSide('openconnect→ocserv') },
      { key: 'sg-ocserv', lab: ocLab, prober: ocProber, side: newSide('sslgate-client→ocserv') },
      { key: 'sg-ocserv-unbundled', lab: ocLab, prober: ocProber, side: newSide('sslgate-client (unbundled: dist/src)→ocserv') },
      { key: 'oc-sslgate-cached', lab: cachedLab, prober: cachedProber, side: newSide('openconnect→sslgate, credential cache') },
      { key: 'oc-sslgate-light', lab: lightLab, prober: lightProber, side: newSide('openconnect→sslgate, light KDF') },
      { key: 'sg-ocserv-no-extra-ca', lab: ocLab, prober: ocProber, side: newSide('sslgate-client→ocserv, without NODE_EXTRA_CA_CERTS') },
    );
    // Node reads NODE_EXTRA_CA_CERTS at every process start (Node 20: before any script runs).
    // Measured with callgrind: with this machine's bundle of 144 certificates `node -e 0` runs 501M
    // instructions, without it 87M (about 40 ms of CPU here). Our client inherits the variable as
    // a user's would; bin/sslgate run as a command defers it past Node's start for `connect`
    // (src/client/deferred-extra-ca.ts). One more row starts it without the variable, as on a
    // machine that does not set it: the two rows should now agree.
    if (process.env.NODE_EXTRA_CA_CERTS) ctx.log(`latency: NODE_EXTRA_CA_CERTS is set (${process.env.NODE_EXTRA_CA_CERTS}): bin/sslgate defers it for connect (the row without it should agree)`);
    else notAvailable(trials.find((t) => t.key === 'sg-ocserv-no-extra-ca')!.side, 'NODE_EXTRA_CA_CERTS is not set here: the same as the row above');
    const support = sslgateClientSupport();
    for (const sg of trials.filter((t) => t.key.startsWith('sg-'))) if (!support.connect) notAvailable(sg.side, `our client is not available yet (${support.reason ?? ''})`);
    for (let i = 0; i < ctx.opts.connects; i++) {
      const live = trials.filter((t) => t.side.status === 'ok');
      for (let k = 0; k < live.length; k++) {
        const t = live[(k + i) % live.length]!;
        try {
          t.side.samples.push(await ctx.sample(`latency ${t.side.label} #${i + 1}`, async () => ({ value: await connectOnce(t) })));
        } catch (e) {
          if (t.key.startsWith('sg-')) notAvailable(t.side, `our client does not connect yet: ${(e as Error).message.split('\n')[0]}`);
          else failed(t.side, e);
          ctx.log(`latency ${t.side.label}: ${t.side.status}: ${t.side.reason}`);
        }
      }
    }
  } finally {
    for (const lab of labs) await lab.close().catch(() => undefined);
  }
  const side = (k: Trial['key']): Side => trials.find((t) => t.key === k)?.side ?? { label: k, status: 'error', reason: 'set-up failed', samples: [] };
  return [
    {
      id: 'latency-gateway',
      item: 3,
      title: `connect latency, full login (median of ${ctx.opts.connects}; range shows the max)`,
      unit: 'ms',
      ours: side('oc-sslgate'),
      ref: side('oc-ocserv'),
      goal: { kind: 'ratio-max', value: 1.0 },
    },
    {
      id: 'latency-gateway-cached',
      item: 3,
      title: `connect latency, same user again within auth.cache-seconds (median of ${ctx.opts.connects})`,
      unit: 'ms',
      ours: side('oc-sslgate-cached'),
      ref: side('oc-ocserv'),
    },
    {
      id: 'latency-gateway-light-kdf',
      item: 3,
      title: `connect latency, full login, the user's scrypt hash as cheap as ocserv's SHA-512 crypt (N=1024, ~3 ms; median of ${ctx.opts.connects})`,
      unit: 'ms',
      ours: side('oc-sslgate-light'),
      ref: side('oc-ocserv'),
    },
    {
      id: 'latency-client',
      item: 3,
      title: `connect latency, full login (median of ${ctx.opts.connects}; range shows the max)`,
      unit: 'ms',
      ours: side('sg-ocserv'),
      ref: side('oc-ocserv'),
      goal: { kind: 'ratio-max', value: 1.0 },
    },
    {
      id: 'latency-client-no-extra-ca',
      item: 3,
      title: `connect latency, full login, our client started without the machine's NODE_EXTRA_CA_CERTS (Node parses that file at every start; median of ${ctx.opts.connects})`,
      unit: 'ms',
      ours: side('sg-ocserv-no-extra-ca'),
      ref: side('oc-ocserv'),
    },
    {
      id: 'latency-client-unbundled',
      item: 3,
      title: `connect latency, full login, our client unbundled (dist/src, no code cache; median of ${ctx.opts.connects})`,
      unit: 'ms',
      ours: side('sg-ocserv-unbundled'),
      ref: side('oc-ocserv'),
    },
  ];
}
