/**
 * Which worker gets the next TLS connection (workers > 1): the one with the least load, where
 * load = open TLS connections (its last report; a live tunnel is one of them, and its CSTP
 * connection stays open while DTLS carries the data) + connections handed to it since that
 * report (not counted there yet). Ties go to the lowest index, so with an idle gateway worker 0
 * (which also owns the DTLS port's unconnected socket) is first. Pure; parent.ts keeps the numbers.
 *
 * Why not SO_REUSEPORT listeners per worker: the kernel picks by a hash of the 4-tuple, so 4
 * clients over 2 workers land 3:1 or 4:0 often enough (a 1-in-8 chance of 4:0 alone) to waste a
 * core; the privileged process knows each worker's tunnels and can balance exactly.
 */
export interface WorkerLoad {
  tunnels: number;
  connections: number;
  /** handed since the last report */
  handed: number;
  /** false while starting or gone: never picked */
  up: boolean;
}

export function pickWorker(loads: readonly WorkerLoad[]): number {
  let best = -1;
  let bestLoad = Infinity;
  for (let i = 0; i < loads.length; i++) {
    const w = loads[i]!;
    if (!w.up) continue;
    const load = Math.max(w.connections, w.tunnels) + w.handed;
    if (load < bestLoad) {
      best = i;
      bestLoad = load;
    }
  }
  return best;
}
