/**
 * The figures issue 11 judges the gateway by besides Gbit/s (pure arithmetic, unit-tested):
 *
 *   CPU-seconds per GB   the gateway's utime+stime over a transfer ÷ bytes moved (GB = 1e9 bytes):
 *                        what a byte costs the gateway, whether or not the client side saturated
 *                        first on a shared machine
 *   fraction of ceiling  a tunnel's Gbit/s ÷ plain veth's between the same namespaces, same run
 *   scaling              aggregate Gbit/s with the gateway on 2 cores ÷ on 1 core
 */

/** null when nothing moved (a broken run must not become a 0 or an Infinity in a median). */
export function cpuSecondsPerGB(cpuSeconds: number, bytes: number): number | null {
  if (!(bytes > 0) || !(cpuSeconds >= 0)) return null;
  return cpuSeconds / (bytes / 1e9);
}

/** value ÷ ceiling, or null without a usable ceiling. */
export function fractionOf(value: number, ceiling: number | null | undefined): number | null {
  if (ceiling === null || ceiling === undefined || !(ceiling > 0) || !Number.isFinite(value)) return null;
  return value / ceiling;
}

/** "12%" (two significant digits below 10%: "3.4%"), or "–". */
export function percentText(f: number | null): string {
  if (f === null) return '–';
  const p = f * 100;
  return `${p < 10 ? p.toFixed(1) : p.toFixed(0)}%`;
}

/** Bytes a TUN moved in the data direction: "up" is what the client sent into it (tx). */
export interface TunCounters {
  rx: number;
  tx: number;
}

export function parseTunCounters(text: string): TunCounters | null {
  // `cat rx_bytes tx_bytes`: two lines, in that order.
  const [rx, tx] = text.trim().split(/\s+/).map(Number);
  if (rx === undefined || tx === undefined || !Number.isFinite(rx) || !Number.isFinite(tx)) return null;
  return { rx, tx };
}

export function bytesMoved(before: TunCounters, after: TunCounters, dir: 'up' | 'down'): number {
  return dir === 'up' ? after.tx - before.tx : after.rx - before.rx;
}

/**
 * Pairs the 2-core and 1-core samples of the same run (same index) into 2-core ÷ 1-core ratios;
 * a run where either side is missing or zero gives none.
 */
export function pairedScaling(two: Array<number | undefined>, one: Array<number | undefined>): Array<{ run: number; value: number }> {
  const out: Array<{ run: number; value: number }> = [];
  for (let i = 0; i < Math.min(two.length, one.length); i++) {
    const a = two[i];
    const b = one[i];
    if (a !== undefined && b !== undefined && b > 0) out.push({ run: i, value: a / b });
  }
  return out;
}
