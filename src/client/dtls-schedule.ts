/**
 * When the client (re)tries DTLS ([SEED] §6.1, PROTOCOL.md §6.10).
 *
 * The seed: "if the gateway does not answer the DTLS ClientHello, AnyConnect retries with an
 * exponential back-off starting at 1 s, up to 16 s, at most 5 retries; then it applies
 * X-CSTP-MTU to the adapter (the user sees a 'reconnect') and carries on over TLS".
 *
 * One round of attempts, exactly:
 *   attempt 1 (the ClientHello) at t0; retries 1..5 at t0 + 1, 3, 7, 15, 31 s (waits of
 *   1, 2, 4, 8, 16 s); the last retry gets the longest wait, 16 s, to be answered: with no
 *   handshake by t0 + 47 s the round failed and the session falls back.
 * The retries are the DTLS module's own RFC 6347 retransmissions of the same ClientHello, with
 * its timer set to exactly this schedule (first timeout 1 s, doubling, capped at 16 s; handshake
 * deadline 47 s). Retransmitting, rather than starting a new association each time, means an
 * answer to an earlier attempt that arrives late still completes the handshake, and ocserv —
 * which hands the UDP flow to the session's worker on the first ClientHello it sees — gets
 * ordinary retransmissions instead of competing associations (§6.8: it ignores a new one for
 * the same session within 3 s). Once the gateway answered, the rest of the handshake runs on
 * the same timer within the same deadline.
 *
 * Afterwards (not in the seed, which stops at the fallback; openconnect retries every 60 s,
 * `openconnect_setup_dtls(vpninfo, 60)`):
 *   - a round failed (the fallback happened): a new round 60 s later, for as long as the tunnel
 *     lives, so DTLS comes back when UDP does;
 *   - DTLS was up and dead peer detection found it silent (2 x X-DTLS-DPD): back to TLS at once
 *     and a new round at once (a path that drops UDP for a while recovers within the round);
 *   - the gateway closed DTLS (close_notify, DISCONNECT): a new round after 60 s;
 *   - the resumption was refused (a full handshake instead: possible MITM, §6.3): no more DTLS
 *     for this CONNECT, as openconnect.
 * Every round uses a new UDP socket (new source port), as openconnect's DTLS reconnects do, so
 * the gateway sees a new flow and maps it by its ClientHello (§6.8).
 */
import type { CommonOptions } from '../dtls/index.js';

/** Waits before retries 1..5. */
export const DTLS_RETRY_DELAYS_MS: readonly number[] = [1000, 2000, 4000, 8000, 16000];
/** Attempts per round: the first ClientHello and 5 retries. */
export const DTLS_ATTEMPTS = DTLS_RETRY_DELAYS_MS.length + 1;
/** How long the last retry may take to be answered: the longest wait. */
export const DTLS_LAST_WAIT_MS = 16_000;
/** A round: 1 + 2 + 4 + 8 + 16 s of retries and 16 s for the last one. */
export const DTLS_ROUND_MS = DTLS_RETRY_DELAYS_MS.reduce((a, b) => a + b, 0) + DTLS_LAST_WAIT_MS;
/** Pause before the next round after a failed one (openconnect's DTLS retry period). */
export const DTLS_RETRY_LATER_MS = 60_000;

/** DtlsClient timer options that make its retransmissions follow the round above. */
export function dtlsRoundTimers(): Pick<CommonOptions, 'initialRetransmitMs' | 'maxRetransmitMs' | 'handshakeTimeoutMs'> {
  return { initialRetransmitMs: DTLS_RETRY_DELAYS_MS[0]!, maxRetransmitMs: DTLS_LAST_WAIT_MS, handshakeTimeoutMs: DTLS_ROUND_MS };
}

/** The planned start of attempt n (1-based) relative to the round's start, in ms. */
export function plannedAttemptOffsetMs(n: number): number {
  let t = 0;
  for (let i = 0; i < n - 1; i++) t += DTLS_RETRY_DELAYS_MS[i]!;
  return t;
}
