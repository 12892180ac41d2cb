/**
 * Traffic through a tunnel beyond tcpTransfer (netns.ts): self-checking UDP datagrams (sent with
 * UDP_SEGMENT, so a TUN with offloads sees USO super-packets), pings with DF at a given size, and
 * a link's MTU. Shared by the TUN-offload and multi-core interop tests.
 */
import assert from 'node:assert/strict';
import type { Ns } from './netns.js';
import { streamKey } from './seed.js';

// Receives self-checking datagrams (4-byte index, SHA-256 of the rest, the rest) until `count`
// arrived or the sender has been quiet for 3 s; prints what it saw.
const UDP_SINK = `
import socket, hashlib, json, os, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((os.environ['ADDR'], 0))
print('READY', s.getsockname()[1], flush=True)
want = int(os.environ['COUNT']); got = set(); bad = 0; sizes = set()
s.settimeout(20)
while len(got) < want:
    try: d = s.recv(65535)
    except socket.timeout: break
    s.settimeout(3)
    sizes.add(len(d))
    if len(d) < 36 or hashlib.sha256(d[36:]).digest() != d[4:36]: bad += 1; continue
    got.add(int.from_bytes(d[:4], 'big'))
print('RESULT', json.dumps({'received': len(got), 'corrupt': bad, 'sizes': sorted(sizes)}), flush=True)
`;
// Sends COUNT datagrams of SIZE bytes, GSO_SEGS of them per sendto with UDP_SEGMENT (USO).
const UDP_SOURCE = `
import socket, hashlib, os, time
SOL_UDP, UDP_SEGMENT = 17, 103
size, count, per = int(os.environ['SIZE']), int(os.environ['COUNT']), int(os.environ['GSO_SEGS'])
seed = bytes.fromhex(os.environ['SEED'])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(SOL_UDP, UDP_SEGMENT, size)
def dgram(i):
    body = hashlib.sha256(seed + i.to_bytes(4, 'big')).digest() * ((size - 36) // 32 + 1)
    body = body[:size - 36]
    return i.to_bytes(4, 'big') + hashlib.sha256(body).digest() + body
i = 0
while i < count:
    n = min(per, count - i)
    s.sendto(b''.join(dgram(i + k) for k in range(n)), (os.environ['ADDR'], int(os.environ['PORT'])))
    i += n
    time.sleep(0.002)
print('SENT', i, flush=True)
`;

export async function udpTransfer(from: Ns, to: Ns, toAddr: string, size: number, count: number, label: string): Promise<{ received: number; corrupt: number; sizes: number[] }> {
  const sink = to.spawn('python3', ['-c', UDP_SINK], { env: { ...process.env, ADDR: toAddr, COUNT: String(count) }, label: `udp-sink@${to.name}` });
  try {
    const port = (await sink.waitForLine(/^READY (\d+)$/, 10_000))[1] ?? '';
    const seed = streamKey(label).key.toString('hex');
    const r = await from.exec('python3', ['-c', UDP_SOURCE], { env: { ...process.env, ADDR: toAddr, PORT: port, SIZE: String(size), COUNT: String(count), GSO_SEGS: '8', SEED: seed }, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `udp source: ${r.stderr}`);
    const m = await sink.waitForLine(/^RESULT (.*)$/, 40_000);
    return JSON.parse(m[1] ?? '{}') as { received: number; corrupt: number; sizes: number[] };
  } finally {
    await sink.stop('SIGKILL', 2000);
  }
}

export async function linkMtu(ns: Ns, iface: string): Promise<number> {
  const r = await ns.exec('ip', ['-o', 'link', 'show', 'dev', iface]);
  const m = / mtu (\d+) /.exec(r.stdout);
  assert.ok(m, `no MTU for ${iface}: ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

/** ping with DF set (-M do): `size` bytes of ICMP payload, so the IP packet is size + 28. */
export async function pingDf(ns: Ns, addr: string, size: number, extra: string[] = []): Promise<{ ok: boolean; out: string }> {
  const r = await ns.exec('ping', ['-n', '-c', '3', '-i', '0.2', '-W', '2', '-w', '10', '-M', 'do', '-s', String(size), ...extra, addr], { timeoutMs: 20_000 });
  return { ok: r.code === 0, out: r.stdout + r.stderr };
}
