/**
 * "First answer through the tunnel" for the connect-latency item.
 *
 * A UDP echo server listens in the gateway namespace; a prober in the client namespace sends a
 * probe to the gateway's tunnel address every 2 ms. Before the client has installed its route
 * the send fails at once (no route: the testbed's client namespace only knows the veth /30), so
 * the first reply is the first packet that made the round trip through the tunnel. One long-lived
 * prober process instead of a loop of `ping` processes: spawning a ping every few ms would take
 * CPU from the client being timed, on the same core.
 */
import type { Ns, NsProcess } from '../../test/helpers/netns.js';
import { pinnedArgv } from '../lib/pinning.js';

export const ECHO_PORT = 7007;

const ECHO_JS = `
const d = require('node:dgram').createSocket('udp4');
d.on('message', (m, r) => d.send(m, r.port, r.address));
d.on('error', () => undefined);
d.bind(Number(process.env.PORT), '0.0.0.0', () => console.log('ECHO READY'));
`;

// GO <token> <addr> <port>: probe until the token comes back, print UP <token> <epoch ms>.
const PROBER_JS = `
const s = require('node:dgram').createSocket('udp4');
s.on('error', () => undefined);
let cur = null;
s.on('message', (m) => {
  if (!cur || m.toString() !== cur.token) return;
  const t = Date.now();
  clearInterval(cur.timer);
  console.log('UP ' + cur.token + ' ' + t);
  cur = null;
});
require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, token, addr, port] = line.split(' ');
  if (cur) { clearInterval(cur.timer); cur = null; }
  if (cmd !== 'GO') return;
  const send = () => s.send(token, Number(port), addr, () => undefined);
  cur = { token, timer: setInterval(send, 2) };
  send();
});
s.bind(0, () => console.log('PROBER READY'));
`;

export async function startEchoServer(ns: Ns, cpus: string | null): Promise<NsProcess> {
  const [cmd, args] = pinnedArgv(cpus, process.execPath, ['-e', ECHO_JS]);
  const p = ns.spawn(cmd, args, { label: `echo@${ns.name}`, env: { ...process.env, PORT: String(ECHO_PORT) } });
  await p.waitForLine(/^ECHO READY$/, 10_000);
  return p;
}

export class Prober {
  private n = 0;
  private constructor(private readonly proc: NsProcess) {}

  static async start(ns: Ns): Promise<Prober> {
    const p = ns.spawn(process.execPath, ['-e', PROBER_JS], { label: `prober@${ns.name}` });
    await p.waitForLine(/^PROBER READY$/, 10_000);
    return new Prober(p);
  }

  /** Starts probing `addr`; the promise resolves with the epoch ms of the first answer. */
  go(addr: string, timeoutMs: number): Promise<number> {
    const token = `t${process.pid}-${this.n++}`;
    const from = this.proc.lines.length;
    this.proc.write(`GO ${token} ${addr} ${ECHO_PORT}\n`);
    return this.proc.waitForLine(new RegExp(`^UP ${token} (\\d+)$`), timeoutMs, from).then(
      (m) => Number(m[1]),
      (e: unknown) => {
        this.proc.write('STOP\n');
        throw e;
      },
    );
  }
}
