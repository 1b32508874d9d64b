/**
 * What an IdP's OAuth error means for the sign-in it ends: a person's or session's answer, a
 * set-up problem, or an IdP that is briefly down. The verification callback (an `error=` on the
 * authorization response, RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6) and the code exchange (RFC 6749
 * §5.2) decide by this one table, so an IdP misconfiguration (PKCE off, a redirect URI or grant
 * not registered, the wrong secret) is never mistaken for a person saying no. Pinned by
 * test/regressions/idp_misconfiguration.test.ts; the table is in the README, "What each error means".
 */
import { SidecarError } from '../errors.js'

/**
 * - `refused`: the person or their session said no (the grant is denied as such);
 * - `misconfigured`: the IdP cannot handle the sidecar's request as it is set up (logged at
 *   error, the grant denied saying so);
 * - `unavailable`: the IdP failed this once (the grant keeps waiting).
 */
export type IdpAnswerKind = 'refused' | 'misconfigured' | 'unavailable'

/** A person's or session's answer (RFC 6749 §4.1.2.1 access_denied; OIDC Core §3.1.2.6). */
const REFUSALS: ReadonlySet<string> = new Set(['access_denied', 'login_required', 'consent_required', 'interaction_required', 'account_selection_required'])
/** The IdP failed, not the request (RFC 6749 §4.1.2.1). */
const UNAVAILABLE: ReadonlySet<string> = new Set(['server_error', 'temporarily_unavailable'])
/** A description that names PKCE or the redirect URI is a set-up complaint whatever its error code. */
const SET_UP_COMPLAINT = /pkce|code_challenge|code_verifier|redirect[_ ]?ur[il]/i

/** The RFC 6749 §5.2 character set of `error` and `error_description` (%x20-21 / %x23-5B / %x5D-7E). */
const NOT_OAUTH_TEXT = /[^\x20\x21\x23-\x5B\x5D-\x7E]/g
/** A run long enough to be a code, token or secret (base64url, base64, hex): never written out. */
const SECRET_LIKE = /[A-Za-z0-9_~+/=-]{24,}/g
const MAX_ERROR_LENGTH = 64
const MAX_DESCRIPTION_LENGTH = 200

/**
 * How an IdP error is taken. `invalid_grant` (an authorization code expired, used or not issued to
 * the sidecar) is the IdP's own no to that one exchange; an error the sidecar does not know is the
 * operator's to see, so it counts as a misconfiguration.
 */
export function idpAnswerKind (error: string, description: string | undefined): IdpAnswerKind {
  if (description !== undefined && SET_UP_COMPLAINT.test(description)) return 'misconfigured'
  if (REFUSALS.has(error) || error === 'invalid_grant') return 'refused'
  if (UNAVAILABLE.has(error)) return 'unavailable'
  return 'misconfigured'
}

/** An IdP's `error` as the sidecar may repeat it (in logs, and to the device): RFC 6749 characters, bounded. */
export function idpErrorCode (error: string): string {
  return error.replace(NOT_OAUTH_TEXT, '').slice(0, MAX_ERROR_LENGTH)
}

/**
 * An IdP's `error_description` as the sidecar may log it: RFC 6749 characters, anything long
 * enough to be a code or token replaced, bounded. undefined when nothing is left.
 */
export function idpErrorDescription (description: string | undefined): string | undefined {
  if (description === undefined) return undefined
  const text = description.slice(0, 4 * MAX_DESCRIPTION_LENGTH).replace(NOT_OAUTH_TEXT, '').replace(SECRET_LIKE, '[redacted]').slice(0, MAX_DESCRIPTION_LENGTH).trim()
  return text === '' ? undefined : text
}

/**
 * The IdP answered a token request (the code exchange) with an OAuth error body: its `error` and
 * `error_description` (both as idpErrorCode / idpErrorDescription give them) and what they mean.
 * A SidecarError ERR_UPSTREAM_RESPONSE to every caller that does not look closer.
 */
export class IdpRefusal extends SidecarError {
  readonly error: string
  readonly description: string | undefined
  readonly kind: IdpAnswerKind
  /** The HTTP status the IdP answered with. */
  readonly status: number
  constructor (status: number, error: string, description: string | undefined) {
    const code = idpErrorCode(error)
    super('ERR_UPSTREAM_RESPONSE', `code exchange refused: ${code}`)
    this.name = 'IdpRefusal'
    this.status = status
    this.error = code
    this.description = idpErrorDescription(description)
    this.kind = status >= 500 ? 'unavailable' : idpAnswerKind(code, this.description)
  }
}
