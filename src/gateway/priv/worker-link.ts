/**
 * One network process as the privileged process sees it (WorkerLink), and its life: the
 * start-up handshake on its channel (init, then `ready` or `fatal`), what its exit means, and
 * its stop. parent.ts spawns the processes and answers their requests.
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Logger } from '../../log.js';
import type { WorkerLoad } from './balance.js';
import { Channel } from './channel.js';
import { MAX_FRAME_FROM_NETWORK } from './limits.js';
import { parseNetworkMessage, type NetworkMessage, type PrivilegedMessage } from './messages.js';
import { ServeError } from './serve-error.js';

/** How long the network process may take to bind and give up root. */
const START_TIMEOUT_MS = 60_000;
/** How long a stopping network process gets to say goodbye to its clients. */
const STOP_TIMEOUT_MS = 10_000;

/** One network process and what this process knows of it. */
export interface WorkerLink {
  readonly index: number;
  readonly child: ChildProcess;
  channel: Channel<NetworkMessage, PrivilegedMessage> | null;
  readonly tun: string;
  readonly load: WorkerLoad;
}

/** What a worker's handshake needs of the privileged process. */
export interface LinkHost {
  /** every network process (several: worker-numbered messages) */
  workers(): readonly WorkerLink[];
  /** true once the gateway stops: an exit or a closed channel is expected then */
  stopping(): boolean;
  /** the worker exited: what it held elsewhere goes */
  gone(w: WorkerLink): void;
  /** the worker exited after its start: the gateway stops (kills the others and exits) */
  fatal(w: WorkerLink): void;
  /** a message after the start-up handshake */
  onRequest(m: NetworkMessage, w: WorkerLink): void;
  readonly log: Logger;
}

/** Opens the channel of `w` (fd 3), sends `init` and resolves on its `ready`. Rejects with ServeError. */
export function handshake(w: WorkerLink, init: PrivilegedMessage, host: LinkHost): Promise<void> {
  const child = w.child;
  const several = host.workers().length > 1;
  const name = several ? `network process (worker ${w.index})` : 'network process';
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new ServeError(`the ${name} did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    let started = false;
    const settle = (err: Error | null): void => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    child.once('exit', (code, signal) => {
      w.load.up = false;
      host.gone(w);
      w.channel?.close(null);
      if (!started) {
        settle(new ServeError(`the ${name} exited during start-up (${signal ?? `exit ${code}`})`));
        return;
      }
      if (host.stopping()) return;
      // One worker gone: its clients are gone; the others go too, so that a supervisor restarts all.
      host.log.fatal({ code, signal, ...(host.workers().length > 1 ? { worker: w.index } : {}) }, 'network process exited; the gateway stops');
      host.fatal(w);
    });
    // A worker must not write on its IPC channel (handles go one way); anything there is ignored.
    child.on('message', () => undefined);
    w.channel = new Channel<NetworkMessage, PrivilegedMessage>(
      child.stdio[3] as Socket,
      MAX_FRAME_FROM_NETWORK,
      parseNetworkMessage,
      (m) => {
        if (m.t === 'ready' && !started) {
          started = true;
          w.load.up = true;
          settle(null);
        } else if (m.t === 'fatal' && !started) {
          settle(new ServeError(m.code && /^E[A-Z]+$/.test(m.code) ? `${m.error} [${m.code}]` : m.error));
        } else host.onRequest(m, w);
      },
      (err) => {
        if (err && !host.stopping()) host.log.error({ err: err.message, ...(host.workers().length > 1 ? { worker: w.index } : {}) }, 'channel to the network process closed; stopping it');
        // A network process that broke the protocol may be compromised: it goes.
        if (!host.stopping() && child.exitCode === null) child.kill('SIGKILL');
      },
    );
    w.channel.send(init);
  });
}

/** Sends `m` (a stop) to the network process and waits for it to exit (killed after STOP_TIMEOUT_MS). */
export async function stopWorker(w: WorkerLink, m: PrivilegedMessage): Promise<void> {
  const child = w.child;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  w.channel?.send(m);
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
