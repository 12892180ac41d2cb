/**
 * Steps 2 and 3 of the flow ([SEED] §2 "POST - 그룹 선택", §3 "POST - 사용자 인증"), following
 * PROTOCOL.md §2.4:
 *
 *   1. POST the v2 `init` (with `<group-select>` when --authgroup is given, so a gateway that
 *      honours it answers with that group's form at once).
 *   2. Each answer is a form, a `<client-cert-request/>`, or success. A form's group_list is
 *      checked against the chosen group; a different group restarts with a new `init` carrying
 *      `<group-select>` (never an auth-reply with only the group: ASA refuses it, §2.4).
 *   3. Fill the form (forms.ts), map it to the wire (replyParts), echo `<opaque>`, POST to the
 *      form's action. ocserv 1.1 asks the user name and the password in two rounds; ASA in one;
 *      challenge rounds answer only their own fields — the loop does not care how many.
 *   4. Success keeps the `webvpn` cookie (from `<session-token>` or Set-Cookie), the session id,
 *      `<server-cert-hash>` and the profile manifest.
 *
 * Failures: ocserv answers a wrong password with `401` and closes (§2.6.8); ASA with the form
 * again plus `<error>`. Either ends the run with the gateway's text unless a person is typing,
 * who gets another try. A gateway without aggregate-auth v2 (non-XML answer, bare `<auth>`,
 * same-host redirect) is reported as such (§2.7).
 *
 * The connection stays open when the gateway allows it and is handed to CONNECT (openconnect
 * does the same; it saves a TCP and TLS handshake).
 */
import {
  buildAuthReply,
  buildInit,
  GatewayAuthError,
  parseGatewayAuth,
  profileFromWebvpnc,
  replyParts,
  type AuthForm,
  type ClientIdentity,
  type FormField,
  type GatewayAuthDoc,
  type ProfileEntry,
} from '../protocol/auth-xml-client.js';
import type { HttpResponse } from '../protocol/http.js';
import { probeCertificateRequest } from './cert-request-probe.js';
import { CookieJar } from './cookies.js';
import { AuthFailedError, ClientError } from './errors.js';
import type { FormFiller } from './forms.js';
import { resolveOn, sameHost, type GatewayUrl } from './gateway-url.js';
import { ConnectionClosedError, HttpsConnection } from './https-connection.js';
import type { Progress } from './progress.js';
import { authRequestHead } from './request-headers.js';
import type { TlsConnector, TrustedSocket } from './tls-connect.js';

export interface AuthFlowOptions {
  url: GatewayUrl;
  connector: TlsConnector;
  userAgent: string;
  identity: ClientIdentity;
  /** --authgroup: an option's value or its label */
  authgroup?: string;
  filler: FormFiller;
  progress: Progress;
  /** a connection to url already being opened (overlapped with loading the client's modules) */
  first?: Promise<TrustedSocket>;
}

export interface AuthResult {
  /** the `webvpn` cookie: the session */
  cookie: string;
  /** `<session-token>` when the gateway sent one (ASA style; used for the logout POST) */
  sessionToken?: string;
  sessionId?: string;
  serverCertHash?: string;
  /** the post-login banner, when not already shown with a form */
  banner?: string;
  profile?: ProfileEntry;
  /** the gateway after redirects: CONNECT goes there */
  url: GatewayUrl;
  jar: CookieJar;
  /** the auth connection, when the gateway kept it open */
  conn: HttpsConnection | null;
  /** the last verified connection's details */
  tls: TrustedSocket;
  group?: string;
  user?: string;
}

const MAX_ROUNDS = 16; // ocserv closes after 16 requests on one connection anyway (quirk 43)
const MAX_GROUP_RESTARTS = 5; // openconnect's limit
const MAX_REDIRECTS = 10;
const MAX_TRIES = 3; // interactive retries after a failed login

/** group_list option matching --authgroup: value first, then label, then case-insensitively (ocserv #267). */
function matchGroup(field: Extract<FormField, { kind: 'select' }>, wanted: string): string | undefined {
  const o =
    field.options.find((x) => x.value === wanted) ??
    field.options.find((x) => x.label === wanted) ??
    field.options.find((x) => x.value.toLowerCase() === wanted.toLowerCase() || x.label.toLowerCase() === wanted.toLowerCase());
  return o?.value;
}

function listGroups(field: Extract<FormField, { kind: 'select' }>): string {
  return field.options.map((o) => (o.label && o.label !== o.value ? `${o.value} ("${o.label}")` : o.value)).join(', ');
}

export async function authenticate(o: AuthFlowOptions): Promise<AuthResult> {
  const state: { conn: HttpsConnection | null } = { conn: null };
  try {
    return await loginLoop(o, state);
  } catch (e) {
    // A failed login leaves nothing open behind it.
    state.conn?.destroy();
    throw e;
  }
}

async function loginLoop(o: AuthFlowOptions, state: { conn: HttpsConnection | null }): Promise<AuthResult> {
  const { progress, connector, filler } = o;
  let jar = new CookieJar();
  let url = o.url;
  // (a cast, not an annotation: the closures below assign it, which narrowing cannot see)
  let conn = null as HttpsConnection | null;
  let first = o.first;
  let tls: TrustedSocket | undefined;
  let target = url.path;
  let lastInitGroup: string | undefined;
  let chosenGroup: string | undefined;
  // The first init names no group even with --authgroup: ocserv 1.1 would put any name we send
  // at the top of its list, and an unknown group could then not be told from an offered one.
  let body = buildInit({ identity: o.identity, groupAccess: url.groupAccess });
  let dumpText: string | undefined;
  let opaque: GatewayAuthDoc['opaque'];
  let certFailSent = false;
  let groupRestarts = 0;
  let redirects = 0;
  let tries = 1;
  let submitted = false;
  /** "authId:field names" of the form we answered last, to see when the same form comes back */
  let lastForm = '';
  /** that form's `<message>`, to tell a re-asked form from a new question of the same shape */
  let lastMessage: string | undefined;
  /** X-Support-HTTP-Auth: dropped when the gateway offers SPNEGO with a fallback (§2.6.12) */
  let httpAuth = true;
  /** each banner is shown once, though every form of a login may repeat it */
  const bannersShown = new Set<string>();
  let user: string | undefined;

  const ensure = async (): Promise<{ c: HttpsConnection; fresh: boolean }> => {
    if (conn?.open) return { c: conn, fresh: false };
    conn?.destroy();
    const pending = first;
    first = undefined;
    tls = await (pending ?? connector.connect(url));
    const how = tls.decision.how === 'pinned' ? 'pinned' : 'verified';
    progress.step(`Connected to ${url.hostHeader} (${tls.remoteAddress}), ${tls.protocol} ${tls.cipher}, certificate ${how}`);
    progress.info(`server certificate SHA-1 ${tls.decision.sha1}, ${tls.decision.pin}`);
    conn = new HttpsConnection(tls.socket, progress);
    state.conn = conn;
    return { c: conn, fresh: true };
  };

  const post = async (): Promise<HttpResponse> => {
    for (let attempt = 0; ; attempt++) {
      const { c, fresh } = await ensure();
      const head = authRequestHead({ method: 'POST', target, hostHeader: url.hostHeader, userAgent: o.userAgent, cookie: jar.header(), body, httpAuth });
      try {
        return await c.request(head, body, dumpText !== undefined ? { dumpText } : {});
      } catch (e) {
        // A kept-alive connection may have been closed by the gateway just before we wrote:
        // retry once on a new one (auth state survives in the cookies, e.g. webvpncontext).
        if (e instanceof ConnectionClosedError && !fresh && attempt === 0) continue;
        throw e instanceof ConnectionClosedError ? new ClientError(e.message) : e;
      }
    }
  };

  const restart = (init: string): void => {
    body = init;
    dumpText = undefined;
  };

  for (let round = 0; round < MAX_ROUNDS; round++) {
    const res = await post();
    jar.setAll(res.headers.getAll('set-cookie'));

    // Redirects (§1.2 item 7): another host = ASA load balancing, follow; the same host in XML
    // mode means the gateway does not speak XML POST.
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      const next = resolveOn(url, location);
      if (sameHost(next, url)) {
        throw new ClientError(
          `${url.hostHeader} redirected the login to ${next.path}: it does not support aggregate-auth v2 (XML POST), and sslgate does not implement the legacy HTML login`,
        );
      }
      if (++redirects > MAX_REDIRECTS) throw new ClientError('too many redirects');
      progress.step(`Redirected to ${next.hostHeader}`);
      conn?.destroy();
      conn = null;
      url = next;
      jar = new CookieJar(); // cookies belong to the host that set them
      target = url.path;
      restart(buildInit({ identity: o.identity, groupAccess: url.groupAccess, ...(chosenGroup ?? o.authgroup ? { groupSelect: (chosenGroup ?? o.authgroup)! } : {}) }));
      continue;
    }

    if (res.status === 401 || res.status === 403) {
      const negotiate = res.headers.getAll('www-authenticate').some((v) => /^negotiate/i.test(v));
      if (negotiate) {
        // ocserv spells the offer X-HTTP-Auth-Support, the draft X-Support-HTTP-Auth (§2.6.12).
        const fallback = [res.headers.get('x-http-auth-support'), res.headers.get('x-support-http-auth')].some((v) => v?.toLowerCase() === 'fallback');
        if (fallback && httpAuth) {
          progress.info('the gateway offers Kerberos/SPNEGO with a fallback; asking again without it');
          httpAuth = false;
          round--;
          continue; // same request, same body
        }
        throw new AuthFailedError(`${url.hostHeader} asks for Kerberos/SPNEGO (HTTP ${res.status}), which sslgate does not support`);
      }
      const text = textOfFailure(res);
      if (filler.prompted && tries < MAX_TRIES) {
        // ocserv closed the connection: start over with a new one and ask again.
        tries++;
        progress.warn(`login failed: ${text}`);
        conn?.destroy();
        conn = null;
        jar.delete('webvpncontext');
        target = url.path;
        opaque = undefined;
        submitted = false;
        restart(buildInit({ identity: o.identity, groupAccess: url.groupAccess, ...(chosenGroup !== undefined ? { groupSelect: chosenGroup } : {}) }));
        lastInitGroup = chosenGroup;
        continue;
      }
      throw new AuthFailedError(`login failed: ${text}${await certHint(o, url)}`);
    }
    if (res.status !== 200) {
      const reason = res.headers.get('x-reason');
      throw new ClientError(`${url.hostHeader} answered the login with HTTP ${res.status} ${res.reason}${reason ? ` (${reason})` : ''}`);
    }

    let doc: GatewayAuthDoc;
    try {
      doc = parseGatewayAuth(res.body.toString('utf8'));
    } catch (e) {
      const why = e instanceof GatewayAuthError ? e.message : String(e);
      throw new ClientError(`${url.hostHeader} does not speak aggregate-auth v2 (${why}); sslgate does not implement the legacy HTML login`);
    }
    if (doc.legacy) {
      throw new ClientError(
        `${url.hostHeader} answered with a legacy login form (no <config-auth>): it does not support aggregate-auth v2, which sslgate requires` +
          (doc.message ? ` (gateway says: ${doc.message})` : ''),
      );
    }
    if (doc.opaque) opaque = doc.opaque;
    if (doc.sessionToken) jar.put('webvpn', doc.sessionToken);

    if (doc.clientCertRequest) {
      if (!connector.hasClientCert) {
        throw new AuthFailedError(`${url.hostHeader} asks for a client certificate, but none is configured (use --certificate/--sslkey)${await certHint(o, url, true)}`);
      }
      if (certFailSent) throw new AuthFailedError(`${url.hostHeader} did not accept the client certificate`);
      // We presented ours in the handshake and the gateway still asks: tell it so on a new
      // connection and go on with the other methods (§3.2, openconnect `auth.c`).
      progress.warn('the gateway did not accept the client certificate; trying other login methods');
      certFailSent = true;
      conn?.destroy();
      conn = null;
      target = url.path;
      restart(buildInit({ identity: o.identity, groupAccess: url.groupAccess, clientCertFail: true, ...(lastInitGroup !== undefined ? { groupSelect: lastInitGroup } : {}) }));
      continue;
    }

    if (doc.success) {
      const cookie = jar.get('webvpn');
      if (!cookie) throw new ClientError(`${url.hostHeader} reported success but sent no session cookie (webvpn)`);
      // The gateway's last words (a RADIUS Reply-Message on accept, for example).
      if (doc.message && !bannersShown.has(doc.message)) progress.step(doc.message);
      if (doc.serverCertHash && tls && doc.serverCertHash.toUpperCase() !== tls.decision.sha1) {
        // §3.1: the hash should be that of the certificate we saw; a TLS-inspecting proxy differs.
        progress.warn(`the gateway reports certificate SHA-1 ${doc.serverCertHash}, but the connection showed ${tls.decision.sha1}`);
      }
      const result: AuthResult = { cookie, url, jar, conn: conn && (conn as HttpsConnection).open ? conn : null, tls: tls! };
      if (doc.sessionToken) result.sessionToken = doc.sessionToken;
      if (doc.sessionId) result.sessionId = doc.sessionId;
      if (doc.serverCertHash) result.serverCertHash = doc.serverCertHash;
      if (doc.banner && !bannersShown.has(doc.banner)) result.banner = doc.banner;
      const profile = doc.profile ?? profileFromWebvpnc(jar.get('webvpnc'));
      if (profile) result.profile = profile;
      if (chosenGroup !== undefined) result.group = chosenGroup;
      if (user !== undefined) result.user = user;
      return result;
    }
    if (doc.type === 'complete' || !doc.form) {
      // Cisco SSE: type="complete" with only <error> is a failure (quirk 33).
      throw new AuthFailedError(`login failed: ${doc.error ?? 'the gateway ended the login without success'}`);
    }

    const form: AuthForm = doc.form;
    if (form.banner && !bannersShown.has(form.banner)) {
      progress.notice(form.banner);
      bannersShown.add(form.banner);
    }
    // A failed submission comes back as the same form: ASA adds <error> (§2.6.8); ocserv 1.1
    // re-asks the password with "Login failed." in <message> (it answers 401 only later). The
    // same shape with a new question is no failure: ocserv's OTP round after the password, a
    // RADIUS challenge (§2.6.4).
    const shape = formShape(form);
    const reasked =
      submitted && shape === lastForm && form.fields.some((f) => f.kind === 'input' && f.type === 'password') && isAskedAgain(form.message, lastMessage);
    const failure = form.error ?? (reasked ? (form.message?.split('\n')[0] ?? 'the gateway asked again') : undefined);
    if (failure !== undefined && /certificate validation failure/i.test(failure) && !connector.hasClientCert) {
      // ASA's words for a missing or refused *client* certificate (quirk 6).
      throw new AuthFailedError(`login failed: ${failure}: the gateway wants a client certificate (use --certificate/--sslkey)${await certHint(o, url, true)}`);
    }
    if (failure !== undefined && submitted) {
      // A person may try again; so may a token, once, with the next code (openconnect oath.c).
      if ((!filler.prompted && !filler.canRetryUnattended(form)) || tries >= MAX_TRIES) throw new AuthFailedError(`login failed: ${failure}`);
      tries++;
      progress.warn(failure);
    } else if (form.error) {
      progress.warn(form.error);
    }
    if (form.authenticationComplete && form.fields.length === 0) {
      restart(buildAuthReply({ identity: o.identity, parts: { auth: [] }, ...(opaque ? { opaque } : {}) }));
      if (form.action) target = resolveOn(url, form.action).path;
      continue;
    }
    if (form.fields.length === 0) throw new AuthFailedError(`login failed: ${form.error ?? form.message ?? 'the gateway sent an empty form'}`);

    // Group selection ([SEED] §2).
    const select = form.fields.find((f): f is Extract<FormField, { kind: 'select' }> => f.kind === 'select' && f.name === 'group_list');
    if (select && form.authId !== 'challenge') {
      if (chosenGroup === undefined) progress.info(`groups offered: ${listGroups(select)}`);
      let wanted: string | undefined;
      // --authgroup, else -F AUTHID:group_list=GROUP (openconnect main.c takes either)
      const authgroup = o.authgroup ?? filler.entry(form.authId, select.name);
      if (authgroup !== undefined) {
        wanted = matchGroup(select, authgroup);
        if (wanted === undefined) throw new ClientError(`the gateway offers no group "${authgroup}"; it offers: ${listGroups(select)}`);
      } else if (filler.interactive && select.options.length > 1 && chosenGroup === undefined) {
        wanted = await filler.chooseGroup(select);
      } else {
        wanted = chosenGroup ?? (select.options.find((x) => x.selected) ?? select.options[0])?.value;
      }
      // The gateway's current group: the option marked selected (ASA), else the one we named in
      // the last init (ocserv moves it to the top but marks nothing), else the first.
      const current =
        select.options.find((x) => x.selected)?.value ??
        (lastInitGroup !== undefined ? matchGroup(select, lastInitGroup) : undefined) ??
        select.options[0]?.value;
      chosenGroup = wanted;
      if (wanted !== undefined && wanted !== current) {
        if (++groupRestarts > MAX_GROUP_RESTARTS) throw new ClientError('the gateway keeps changing the group; giving up');
        progress.info(`selecting group ${wanted}`);
        if (form.action) target = resolveOn(url, form.action).path;
        lastInitGroup = wanted;
        restart(buildInit({ identity: o.identity, groupAccess: `https://${url.hostHeader}${target}`, groupSelect: wanted }));
        continue;
      }
      if (wanted !== undefined) progress.step(`Group: ${select.options.find((x) => x.value === wanted)?.label || wanted}`);
    }

    // The form's instructions, once the group is settled (a group restart re-sends the form).
    const msg = failure !== undefined && form.message?.startsWith(failure) ? form.message.slice(failure.length).trim() : form.message;
    if (msg) progress.step(msg);
    const values = await filler.fill(form, chosenGroup, submitted && failure !== undefined);
    const u = values.get('username');
    if (u !== undefined) user = u;
    const parts = replyParts(form, values);
    const reply = { identity: o.identity, parts, ...(opaque ? { opaque } : {}) };
    body = buildAuthReply(reply);
    dumpText = buildAuthReply({ ...reply, redact: true });
    submitted = true;
    lastForm = shape;
    lastMessage = form.message;
    if (form.action) target = resolveOn(url, form.action).path;
  }
  throw new ClientError(`the login did not finish after ${MAX_ROUNDS} rounds`);
}

/** A form's identity for "the same form came back": auth id and visible field names. */
function formShape(f: AuthForm): string {
  return `${f.authId}:${f.fields.filter((x) => x.kind === 'select' || x.type !== 'hidden').map((x) => x.name).join(',')}`;
}

/** Words of a gateway's message that say the previous answer was refused. */
const FAILURE_WORDS = /\b(fail(ed|ure)?|incorrect|invalid|denied|wrong|reject(ed)?|try again)\b/i;

/**
 * The same form came back after we answered it: is that the gateway asking again (the answer
 * was refused) or a new question that happens to have the same fields? Asking again: no
 * message, the very same message, or one whose first line says so (ocserv: "Login failed.").
 */
export function isAskedAgain(message: string | undefined, previous: string | undefined): boolean {
  if (message === undefined || message === previous) return true;
  return FAILURE_WORDS.test(message.split('\n')[0] ?? '');
}

/** The gateway's words for a 401/403: an XML `<error>` if any, else the reason phrase (ocserv). */
function textOfFailure(res: HttpResponse): string {
  const text = res.body.toString('utf8');
  if (text.trimStart().startsWith('<')) {
    try {
      const doc = parseGatewayAuth(text);
      if (doc.error) return doc.error;
    } catch {
      // not an auth document: use the status line
    }
  }
  return `${res.reason || 'Authentication failed'} (HTTP ${res.status})`;
}

/**
 * When no client certificate is configured, find out whether the gateway asks for one and which
 * CAs it accepts, so the message can say what to do ([SEED] §1, §3.2).
 */
async function certHint(o: AuthFlowOptions, url: GatewayUrl, asked = false): Promise<string> {
  if (o.connector.hasClientCert) return '';
  const info = await probeCertificateRequest(url);
  if (!info.requested) return '';
  const cas = info.authorities.length ? `; it accepts certificates issued by: ${info.authorities.join(' | ')}` : '';
  return asked ? cas : `; the gateway asks for a client certificate and none is configured (use --certificate/--sslkey)${cas}`;
}
