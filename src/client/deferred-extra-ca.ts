/**
 * NODE_EXTRA_CA_CERTS, honoured without its start-up cost (issue 11, start-to-ping).
 *
 * Node 20 reads the file named by NODE_EXTRA_CA_CERTS, and builds its whole root store with it,
 * before any script runs (measured: `node -e 0` 501M instructions with this machine's
 * 144-certificate file, 87M without). `sslgate connect` with a --servercert pin never reads a CA
 * verdict, so that work is wasted on every start. bin/sslgate's shell line therefore moves the
 * variable to SSLGATE_DEFERRED_EXTRA_CA_CERTS for `connect`; here it is taken back:
 *  - NODE_EXTRA_CA_CERTS is set again in process.env, so the processes the client starts
 *    (--script, vpnc-script) see what the user set;
 *  - the file name goes to the TLS settings, which add its certificates to the bundled roots
 *    only where Node would have used them: when the system store is in use (tls-connect.ts).
 * Run as `node bin/sslgate connect`, Node has loaded the file itself and there is nothing to take.
 */
import { readFileSync } from 'node:fs';

export const DEFERRED_EXTRA_CA_VAR = 'SSLGATE_DEFERRED_EXTRA_CA_CERTS';

/** The deferred file name, if bin/sslgate deferred one; restores NODE_EXTRA_CA_CERTS. Once per process. */
export function takeDeferredExtraCaFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env[DEFERRED_EXTRA_CA_VAR];
  delete env[DEFERRED_EXTRA_CA_VAR];
  if (file === undefined || file === '') return undefined;
  env['NODE_EXTRA_CA_CERTS'] = file;
  return file;
}

/**
 * The file's PEM text, or undefined with a warning when it cannot be read: Node itself only warns
 * ("Ignoring extra certs from ...") and goes on with its bundled roots, and so do we.
 */
export function readExtraCaFile(file: string, warn: (msg: string) => void): string | undefined {
  try {
    const pem = readFileSync(file, 'utf8');
    if (pem.includes('-----BEGIN CERTIFICATE-----')) return pem;
    warn(`ignoring extra certificates from NODE_EXTRA_CA_CERTS=${file}: no PEM certificate in it`);
  } catch (e) {
    warn(`ignoring extra certificates from NODE_EXTRA_CA_CERTS=${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return undefined;
}
