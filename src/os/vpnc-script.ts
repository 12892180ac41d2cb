/**
 * Runs a vpnc-script (Debian's /usr/share/vpnc-scripts/vpnc-script, or the user's) the way
 * openconnect does: `/bin/sh -c SCRIPT` with the inherited environment, minus stale VPN
 * variables, plus the given ones (built by src/client/vpnc-env.ts) (`script.c` script_config_tun). The script's
 * output is passed on line by line; a non-zero exit is an error with its last lines.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Variables of the vpnc-script contract: cleared from the inherited environment before ours go in. */
export function isScriptVariable(name: string): boolean {
  return /^(INTERNAL_IP[46]_|CISCO_)/.test(name) || ['reason', 'VPNGATEWAY', 'VPNPID', 'TUNDEV', 'LOG_LEVEL', 'IDLE_TIMEOUT'].includes(name);
}

export class VpncScriptError extends Error {
  constructor(message: string, readonly exitCode: number | null) {
    super(message);
    this.name = 'VpncScriptError';
  }
}

export interface RunScriptOptions {
  /** each line the script prints (stdout and stderr) */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  timeoutMs?: number;
  baseEnv?: NodeJS.ProcessEnv;
}

export function runVpncScript(script: string, vars: Record<string, string>, o: RunScriptOptions = {}): Promise<void> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(o.baseEnv ?? process.env)) if (!isScriptVariable(k)) env[k] = v;
  Object.assign(env, vars);
  const reason = vars['reason'] ?? '?';
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: child[stream], crlfDelay: Infinity }).on('line', (l) => {
        tail.push(l);
        if (tail.length > 5) tail.shift();
        o.onLine?.(l, stream);
      });
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new VpncScriptError(`cannot run script ${script} (${reason}): ${e.message}`, null));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const last = tail.length ? `: ${tail.join(' | ')}` : '';
      reject(new VpncScriptError(`script ${script} (${reason}) ${signal ? `was killed by ${signal}` : `exited with ${code}`}${last}`, code));
    });
  });
}
