/**
 * The authentication interface (issue 10). Three layers:
 *
 *   AuthHandler (network process, auth-handler.ts)   HTTP + aggregate-auth XML, bans, sessions
 *        |  Authenticator: start / answer  (in `serve` over the privileged channel, priv/)
 *   AuthEngine (auth/engine.ts)                      a group's chain of methods + second factor,
 *        |                                           conversations (prompts) with a handle
 *   Methods: local (user store), radius, ldap, certificate, totp (second factor)
 *
 * A method never sees HTTP or XML: it gets a user name, a secret and its own state, and answers
 * accept / reject / challenge / expired / error. The engine turns a challenge into a Prompt, the
 * handler turns a Prompt into an `<auth id="challenge">` form (PROTOCOL.md §2.6.6) whose answer
 * comes back with the conversation handle (in `<opaque>` and the webvpncontext cookie).
 */

/** What a backend may set on the session (RADIUS Framed-*, MS DNS, Session-Timeout ...). */
export interface SessionAttributes {
  /** dotted IPv4 address the session must get (RADIUS Framed-IP-Address) */
  framedIp?: string;
  /** extra split-include routes, canonical IPv4 CIDR "10.1.0.0/16" (RADIUS Framed-Route) */
  routes?: string[];
  /** DNS servers, dotted IPv4 (MS-Primary/Secondary-DNS-Server) */
  dns?: string[];
  /** seconds; replaces the group's session-timeout (RADIUS Session-Timeout) */
  sessionTimeout?: number;
  /** seconds; replaces the group's idle-timeout (RADIUS Idle-Timeout) */
  idleTimeout?: number;
  /** seconds between accounting Interim-Updates (RADIUS Acct-Interim-Interval) */
  acctInterim?: number;
  /** RADIUS Class values, base64, echoed in accounting (RFC 2865 §5.25) */
  radiusClass?: string[];
}

/** The answer of one method to one step. */
export type MethodResult =
  | {
      kind: 'accept';
      /** the canonical user name, when the method decides it (certificate CN, directory uid) */
      user?: string;
      /** gateway groups this user may use (undefined = the method does not restrict) */
      groups?: string[];
      attrs?: SessionAttributes;
      /** text for the user (RADIUS Reply-Message), shown in the next form or the banner */
      message?: string;
    }
  | { kind: 'reject'; message?: string }
  /** another round: `state` is the method's own (RADIUS State, pending TOTP ...), never sent out */
  | { kind: 'challenge'; message: string; state: unknown; echo?: boolean }
  /** the password is right but expired; `canChange`: the method can set a new one (local users) */
  | { kind: 'expired'; message: string; canChange: boolean; state?: unknown }
  /** the backend could not answer (all servers down, timeout): a clean login failure, logged */
  | { kind: 'error'; message: string };

export interface LoginContext {
  /** the client's address (RADIUS Calling-Station-Id, logs) */
  remote: string;
  /** the group (connection profile) being logged into */
  group: string;
  /** the verified TLS client certificate, if any (certificate method) */
  cert?: ClientCertInfo;
}

/** A TLS client certificate the network process verified against tls.client-ca (and the CRL). */
export interface ClientCertInfo {
  /** subject fields, e.g. { CN: ['alice'], OU: ['Employees'] } */
  subject: Record<string, string[]>;
  /** SHA-256 of the DER, upper-case hex (logs) */
  fingerprint: string;
  serial: string;
  /** subjectAltName e-mail addresses (tls.cert-user: SAN:email); absent when none */
  sanEmail?: string[];
}

/** A method that checks a user name and a secret (local, radius, ldap). */
export interface PasswordMethod {
  readonly name: string;
  authenticate(user: string, password: string, ctx: LoginContext): Promise<MethodResult>;
  /** the answer to this method's challenge (RADIUS Access-Challenge with its State) */
  respond?(user: string, state: unknown, answer: string, ctx: LoginContext): Promise<MethodResult>;
  /** sets a new password after an `expired` result with canChange */
  changePassword?(user: string, oldPassword: string, newPassword: string, state: unknown): Promise<MethodResult>;
  close?(): Promise<void>;
}

/** One input of a follow-up form. */
export interface PromptInput {
  type: 'text' | 'password';
  name: string;
  label: string;
}

/** A follow-up form (`<auth id=...>`): the conversation waits for its answer. */
export interface Prompt {
  /** 'challenge' for OTP / RADIUS challenges (openconnect fills TOTP there by itself), 'passwd-change' for a new password */
  authId: 'challenge' | 'passwd-change';
  title: string;
  message: string;
  inputs: PromptInput[];
  /** text about the previous answer ("Wrong code.") */
  error?: string;
}

/** What a login needs for the session (network side). */
export interface Identity {
  user: string;
  /** the group (connection profile) logged into */
  group: string;
  /** groups the user may use; undefined = every group */
  groups?: string[];
  attrs: SessionAttributes;
  /** names of the methods that passed, in order (logs, ctl) */
  methods: string[];
  /** messages for the user (Reply-Message); shown in the success banner */
  messages: string[];
}

export type AuthOutcome =
  | { kind: 'prompt'; handle: string; prompt: Prompt }
  | { kind: 'success'; identity: Identity }
  | {
      kind: 'failure';
      /** for the ban guard and metrics */
      reason: 'bad-credentials' | 'group-not-allowed' | 'expired' | 'backend-error' | 'no-certificate' | 'bad-certificate' | 'conversation-unknown' | 'busy';
      /** shown to the user */
      message: string;
      /** the user name as far as known (logs, ban guard) */
      user?: string;
      /** the group of the login it ends, when the request did not name it (an answer to a follow-up form) */
      group?: string;
    };

export interface AuthStart {
  group: string;
  user: string;
  password: string;
  remote: string;
  cert?: ClientCertInfo;
}

export interface AuthAnswer {
  handle: string;
  /** the form's fields as the client sent them (password, new_password, verify_password, answer ...) */
  fields: Record<string, string>;
  remote: string;
}

/** What the AuthHandler talks to: the engine in-process, or the privileged process over the channel. */
export interface Authenticator {
  start(req: AuthStart): Promise<AuthOutcome>;
  answer(req: AuthAnswer): Promise<AuthOutcome>;
}

/** A second factor: asked after the chain accepted the user (TOTP). */
export interface SecondFactor {
  readonly name: string;
  /** a challenge to show, or reject/error when the user cannot use this factor */
  begin(user: string, ctx: LoginContext): Promise<MethodResult>;
  /** the user's answer to the challenge `begin` returned (with its state) */
  respond(user: string, state: unknown, answer: string, ctx: LoginContext): Promise<MethodResult>;
}
