/**
 * A namespace's UDP counters (the "Udp:" lines of /proc/net/snmp, read from inside it): where a
 * DTLS datagram was lost. RcvbufErrors counts datagrams a receiving socket had no room for, so
 * the difference over a run in the receiver's namespace is the tunnel's loss at that end.
 */
import type { Ns } from '../../test/helpers/netns.js';

/** The Udp: header and value lines of /proc/net/snmp as name → value; null when absent or malformed. */
export function parseUdpSnmp(text: string): Record<string, number> | null {
  const lines = text.split('\n').filter((l) => l.startsWith('Udp: '));
  if (lines.length < 2) return null;
  const names = lines[0]!.trim().split(/\s+/).slice(1);
  const values = lines[1]!.trim().split(/\s+/).slice(1).map(Number);
  if (names.length === 0 || names.length !== values.length || values.some((v) => !Number.isFinite(v))) return null;
  return Object.fromEntries(names.map((n, i) => [n, values[i]!]));
}

export async function readUdpCounters(ns: Ns): Promise<Record<string, number>> {
  const r = await ns.exec('cat', ['/proc/net/snmp'], { timeoutMs: 5000 });
  const c = r.code === 0 ? parseUdpSnmp(r.stdout) : null;
  if (!c) throw new Error(`cannot read the UDP counters of ${ns.name}: ${r.stderr.trim() || r.stdout.trim().slice(0, 200)}`);
  return c;
}
