/**
 * Our User-Agent. It starts with "AnyConnect" because recent ASA firmware refuses agents that do
 * not (quirk 1; openconnect 9.12 changed its default the same way). ocserv 1.1 then treats us as
 * Cisco AnyConnect (§1.6), which only changes how IPv6 DNS servers are announced.
 */
import { VERSION } from '../version.js';

export const DEFAULT_USER_AGENT = `AnyConnect-compatible sslgate VPN Agent v${VERSION}`;
