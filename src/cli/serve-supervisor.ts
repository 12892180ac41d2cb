/**
 * `sslgate ctl restart` (issue 12): the running gateway is replaced by a fresh `sslgate serve` of
 * the binary now on disk (an upgrade), keeping every session.
 *
 * Node 20 has no execve(), so the process cannot replace its own image. Instead, after the
 * handover (priv/parent.ts handover: the network process records every session in the store
 * and closes every connection WITHOUT a TERMINATE; the store is closed), the process that
 * `serve` started as becomes a small supervisor: it starts the new `serve` as its child, passes
 * SIGTERM/SIGINT/SIGHUP on to it, and exits with its exit status. Its PID stays, so a service
 * manager (systemd) or a shell keeps seeing the same gateway process. A gateway that already
 * runs under the supervisor (SSLGATE_SUPERVISED=1) just exits with RESTART_EXIT_CODE after its
 * handover and the supervisor starts the next one: one supervisor however many restarts.
 *
 * The clients see their TLS connection close without a goodbye and reconnect with their cookie
 * (openconnect at once, then every 10 s; `sslgate connect` likewise), get the same address from
 * the store, and their data plane resumes: the interruption is the new process's start-up plus
 * the client's retry interval.
 */
import { spawn } from 'node:child_process';

/** `serve` exits with this after a handover when a supervisor will start the next one (EX_TEMPFAIL). */
export const RESTART_EXIT_CODE = 75;
export const SUPERVISED_ENV = 'SSLGATE_SUPERVISED';

export function isSupervised(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[SUPERVISED_ENV] === '1';
}

/** Runs `sslgate serve` (this process's own command line) again each time it asks; its final exit code. */
export async function superviseRestarts(onStart: (pid: number) => void): Promise<number> {
  for (;;) {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, [SUPERVISED_ENV]: '1' } });
    if (child.pid !== undefined) onStart(child.pid);
    const forward = (sig: NodeJS.Signals) => (): void => void child.kill(sig);
    const handlers = (['SIGTERM', 'SIGINT', 'SIGHUP'] as const).map((sig) => [sig, forward(sig)] as const);
    for (const [sig, h] of handlers) process.on(sig, h);
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (c, s) => resolve({ code: c, signal: s }));
      child.once('error', () => resolve({ code: 1, signal: null }));
    });
    for (const [sig, h] of handlers) process.off(sig, h);
    if (code === RESTART_EXIT_CODE) continue;
    return code ?? (signal === 'SIGTERM' || signal === 'SIGINT' ? 0 : 1);
  }
}
