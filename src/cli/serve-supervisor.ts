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
 * The clients see their TLS connection close without a goodbye and reconnect with their cookie,
 * get the same address from the store, and their data plane resumes. The TLS port never closes:
 * its listening socket is bound by the first process (priv/parent.ts, native/listen.c) and passed
 * to each new one, so a client's immediate reconnect waits in the accept queue until the new
 * gateway accepts it: the interruption is the new process's start-up.
 */
import { spawn } from 'node:child_process';

/** `serve` exits with this after a handover when a supervisor will start the next one (EX_TEMPFAIL). */
export const RESTART_EXIT_CODE = 75;
export const SUPERVISED_ENV = 'SSLGATE_SUPERVISED';

export function isSupervised(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[SUPERVISED_ENV] === '1';
}

/**
 * Runs `sslgate serve` (this process's own command line) again each time it asks; its final exit
 * code. `listen`: the TLS port's listening socket, passed on to each new process as its fd 3 so
 * the port stays open between them (clients that reconnect meanwhile wait in its queue).
 */
export async function superviseRestarts(onStart: (pid: number) => void, listen: { fd: number; address: string } | null): Promise<number> {
  for (;;) {
    const env = { ...process.env, [SUPERVISED_ENV]: '1', ...(listen ? { SSLGATE_LISTEN_FD: '3', SSLGATE_LISTEN_ADDR: listen.address } : {}) };
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: listen ? ['inherit', 'inherit', 'inherit', listen.fd] : 'inherit', env });
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
