import type { OAuthErrorBody, OAuthErrorCode, Seconds } from './types.js'

/**
 * An error a client receives as an RFC 6749 §5.2 body. `description` is sent; `detail` goes to the
 * logs only (oidc-provider's error_detail), so internal reasons never reach the wire.
 */
export class OAuthError extends Error {
  /** The RFC error code sent as `error`. */
  readonly error: OAuthErrorCode
  /** Sent as `error_description`; safe for anyone to read. */
  readonly description: string | undefined
  /** HTTP status: 400 unless the RFCs say otherwise. */
  readonly statusCode: number
  /** For the logs only, never sent. */
  readonly detail: string | undefined
  constructor (error: OAuthErrorCode, description?: string, opts: { statusCode?: number; detail?: string; cause?: unknown } = {}) {
    super(description ?? error, { cause: opts.cause })
    this.name = 'OAuthError'
    this.error = error
    this.description = description
    this.statusCode = opts.statusCode ?? 400
    this.detail = opts.detail
  }
}

/** RFC 6749 §5.2: the request is missing, repeats or malforms a parameter. */
export class InvalidRequest extends OAuthError {
  constructor (description: string, detail?: string) { super('invalid_request', description, { detail }) }
}

/**
 * RFC 6749 §5.2: client authentication failed. Always the same words; the reason is in `detail`.
 * 401, with `WWW-Authenticate` when the client presented credentials (`challenge`).
 */
export class InvalidClient extends OAuthError {
  readonly challenge: boolean
  constructor (detail: string, challenge: boolean) {
    super('invalid_client', 'client authentication failed', { statusCode: 401, detail })
    this.challenge = challenge
  }
}

/** RFC 6749 §5.2: the grant (device code, refresh token) is invalid, used, or not this client's. */
export class InvalidGrant extends OAuthError {
  constructor (description: string, detail?: string) { super('invalid_grant', description, { detail }) }
}

/** RFC 6749 §5.2: this client may not use this grant type. */
export class UnauthorizedClient extends OAuthError {
  constructor (description: string) { super('unauthorized_client', description) }
}

/** RFC 6749 §5.2 */
export class UnsupportedGrantType extends OAuthError {
  constructor (description: string) { super('unsupported_grant_type', description) }
}

/** RFC 6749 §5.2: a scope the client may not ask for, or malformed. */
export class InvalidScope extends OAuthError {
  constructor (description: string) { super('invalid_scope', description) }
}

/** RFC 8628 §3.5: the person has not finished yet. */
export class AuthorizationPending extends OAuthError {
  constructor () { super('authorization_pending', 'the user has not yet completed the authorization') }
}

/** RFC 8628 §3.5: polled sooner than the interval; carries the grant's new interval. */
export class SlowDown extends OAuthError {
  readonly interval: Seconds
  constructor (interval: Seconds) {
    super('slow_down', `polling too fast; wait at least ${interval} seconds between requests`)
    this.interval = interval
  }
}

/** RFC 8628 §3.5: the person denied the request, or the IdP refused it. */
export class AccessDenied extends OAuthError {
  constructor (description = 'the user denied the authorization request') { super('access_denied', description) }
}

/** RFC 8628 §3.5: the device code's lifetime is over. */
export class ExpiredToken extends OAuthError {
  constructor () { super('expired_token', 'the device code has expired; start a new device authorization') }
}

/** RFC 7009 §2.2.1: the server cannot revoke tokens of the presented type. */
export class UnsupportedTokenType extends OAuthError {
  constructor (description: string) { super('unsupported_token_type', description) }
}

/** RFC 6749 §5.2 (as 503 here): a dependency, such as the store, is not answering. */
export class TemporarilyUnavailable extends OAuthError {
  constructor (description: string, statusCode = 503) { super('temporarily_unavailable', description, { statusCode }) }
}

/** The exact body an OAuthError is sent as (oidc-provider err_out.js). */
export function toBody (err: OAuthError): OAuthErrorBody & { interval?: Seconds } {
  const body: OAuthErrorBody & { interval?: Seconds } = { error: err.error }
  if (err.description !== undefined) body.error_description = err.description
  if (err instanceof SlowDown) body.interval = err.interval
  return body
}
