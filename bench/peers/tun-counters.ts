/**
 * Bytes through a client's TUN device, read from inside its namespace (`ip netns exec` mounts
 * that namespace's /sys, so the host's /sys would not show the device). Every byte the gateway
 * forwarded for this client crosses it once, so the difference of two readings is "bytes moved"
 * for the gateway's CPU-seconds per GB, including iperf3's omitted first second, which the
 * gateway's CPU reading covers too.
 */
import type { Ns } from '../../test/helpers/netns.js';
import { parseTunCounters, type TunCounters } from '../lib/efficiency.js';

export async function readTunCounters(ns: Ns, iface: string): Promise<TunCounters> {
  const dir = `/sys/class/net/${iface}/statistics`;
  const r = await ns.exec('cat', [`${dir}/rx_bytes`, `${dir}/tx_bytes`], { timeoutMs: 5000 });
  const c = r.code === 0 ? parseTunCounters(r.stdout) : null;
  if (!c) throw new Error(`cannot read the byte counters of ${iface} in ${ns.name}: ${r.stderr.trim() || r.stdout.trim()}`);
  return c;
}
