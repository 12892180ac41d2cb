/**
 * The transport modes the throughput items compare, one row pair (up/down) each. Adding a mode
 * here adds its rows; a side that cannot do a mode shows "n/a (not implemented)".
 *
 * Both gateways run their default configuration (DTLS with PSK-NEGOTIATE and the legacy
 * resumption handshakes); the mode is chosen by what openconnect offers in its CONNECT request
 * (`--dtls-ciphers`), as the reference transcript shared/reference/transcripts/ocserv-dtls-modes.txt
 * maps it out for ocserv 1.1.6 and openconnect 9.01. The suite checks openconnect's
 * "Established DTLS connection ... Ciphersuite" line against `dtls`; a gateway that answers with
 * something else, or with no DTLS, makes its rows n/a with openconnect's line as the reason.
 *
 * Our client takes openconnect's option names (`--no-dtls`, `--dtls-ciphers`); an option its
 * `--help` does not list makes that mode n/a for it (for TLS, `--no-dtls` is simply left out: a
 * client without DTLS is TLS-only anyway). Its "DTLS up after N ms: <plan>, <version> <suite>"
 * line is checked against `sslgateClientDtls`.
 */

export interface Mode {
  id: string;
  title: string;
  /** openconnect arguments */
  openconnectArgs: string[];
  /** null for TLS; else what openconnect's "Established DTLS connection" line must match */
  dtls: RegExp | null;
  /** appended to our gateway's config for this mode (none needed today) */
  sslgateYaml: string;
  /** our client's arguments for this mode */
  sslgateClientArgs: string[];
  /** what follows "DTLS up after N ms: " in our client's output, or null for TLS */
  sslgateClientDtls: RegExp | null;
  /** goal for our gateway's throughput, as a multiple of ocserv's */
  gatewayGoal: number;
}

export const MODES: Mode[] = [
  {
    id: 'tls',
    title: 'TLS only (CSTP)',
    openconnectArgs: ['--no-dtls'],
    dtls: null,
    sslgateYaml: '',
    sslgateClientArgs: ['--no-dtls'],
    sslgateClientDtls: null,
    gatewayGoal: 1.5,
  },
  {
    id: 'dtls-psk',
    title: 'DTLS 1.2, PSK-NEGOTIATE (openconnect\'s default)',
    openconnectArgs: [],
    dtls: /\(DTLS1\.2\)-\(PSK\)/,
    sslgateYaml: '',
    sslgateClientArgs: [],
    sslgateClientDtls: /^PSK-NEGOTIATE, DTLS 1\.2 /,
    gatewayGoal: 1.2,
  },
  {
    id: 'dtls12-resume',
    title: 'DTLS 1.2 by session resumption (OC-DTLS1_2-AES256-GCM)',
    openconnectArgs: ['--dtls-ciphers=OC-DTLS1_2-AES256-GCM'],
    dtls: /\(DTLS1\.2\)-\((?!PSK)/,
    sslgateYaml: '',
    sslgateClientArgs: ['--dtls-ciphers=OC-DTLS1_2-AES256-GCM'],
    sslgateClientDtls: /^DTLS 1\.2 /,
    gatewayGoal: 1.2,
  },
  {
    id: 'dtls0.9',
    title: 'DTLS 0.9 (Cisco pre-RFC), AES128-SHA',
    openconnectArgs: ['--dtls-ciphers=AES128-SHA'],
    dtls: /\(DTLS0\.9\)/,
    sslgateYaml: '',
    sslgateClientArgs: ['--dtls-ciphers=AES128-SHA'],
    sslgateClientDtls: /^DTLS 0\.9 /,
    gatewayGoal: 1.2,
  },
];

