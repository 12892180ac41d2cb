/**
 * Prints the README's "Selected rows" table (and the run's load) from a results JSON of
 * `npm run bench`, so the README is regenerated from one run rather than edited by hand:
 *
 *   node dist/bench/tools/readme-table.js [bench/results/latest.json]
 *
 * Reads only what the run wrote (rows with their samples and summaries); a row the run did not
 * have prints as "–".
 */
import { readFileSync } from 'node:fs';
import type { Goal, Row, RowSummary, Sample } from '../lib/results.js';
import { summarize } from '../lib/stats.js';

interface ResultRow extends Row {
  summary?: RowSummary;
}
interface Results {
  rows: ResultRow[];
  load?: unknown;
}

const j = JSON.parse(readFileSync(process.argv[2] ?? 'bench/results/latest.json', 'utf8')) as Results;
const R: Record<string, ResultRow> = Object.fromEntries(j.rows.map((r) => [r.id, r]));
type SideKey = 'ours' | 'ref';
const sig = (x: number | null | undefined): string => (x === undefined || x === null || Number.isNaN(x) ? '–' : x >= 1000 ? Math.round(x).toLocaleString('en-US') : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
const s = (id: string): RowSummary | undefined => R[id]?.summary;
const med = (id: string, side: SideKey = 'ours'): number | undefined => s(id)?.[side]?.median;
const rng = (id: string, side: SideKey = 'ours'): string => { const v = s(id)?.[side]; return v ? `${sig(v.median)} [${sig(v.min)}–${sig(v.max)}]` : '–'; };
const star = (id: string, side: SideKey = 'ours'): string => ((R[id]?.[side]?.samples ?? []) as Array<Sample & { disturbance?: { disturbed?: boolean } }>).some((x) => x.disturbance?.disturbed) ? '*' : '';
const ratio = (id: string): string => { const r = s(id)?.ratio; return r === undefined || r === null ? '–' : `${r.toFixed(2)}×`; };
const met = (id: string): string => { const m = s(id)?.met; return m === true ? 'yes' : m === false ? 'no' : '–'; };
const goal = (id: string): string => { const g: Goal | undefined = R[id]?.goal; if (!g) return '–'; return g.kind === 'ratio-min' ? `≥ ${g.value}×` : g.kind === 'ratio-max' ? `≤ ${g.value}×` : g.kind === 'abs-min' ? `≥ ${g.value}` : `≤ ${g.value}`; };
const samplesOf = (id: string, side: SideKey): Sample[] => (R[id]?.[side]?.samples ?? []) as Sample[];
// The benchmark's own median (the middle two averaged for an even count), over the numbers present.
const medianOf = (xs: unknown[]): number | undefined => summarize(xs.filter((x): x is number => typeof x === 'number'))?.median;
const out: string[] = [];
const row = (item: number, title: string, ours: string, ref: string, rat: string, gl: string, mt: string): number => out.push(`| ${item} | ${title} | ${ours} | ${ref} | ${rat} | ${gl} | ${mt} |`);
const modes = [['tls', 'TLS'], ['dtls-psk', 'DTLS PSK'], ['dtls12-resume', 'DTLS 1.2 resume'], ['dtls0.9', 'DTLS 0.9']];
for (const [m, name] of modes) {
  for (const d of ['up', 'down']) {
    const dir = d === 'up' ? 'client→gateway' : 'gateway→client';
    const id = `gateway-${m}-${d}`, cid = `gateway-cpu-${m}-${d}`;
    row(1, `gateway throughput, ${name}, ${dir}${m === 'tls' && d === 'up' ? ' (openconnect→sslgate vs →ocserv)' : ''}`, `${rng(id)}${star(id)} Gbit/s`, rng(id, 'ref'), ratio(id), goal(id), met(id));
    row(1, `gateway CPU-s per GB, ${name}, ${dir}`, sig(med(cid)), sig(med(cid, 'ref')), `${ratio(cid)} (ref÷ours)`, goal(cid), met(cid));
  }
}
for (const [m, name] of modes) {
  const u = `client-${m}-up`, dn = `client-${m}-down`;
  const both = (a: string, b: string): string => (a === b ? a : `${a} / ${b}`);
  row(2, `client throughput, ${name}, up / down${m === 'tls' ? ' (sslgate vs openconnect, →ocserv)' : ''}`, `${sig(med(u))} / ${sig(med(dn))} Gbit/s`, `${sig(med(u, 'ref'))} / ${sig(med(dn, 'ref'))}`, `${ratio(u)} / ${ratio(dn)}`, goal(u), both(met(u), met(dn)));
  const cu = `client-cpu-${m}-up`, cd = `client-cpu-${m}-down`;
  row(2, `client CPU-s per GB (the client process), ${name}, up / down`, `${sig(med(cu))} / ${sig(med(cd))}`, `${sig(med(cu, 'ref'))} / ${sig(med(cd, 'ref'))}`, `${ratio(cu)} / ${ratio(cd)} (ref÷ours)`, '–', '–');
}
for (const d of ['up', 'down']) {
  const ids = ['tls', 'dtls-psk', 'dtls12-resume', 'dtls0.9'].map((m) => `both-ours-${m}-${d}`);
  row(2, `both ends ours (sslgate client → sslgate), TLS / DTLS PSK / DTLS 1.2 resume / DTLS 0.9, ${d}`, `${ids.map((i) => sig(med(i))).join(' / ')} Gbit/s`, ids.map((i) => sig(med(i, 'ref'))).join(' / '), ids.map(ratio).join(' / '), '–', '–');
}
for (const d of ['up', 'down']) {
  row(1, `4 openconnect clients, aggregate, DTLS PSK, ${d}, gateway on 1 core / 2 cores (\`workers\` = cores)`, `${sig(med(`multicore-1core-${d}`))} / ${sig(med(`multicore-2cores-${d}`))} Gbit/s`, `${sig(med(`multicore-1core-${d}`, 'ref'))} / ${sig(med(`multicore-2cores-${d}`, 'ref'))}`, `${ratio(`multicore-1core-${d}`)} / ${ratio(`multicore-2cores-${d}`)}`, '–', '–');
  const used = (id: string, side: SideKey): string => { const v = medianOf(samplesOf(id, side).map((x) => x.detail?.['gatewayCores'])); return v === undefined ? '–' : v.toFixed(2); };
  const spread = (id: string, side: SideKey): string => {
    // The busiest processes of the median run (by aggregate): does every core's worker work?
    const ss = samplesOf(id, side).slice().sort((a, b) => a.value - b.value);
    const mid = ss[Math.floor(ss.length / 2)]?.detail?.['gatewayProcessCores'];
    return Array.isArray(mid) ? mid.slice(0, 3).map((p: { cores?: unknown }) => (typeof p.cores === 'number' ? p.cores.toFixed(2) : '?')).join(' + ') : '–';
  };
  const one = `multicore-1core-${d}`, two = `multicore-2cores-${d}`;
  row(1, `gateway cores used in those runs, 1 core / 2 cores (2 cores: its busiest processes)`, `${used(one, 'ours')} / ${used(two, 'ours')} (${spread(two, 'ours')})`, `${used(one, 'ref')} / ${used(two, 'ref')} (${spread(two, 'ref')})`, '–', '–', '–');
  const sc = `multicore-scaling-${d}`;
  row(1, `scaling 2 cores ÷ 1 core, ${d}`, `${rng(sc)}×`, `${sig(med(sc, 'ref'))}×`, '–', goal(sc), met(sc));
}
row(3, 'connect latency, full login (openconnect→sslgate vs →ocserv)', `${rng('latency-gateway')} ms`, `${rng('latency-gateway', 'ref')} ms`, ratio('latency-gateway'), goal('latency-gateway'), met('latency-gateway'));
row(3, "the same, the user's hash as cheap as ocserv's (scrypt N=1024, ~3 ms)", `${rng('latency-gateway-light-kdf')} ms`, `${rng('latency-gateway-light-kdf', 'ref')} ms`, ratio('latency-gateway-light-kdf'), '–', '–');
row(3, 'the same user again within auth.cache-seconds (credential cache)', `${rng('latency-gateway-cached')} ms`, `${rng('latency-gateway-cached', 'ref')} ms`, ratio('latency-gateway-cached'), '–', '–');
row(3, 'start to ping, full login (sslgate client vs openconnect, →ocserv)', `${rng('latency-client')} ms`, `${rng('latency-client', 'ref')} ms`, ratio('latency-client'), goal('latency-client'), met('latency-client'));
row(3, "the same, our client started without the machine's `NODE_EXTRA_CA_CERTS`", `${rng('latency-client-no-extra-ca')} ms`, `${rng('latency-client-no-extra-ca', 'ref')} ms`, ratio('latency-client-no-extra-ca'), '–', '–');
row(3, 'the same, our client unbundled (dist/src, no code cache)', `${rng('latency-client-unbundled')} ms`, `${rng('latency-client-unbundled', 'ref')} ms`, ratio('latency-client-unbundled'), '–', '–');
row(4, 'concurrent tunnels answering an echo (sslgate K=10000, ocserv K=2000)', `${sig(med('sessions-answering'))}${star('sessions-answering')}`, sig(med('sessions-answering', 'ref')), '–', goal('sessions-answering'), met('sessions-answering'));
row(4, 'gateway memory per session (PSS)', `${sig(med('sessions-memory'))}${star('sessions-memory')} KB`, `${sig(med('sessions-memory', 'ref'))} KB`, ratio('sessions-memory'), goal('sessions-memory').replace(/$/, ' KB'), met('sessions-memory'));
row(5, 'full-auth handshakes per gateway CPU-second (scrypt N=16384 every login)', `${sig(med('handshakes-per-cpu'))} /CPU-s`, `${sig(med('handshakes-per-cpu', 'ref'))} /CPU-s`, ratio('handshakes-per-cpu'), goal('handshakes-per-cpu'), met('handshakes-per-cpu'));
row(5, 'handshakes per CPU-second, same user again (default: credential cache)', `${sig(med('handshakes-per-cpu-cached'))} /CPU-s`, `${sig(med('handshakes-per-cpu-cached', 'ref'))} /CPU-s`, ratio('handshakes-per-cpu-cached'), '–', '–');
row(12, 'logins per second, cluster (Redis) vs one machine (SQLite)', `${sig(med('cluster-logins'))} /s`, `${sig(med('cluster-logins', 'ref'))} /s`, ratio('cluster-logins'), '–', '–');
row(12, 'session look-ups by cookie hash per second, RedisStore vs SqliteStore', `${sig(med('cluster-lookups'))} /s`, `${sig(med('cluster-lookups', 'ref'))} /s`, ratio('cluster-lookups'), '–', '–');
console.log('| # | measurement | ours | reference | ratio | goal | met? |\n|---|---|---|---|---|---|---|\n' + out.join('\n'));

// Which end ran out of CPU: the median busy share of the client's CPU and the gateway's CPU
// (the benchmark's pinning: CPU 0 the client side, CPU 1 the gateway side), per throughput row.
const busy = (id: string, side: SideKey): string => {
  const ss = samplesOf(id, side).map((x) => x.detail?.['cpuBusy']).filter((b): b is number[] => Array.isArray(b) && b.length >= 2);
  if (!ss.length) return '–';
  return `${medianOf(ss.map((b) => b[0]))!.toFixed(2)} / ${medianOf(ss.map((b) => b[1]))!.toFixed(2)}`;
};
// DTLS loss at the receiving end: the median share of datagrams its UDP socket had no room for.
const dropShare = (id: string, side: SideKey, end: 'client' | 'gateway'): string => {
  const shares = samplesOf(id, side).map((x) => {
    const drops = (x.detail?.['udpRcvbufDrops'] as Record<string, unknown> | undefined)?.[end];
    const got = (x.detail?.['udpIn'] as Record<string, unknown> | undefined)?.[end];
    return typeof drops === 'number' && typeof got === 'number' && drops + got > 0 ? drops / (drops + got) : undefined;
  });
  const v = medianOf(shares);
  return v === undefined ? '–' : `${(v * 100).toFixed(v < 0.01 ? 1 : 0)}%`;
};
const full: string[] = [];
for (const [m, name] of modes) {
  for (const d of ['up', 'down']) {
    const end = d === 'up' ? 'gateway' : 'client';
    const cell = (id: string, side: SideKey): string => `${busy(id, side)}${m === 'tls' ? '' : `; ${dropShare(id, side, end)}`}`;
    full.push(`| gateway, ${name}, ${d} (openconnect→sslgate / →ocserv) | ${cell(`gateway-${m}-${d}`, 'ours')} | ${cell(`gateway-${m}-${d}`, 'ref')} |`);
    full.push(`| client, ${name}, ${d} (sslgate client / openconnect →ocserv) | ${cell(`client-${m}-${d}`, 'ours')} | ${cell(`client-${m}-${d}`, 'ref')} |`);
  }
}
console.log('\n| throughput row | ours: CPU busy, client CPU / gateway CPU; DTLS datagrams the receiving socket dropped | reference: the same |\n|---|---|---|\n' + full.join('\n'));
console.log(`\nload: ${JSON.stringify(j.load).slice(0, 400)}`);
