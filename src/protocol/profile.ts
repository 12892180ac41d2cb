/**
 * The AnyConnect profile as the gateway serves it (PROTOCOL.md §9): the manifest entry carries
 * the SHA-1 of the exact bytes served; clients download when their copy's SHA-1 differs.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { ProfileManifestEntry } from './auth-xml.js';

/** URI prefix under which the profile is served (ocserv's layout, §9.2). */
export const PROFILE_PREFIX = '/profiles/';

export function sha1Hex(data: Uint8Array): string {
  return createHash('sha1').update(data).digest('hex').toUpperCase();
}

export function profileManifest(fileName: string, content: Uint8Array): ProfileManifestEntry {
  return { uri: PROFILE_PREFIX + encodeURIComponent(basename(fileName)), sha1: sha1Hex(content) };
}

/**
 * Does a GET path ask for the profile at `uri`? openconnect appends ":<port>" to the path on
 * non-443 ports and sometimes %-encodes the slash (`/profiles%2Fprofile.xml`, seen in the
 * ocserv transcripts), so compare decoded paths by prefix (PROTOCOL.md §9.2, quirk 32).
 */
export function isProfileRequest(path: string, uri: string): boolean {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path.split('?')[0]!);
  } catch {
    return false;
  }
  const want = decodeURIComponent(uri);
  return decoded === want || decoded.startsWith(want + ':') || decoded.startsWith(PROFILE_PREFIX);
}
