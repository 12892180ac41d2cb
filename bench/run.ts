/**
 * `npm run bench [-- options]`: sslgate side by side with ocserv and openconnect (issue 5).
 *
 *   1. as root: install missing Debian packages (ocserv, openconnect, iperf3, ...)
 *   2. pin this process to the client CPU (children inherit it), raise the fd limit
 *   3. one certificate for every gateway; then each selected item, in its own namespaces:
 *        throughput (item 1, with the plain-veth ceiling and gateway CPU per GB), client (item 2),
 *        multicore (item 1: N clients, gateway on 1 vs 2 cores), latency (3), sessions (4),
 *        handshakes (5), cluster on vs off (issue 12)
 *   4. the table on stdout, everything measured in the JSON file
 *
 * Exit status: 0 when every measurement ran (goals missed or rows "n/a" included), 1 when a
 * measurement broke (a reference peer failed, our side errored), 2 on bad usage.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isRoot } from '../test/helpers/netns.js';
import { REPO_ROOT } from '../test/helpers/sslgate.js';
import { makeContext, type BenchContext } from './context.js';
import { clusterItem } from './items/cluster.js';
import { handshakesItem } from './items/handshakes.js';
import { latencyItem } from './items/latency.js';
import { multicoreItem } from './items/multicore.js';
import { sessionsItem } from './items/sessions.js';
import { throughputItems } from './items/throughput.js';
import { loadNote, runLoad } from './lib/load.js';
import { choosePinning, pinPid, raiseFdLimit } from './lib/pinning.js';
import { readLoadavg } from './lib/proc.js';
import { summarizeRow, type Row } from './lib/results.js';
import { renderTable } from './lib/table.js';
import { parseOptions, USAGE, type Options } from './options.js';
import { makeBenchPki } from './peers/pki.js';
import { describeMachine, machineNote } from './setup/machine.js';
import { ensurePackages } from './setup/packages.js';

async function runItems(ctx: BenchContext): Promise<{ rows: Row[]; crashed: string[] }> {
  const o = ctx.opts.only;
  const rows: Row[] = [];
  const crashed: string[] = [];
  const steps: Array<[string, boolean, () => Promise<Row[]>]> = [
    ['throughput/client', o.has('throughput') || o.has('client'), () => throughputItems(ctx, o.has('throughput'), o.has('client'))],
    ['multicore', o.has('multicore'), () => multicoreItem(ctx)],
    ['latency', o.has('latency'), () => latencyItem(ctx)],
    ['sessions', o.has('sessions'), () => sessionsItem(ctx)],
    ['handshakes', o.has('handshakes'), () => handshakesItem(ctx)],
    ['cluster', o.has('cluster'), () => clusterItem(ctx)],
  ];
  for (const [name, enabled, fn] of steps) {
    if (!enabled) continue;
    const t0 = Date.now();
    ctx.log(`== ${name}`);
    try {
      rows.push(...(await fn()));
    } catch (e) {
      // One item breaking must not lose the others' results.
      crashed.push(`${name}: ${(e as Error).stack ?? String(e)}`);
      ctx.log(`${name} failed: ${(e as Error).message}`);
    }
    ctx.log(`== ${name} done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  return { rows, crashed };
}

async function main(): Promise<number> {
  let opts: Options | 'help';
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!isRoot()) {
    process.stderr.write('bench: must run as root (it creates network namespaces and TUN devices, and installs Debian packages)\n');
    return 2;
  }
  const started = new Date();
  ensurePackages((s) => process.stderr.write(`[bench] ${s}\n`));
  const pinning = choosePinning(opts.pin);
  pinPid(process.pid, pinning.client);
  raiseFdLimit(262_144);
  const machine = describeMachine();
  const pki = await makeBenchPki();
  const ctx = makeContext(opts, pinning, pki);
  ctx.log(`machine: ${machineNote(machine)}`);
  ctx.log(`pinning: ${pinning.client === null ? 'off' : `clients, load generator, iperf3 client on CPU ${pinning.client}; gateways and their iperf3/echo servers on CPU ${pinning.gateway}`}`);
  const loadStart = readLoadavg();
  const wholeRun = ctx.monitor.start();
  const { rows, crashed } = await runItems(ctx);
  const load = runLoad(loadStart, readLoadavg(), ctx.monitor.stop(wholeRun), rows);

  const table = renderTable(rows);
  const header = `sslgate benchmark ${started.toISOString().slice(0, 10)}${opts.quick ? ' (--quick: smoke sizes, not comparable)' : ''}\nmachine: ${machineNote(machine)}\n${loadNote(load)}`;
  process.stdout.write(`\n${header}\n\n${table.text}\n`);
  if (crashed.length > 0) process.stdout.write(`\nitems that failed:\n${crashed.map((c) => `- ${c.split('\n')[0]}`).join('\n')}\n`);

  const out = path.resolve(REPO_ROOT, opts.out);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const json = {
    date: started.toISOString(),
    durationSeconds: Math.round((Date.now() - started.getTime()) / 1000),
    machine,
    load,
    options: { ...opts, only: [...opts.only] },
    pinning,
    rows: rows.map((r) => ({ ...r, summary: summarizeRow(r) })),
    crashed,
    markdown: `${header}\n\n${table.markdown}`,
  };
  fs.writeFileSync(out, JSON.stringify(json, null, 1) + '\n');
  process.stdout.write(`\nJSON: ${path.relative(process.cwd(), out) || out}\n`);

  const broken = crashed.length > 0 || rows.some((r) => r.ours.status === 'error' || r.ref.status === 'error');
  return broken ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
