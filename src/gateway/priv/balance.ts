/**
 * Which worker gets the next TLS connection (workers > 1): the one with the least load, where
 * load = open TLS connections (its last report; a live tunnel is one of them, and its CSTP
 * connection stays open while DTLS carries the data) + connections handed to it that it had
 * not received at that report (in flight: not counted there yet). Ties go to the lowest index, so with an idle gateway worker 0
 * (which also owns the DTLS port's unconnected socket) is first. Pure; parent.ts keeps the numbers.
 *
 * Why not SO_REUSEPORT listeners per worker: the kernel picks by a hash of the 4-tuple, so 4
 * clients over 2 workers land 3:1 or 4:0 often enough (a 1-in-8 chance of 4:0 alone) to waste a
 * core; the privileged process knows each worker's tunnels and can balance exactly.
 */
export interface WorkerLoad {
  /** for the log; not in the score (each tunnel holds one of the connections, which close first) */
  tunnels: number;
  connections: number;
  /** connections handed to it so far, and how many of them it had received at its last report */
  handed: number;
  accepted: number;
  /** false while starting or gone: never picked */
  up: boolean;
}

export function pickWorker(loads: readonly WorkerLoad[]): number {
  let best = -1;
  let bestLoad = Infinity;
  for (let i = 0; i < loads.length; i++) {
    const w = loads[i]!;
    if (!w.up) continue;
    const load = w.connections + Math.max(0, w.handed - w.accepted);
    if (load < bestLoad) {
      best = i;
      bestLoad = load;
    }
  }
  return best;
}
