/**
 * A light client for the cluster lease test (cluster-leases.test.ts), run in the client
 * namespace: many sessions in one process, no TUN — each logs in through our HTTP auth flow and
 * opens a tunnel (CONNECT), which is when the address is leased (bench/loadgen/session.ts does
 * the protocol). Commands as JSON lines on stdin, one `CC {json}` answer line each:
 *   {"op":"open","count":N,"concurrency":C}  open N sessions; answer: ok, failed, the new addresses, errors
 *   {"op":"ping"}                            one ICMP echo through every open session: ok, failed
 *   {"op":"close"}                           DISCONNECT every session
 *   node cluster-client.js HOST USER PASSWORD GROUP ECHO_TO
 */
import { createInterface } from 'node:readline';
import { formatIpv4, parseIpv4 } from '../../src/protocol/ipv4.js';
import { LoadSession, type Target } from '../../bench/loadgen/session.js';

const [host = '', user = '', password = '', group = '', echoTo = ''] = process.argv.slice(2);
const target: Target = { host, port: 443, user, password, group, userAgent: 'Open AnyConnect VPN Agent v9.01 (sslgate cluster test)', echoTo: parseIpv4(echoTo) ?? 0 };
const open: LoadSession[] = [];
let next = 1;

type Command = { op: 'open'; count: number; concurrency: number } | { op: 'ping' } | { op: 'close' };

function emit(o: Record<string, unknown>): void {
  process.stdout.write(`CC ${JSON.stringify(o)}\n`);
}

async function pool(n: number, concurrency: number, work: () => Promise<void>): Promise<void> {
  let left = n;
  const worker = async (): Promise<void> => {
    while (left-- > 0) await work();
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
}

async function run(c: Command): Promise<void> {
  if (c.op === 'open') {
    const addresses: string[] = [];
    const errors: Record<string, number> = {};
    await pool(c.count, c.concurrency, async () => {
      const s = new LoadSession(next++, target);
      try {
        await s.establish(30_000);
        open.push(s);
        addresses.push(formatIpv4(s.address));
      } catch (e) {
        const m = (e as Error).message.slice(0, 160);
        errors[m] = (errors[m] ?? 0) + 1;
      }
    });
    emit({ ev: 'open', ok: addresses.length, failed: c.count - addresses.length, addresses, errors });
  } else if (c.op === 'ping') {
    let ok = 0;
    let failed = 0;
    let i = 0;
    await pool(open.length, 16, async () => {
      const s = open[i++]!;
      let rtt: number | null = null;
      for (let k = 0; k < 3 && rtt === null; k++) rtt = await s.ping(3000);
      if (rtt === null) failed++;
      else ok++;
    });
    emit({ ev: 'ping', ok, failed });
  } else {
    for (const s of open) s.disconnect();
    emit({ ev: 'close', n: open.length });
    open.length = 0;
  }
}

// DPD/keepalive for every session from one timer.
setInterval(() => {
  const now = Date.now();
  for (const s of open) s.tick(now);
}, 1000);

let chain = Promise.resolve();
createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  const c = JSON.parse(line) as Command;
  chain = chain.then(() => run(c)).catch((e: unknown) => emit({ ev: 'error', error: (e as Error).message }));
});
emit({ ev: 'ready' });
