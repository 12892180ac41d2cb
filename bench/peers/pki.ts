/**
 * One server certificate for every gateway of a benchmark run: ocserv and sslgate then do the
 * same public-key work per handshake (ECDSA P-256), and clients pin it with --servercert.
 * The subject address does not matter: clients pin the key.
 */
import * as fs from 'node:fs';
import { tempDir } from '../../test/helpers/netns.js';
import { makePki, type Pki } from '../../test/helpers/ocserv.js';

export interface BenchPki {
  pki: Pki;
  certFile: string;
  keyFile: string;
  pin: string;
}

export async function makeBenchPki(): Promise<BenchPki> {
  const dir = tempDir('benchpki');
  // ocserv's workers run as nobody and read the certificate from here.
  fs.chmodSync(dir, 0o755);
  const pki = await makePki(dir, '10.77.0.1', [], 'ec');
  return { pki, certFile: pki.serverCertFile, keyFile: pki.serverKeyFile, pin: pki.pin };
}
