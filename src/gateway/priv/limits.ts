/** Sizes shared by both ends of the privileged channel. */

/** Longest frame the privileged process accepts from the network process (auth requests are tiny). */
export const MAX_FRAME_FROM_NETWORK = 64 * 1024;
/** Longest frame the network process accepts (the config and the profile travel this way). */
export const MAX_FRAME_FROM_PRIVILEGED = 64 * 1024 * 1024;
/** A user name as the auth part accepts it: USER_NAME in user-store.ts allows 64 characters. */
export const USER_NAME_MAX_BYTES = 256;
/** Password checks running at once in the privileged process (scrypt: CPU and 16 MiB each). */
export const AUTH_CONCURRENCY = 4;
/** Password checks waiting beyond that; more are answered "busy" at once. */
export const AUTH_QUEUE = 512;

/**
 * Logins the privileged process works on at once (each may wait seconds on a RADIUS or LDAP
 * server); beyond it the answer is "busy" at once. Bounds memory if a flood or a compromised
 * network process sends auth requests faster than backends answer.
 */
export const MAX_LOGINS_IN_FLIGHT = 1024;

/**
 * RADIUS Class attributes a session keeps (accounting echoes them back, RFC 2865 §5.25): a value
 * is at most 253 bytes, 400 leaves room for its base64; a server sends one or a few.
 */
export const RADIUS_CLASS_MAX = { items: 16, bytes: 400 } as const;
