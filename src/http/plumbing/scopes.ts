import { InvalidScope } from '../../oauth/errors.js'

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/ // RFC 6749 §3.3
const OPENID = 'openid'

/**
 * The scopes a request asks for (RFC 6749 §3.3): each must be well-formed, among the client's and,
 * when `supported` is given (the IdP's scopes_supported, with upstream.enforce_scopes_supported),
 * among those (openid always is: the sidecar asks for it on every sign-in). No scope means all of
 * the client's (those in `supported`, when given).
 */
export function requestedScopes (scope: string | undefined, allowed: readonly string[], supported?: ReadonlySet<string>): string[] {
  const byIdp = (s: string): boolean => supported === undefined || s === OPENID || supported.has(s)
  if (scope === undefined) return allowed.filter(byIdp)
  const asked = parseScope(scope, s => {
    if (!allowed.includes(s)) return 'is not allowed for this client'
    return byIdp(s) ? undefined : 'is not supported by the identity provider'
  })
  return asked.length === 0 ? allowed.filter(byIdp) : asked
}

/**
 * The scopes a refresh asks for (RFC 6749 §6): none but those of the original grant (`granted`),
 * each well-formed; no scope means all of the grant's.
 */
export function refreshScopes (scope: string | undefined, granted: readonly string[]): readonly string[] {
  if (scope === undefined) return granted
  const asked = parseScope(scope, s => granted.includes(s) ? undefined : 'is beyond the scope originally granted')
  return asked.length === 0 ? granted : asked
}

/** A scope parameter's scopes, each once; throws invalid_scope for a malformed one or one `refusal` names a reason for. */
function parseScope (scope: string, refusal: (s: string) => string | undefined): string[] {
  const asked: string[] = []
  for (const s of scope.split(' ')) {
    if (s === '' || asked.includes(s)) continue // repeated spaces and scopes count once
    if (!SCOPE_TOKEN.test(s)) throw new InvalidScope('scope is malformed')
    const reason = refusal(s)
    if (reason !== undefined) throw new InvalidScope(`scope ${JSON.stringify(s.slice(0, 64))} ${reason}`)
    asked.push(s)
  }
  return asked
}

/**
 * A token response from the IdP as a device that asked for `asked` gets it: the IdP was asked for
 * openid on the sidecar's behalf (upstream/idp.ts upstreamScopes), so a device that did not ask for
 * it gets no id_token, and no openid in `scope` (RFC 6749 §5.1: the scope granted to it). The
 * response itself when the device asked for openid.
 */
export function tokensForDevice<T extends Record<string, unknown>> (tokens: T, asked: readonly string[]): T {
  if (asked.includes(OPENID) || (tokens.id_token === undefined && !hasOpenid(tokens.scope))) return tokens
  const { id_token: _idToken, ...rest } = tokens
  if (typeof tokens.scope === 'string') {
    const scope = tokens.scope.split(' ').filter(s => s !== OPENID && s !== '').join(' ')
    if (scope === '') delete (rest as Record<string, unknown>).scope
    else (rest as Record<string, unknown>).scope = scope
  }
  return rest as T
}

function hasOpenid (scope: unknown): boolean {
  return typeof scope === 'string' && scope.split(' ').includes(OPENID)
}
