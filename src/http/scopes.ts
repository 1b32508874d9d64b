import { InvalidScope } from '../oauth/errors.js'

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/ // RFC 6749 §3.3

/**
 * The scopes a request asks for (RFC 6749 §3.3): each must be well-formed and among the
 * client's; no scope means all of the client's.
 */
export function requestedScopes (scope: string | undefined, allowed: readonly string[]): string[] {
  if (scope === undefined) return [...allowed]
  const asked: string[] = []
  for (const s of scope.split(' ')) {
    if (s === '' || asked.includes(s)) continue // repeated spaces and scopes count once
    if (!SCOPE_TOKEN.test(s)) throw new InvalidScope('scope is malformed')
    if (!allowed.includes(s)) throw new InvalidScope(`scope ${JSON.stringify(s.slice(0, 64))} is not allowed for this client`)
    asked.push(s)
  }
  return asked.length === 0 ? [...allowed] : asked
}
