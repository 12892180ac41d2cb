/**
 * Key schedule pieces shared by all modes.
 *
 * - key_block = PRF(master, "key expansion", server_random ‖ client_random)
 *   (RFC 5246 §6.3; PROTOCOL.md §6.3/§6.4), split as client MAC, server MAC,
 *   client key, server key, client IV/salt, server IV/salt.
 * - master_secret = PRF(pre_master, "master secret", client_random ‖ server_random)
 *   (RFC 5246 §8.1) or, with Extended Master Secret, PRF(pre_master,
 *   "extended master secret", session_hash) (RFC 7627 §4).
 * - verify_data = PRF(master, "client finished"/"server finished", Hash(handshake))[0..12)
 *   (RFC 5246 §7.4.9).
 * - Plain-PSK premaster (RFC 4279 §2): uint16(N) ‖ N zero bytes ‖ uint16(N) ‖ psk.
 */
import { MASTER_SECRET_LENGTH, VERIFY_DATA_LENGTH, type DtlsVersion } from './constants.js';
import { prf } from './prf.js';
import { keyBlockLength, type CipherSuite } from './suites.js';

/** Key material for one direction of record protection. */
export interface DirectionKeys {
  readonly macKey: Buffer; // empty for AEAD suites
  readonly encKey: Buffer;
  /** CBC: unused (explicit IVs); GCM: 4-byte salt; ChaCha20: 12-byte IV. */
  readonly fixedIv: Buffer;
}

export interface KeyBlock {
  readonly client: DirectionKeys;
  readonly server: DirectionKeys;
  /** The whole key block, for test vectors. */
  readonly raw: Buffer;
}

export function deriveKeyBlock(
  version: DtlsVersion,
  suite: CipherSuite,
  masterSecret: Buffer,
  clientRandom: Buffer,
  serverRandom: Buffer,
): KeyBlock {
  const raw = prf(
    version,
    suite.prfHash,
    masterSecret,
    'key expansion',
    Buffer.concat([serverRandom, clientRandom]),
    keyBlockLength(suite),
  );
  let off = 0;
  const take = (n: number): Buffer => {
    const b = raw.subarray(off, off + n);
    off += n;
    return b;
  };
  const cMac = take(suite.macLength);
  const sMac = take(suite.macLength);
  const cKey = take(suite.keyLength);
  const sKey = take(suite.keyLength);
  const cIv = take(suite.fixedIvLength);
  const sIv = take(suite.fixedIvLength);
  return {
    raw,
    client: { macKey: cMac, encKey: cKey, fixedIv: cIv },
    server: { macKey: sMac, encKey: sKey, fixedIv: sIv },
  };
}

export function deriveMasterSecret(
  version: DtlsVersion,
  suite: CipherSuite,
  preMaster: Buffer,
  clientRandom: Buffer,
  serverRandom: Buffer,
): Buffer {
  return prf(
    version,
    suite.prfHash,
    preMaster,
    'master secret',
    Buffer.concat([clientRandom, serverRandom]),
    MASTER_SECRET_LENGTH,
  );
}

export function deriveExtendedMasterSecret(
  version: DtlsVersion,
  suite: CipherSuite,
  preMaster: Buffer,
  sessionHash: Buffer,
): Buffer {
  return prf(version, suite.prfHash, preMaster, 'extended master secret', sessionHash, MASTER_SECRET_LENGTH);
}

export function pskPreMasterSecret(psk: Buffer): Buffer {
  const n = psk.length;
  const out = Buffer.alloc(4 + 2 * n); // zero-filled: the "other_secret" is N zero bytes
  out.writeUInt16BE(n, 0);
  out.writeUInt16BE(n, 2 + n);
  psk.copy(out, 4 + n);
  return out;
}

export function computeVerifyData(
  version: DtlsVersion,
  suite: CipherSuite,
  masterSecret: Buffer,
  sender: 'client' | 'server',
  handshakeHash: Buffer,
): Buffer {
  return prf(version, suite.prfHash, masterSecret, `${sender} finished`, handshakeHash, VERIFY_DATA_LENGTH);
}
