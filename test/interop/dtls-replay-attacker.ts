/**
 * A DTLS attacker for gateway-dtls-replay.test.ts, run as its own process inside a test
 * namespace: it knows a live session's DTLS id (X-DTLS-App-ID / Session-ID, which travels in
 * clear) but not its keys, and floods the gateway with handshakes naming it, each from a fresh
 * UDP source port:
 *   - full handshakes with a wrong key (PSK: our Finished cannot verify; resume: we cannot read
 *     the gateway's Finished and stop answering),
 *   - bare ClientHellos never followed up (they stay pending until the gateway's deadline),
 *   - garbage after a ClientHello.
 * It prints "attacking" when it starts and "answered" at the gateway's first answer; it runs
 * until SIGTERM, then prints one JSON line of what it did and saw:
 *   {"attempts":N,"established":0,"failed":N,"answers":N}
 *
 *   node dtls-replay-attacker.js HOST PORT MODE ID_HEX [RESUME_VERSION RESUME_SUITE]
 *     MODE psk | resume
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { DtlsClient, createResult, type DtlsResult, type DtlsVersion } from '../../src/dtls/index.js';

const [host, portArg, mode, idHex, versionArg, suiteArg] = process.argv.slice(2);
const port = Number(portArg);
if (!host || !port || (mode !== 'psk' && mode !== 'resume') || !/^[0-9a-f]{2,64}$/i.test(idHex ?? '')) {
  process.stderr.write('usage: dtls-replay-attacker HOST PORT psk|resume ID_HEX [VERSION SUITE]\n');
  process.exit(2);
}
const id = Buffer.from(idHex!, 'hex');

const stats = { attempts: 0, established: 0, failed: 0, answers: 0 };
/** open attack sockets, oldest first (closed when there are too many) */
const open: Socket[] = [];
const MAX_OPEN = 64;

function endpoint(): DtlsClient {
  return mode === 'psk'
    ? new DtlsClient({ role: 'client', mode: 'psk', psk: randomBytes(32), appId: id })
    : new DtlsClient({ role: 'client', mode: 'resume', version: Number(versionArg) as DtlsVersion, suite: Number(suiteArg), sessionId: id, masterSecret: randomBytes(48) });
}

function attack(kind: number): void {
  const sock = createSocket('udp4');
  const ep = endpoint();
  const res: DtlsResult = createResult();
  const send = (r: DtlsResult): void => {
    for (const d of r.send) sock.send(d, port, host!);
    for (const e of r.events) {
      if (e.type === 'established') stats.established++;
      if (e.type === 'failed') stats.failed++;
    }
  };
  sock.on('error', () => undefined);
  sock.on('message', (m) => {
    if (stats.answers++ === 0) process.stdout.write('answered\n');
    if (kind !== 0) return; // only the full handshakes answer
    const r = createResult();
    ep.handleDatagram(m, Date.now(), r);
    send(r);
  });
  sock.bind(0, () => {
    stats.attempts++;
    ep.start(Date.now(), res);
    send(res);
    if (kind === 2) sock.send(randomBytes(80), port, host!);
  });
  open.push(sock);
  while (open.length > MAX_OPEN) open.shift()!.close();
}

let n = 0;
const timer = setInterval(() => attack(n++ % 3), 5);

process.on('SIGTERM', () => {
  clearInterval(timer);
  for (const s of open) s.close();
  process.stdout.write(`${JSON.stringify(stats)}\n`);
  process.exit(0);
});
process.stdout.write('attacking\n');
