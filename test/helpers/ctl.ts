/**
 * Runs `bin/sslgate ctl` from the host (root namespace) against a gateway running in a testbed
 * namespace: the admin Unix socket is in the gateway's state folder, which every namespace sees.
 */
import { execIn, type ExecResult, type Ns } from './netns.js';
import { SSLGATE_BIN, type SslgateGateway } from './sslgate.js';

export interface CtlResult extends ExecResult {
  ms: number;
}

export async function ctl(gw: SslgateGateway, args: string[], timeoutMs = 20_000): Promise<CtlResult> {
  const t0 = Date.now();
  const r = await execIn(null, process.execPath, [SSLGATE_BIN, 'ctl', '--config', gw.configFile, ...args], { timeoutMs });
  return { ...r, ms: Date.now() - t0 };
}

/** `ctl ... --json`, parsed; throws with the output when the command fails. */
export async function ctlJson<T>(gw: SslgateGateway, args: string[]): Promise<T> {
  const r = await ctl(gw, [...args, '--json']);
  if (r.code !== 0) throw new Error(`sslgate ctl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

/**
 * GETs a metrics URL from inside a namespace (where the gateway's metrics listener is). `ms` is
 * the second of two requests: the first pays for fetch's own start-up in the new process.
 */
export async function scrape(ns: Ns, url: string): Promise<{ text: string; ms: number; contentType: string }> {
  const u = JSON.stringify(url);
  const js = `await (await fetch(${u})).text();const t0=performance.now();const r=await fetch(${u});const t=await r.text();` +
    `process.stderr.write(JSON.stringify({ms:performance.now()-t0,status:r.status,type:r.headers.get('content-type')}));process.stdout.write(t);`;
  const r = await ns.exec(process.execPath, ['--input-type=module', '-e', js], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`scrape ${url} failed: ${r.stderr}`);
  const meta = JSON.parse(r.stderr) as { ms: number; status: number; type: string };
  if (meta.status !== 200) throw new Error(`scrape ${url}: HTTP ${meta.status}`);
  return { text: r.stdout, ms: meta.ms, contentType: meta.type };
}
