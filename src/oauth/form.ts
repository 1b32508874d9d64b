import { InvalidRequest } from './errors.js'

const FORM_TYPE = 'application/x-www-form-urlencoded'

/**
 * The most parameters a form may carry. An OAuth request has a handful (RFC 6749, RFC 8628, RFC
 * 7009: at most ten or so); more is a client bug or an attack, refused before any more work.
 */
export const MAX_FORM_PARAMETERS = 64

/**
 * Parses an application/x-www-form-urlencoded body strictly: bad percent-encoding, repeated
 * parameters and more than MAX_FORM_PARAMETERS parameters are invalid_request (RFC 6749 §3.1,
 * §3.2; oidc-provider reject_dupes.js), and parameters sent without a value count as omitted
 * (RFC 6749 §3.1). Linear in the body: every step is a constant-time lookup, and the parameter
 * count is bounded before any name is decoded (test/adversarial/form_parameter_flood.test.ts).
 */
export function parseForm (contentType: string | undefined, body: unknown): Record<string, string> {
  if (!isForm(contentType)) throw new InvalidRequest(`the request body must be ${FORM_TYPE}`)
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : ''
  const params = new FormParams()
  // names sent without a value are not in params but still count as sent (for the repeat check)
  let empty: Set<string> | undefined
  let count = 0
  // one pass with indexOf (no split arrays): the token endpoint parses a form on every poll
  for (let start = 0; start < text.length;) {
    let end = text.indexOf('&', start)
    if (end === -1) end = text.length
    if (end > start) {
      if (++count > MAX_FORM_PARAMETERS) throw new InvalidRequest(`the request has more than ${MAX_FORM_PARAMETERS} parameters`)
      const eq = text.indexOf('=', start)
      const split = eq === -1 || eq > end ? end : eq
      const raw = text.slice(start, split)
      const name = KNOWN_NAMES.get(raw) ?? decode(raw)
      const value = split === end ? '' : decode(text.slice(split + 1, end))
      if (name in params || empty?.has(name) === true) throw new InvalidRequest(`parameter ${JSON.stringify(name.slice(0, 64))} must not be repeated`)
      if (value !== '') params[name] = value
      else (empty ??= new Set()).add(name)
    }
    start = end + 1
  }
  return params
}

/**
 * The parsed form: an object whose prototype chain holds no properties (so `__proto__`,
 * `constructor` and the like are plain names), but which stays in V8's fast mode as names are
 * added in the usual order — `Object.create(null)` starts a dictionary-mode object instead.
 */
const FormParams = function () {} as unknown as new () => Record<string, string>
FormParams.prototype = Object.create(null) as Record<string, string>

/** True when the body is a form, so that a handler can choose to parse it or pass it on. */
export function isForm (contentType: string | undefined): boolean {
  if (contentType === FORM_TYPE) return true // what clients send almost always: no allocation
  return contentType !== undefined && contentType.split(';')[0]!.trim().toLowerCase() === FORM_TYPE
}

/**
 * The parameter names the sidecar reads, by themselves: a name found here is used as this constant
 * (already a property key to V8) instead of the freshly sliced string, which would first be looked
 * up in V8's table of all property-key strings, a large one — cache misses on every poll.
 */
const KNOWN_NAMES = new Map(['grant_type', 'device_code', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'scope', 'refresh_token', 'code', 'redirect_uri', 'code_verifier', 'user_code', 'state', 'resource', 'audience'].map(n => [n, n]))

/** Grant types as clients percent-encode them (RFC 8628 §3.4's is sent with every poll), decoded once. */
const KNOWN_VALUES = new Map(['urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:token-exchange', 'urn:ietf:params:oauth:grant-type:jwt-bearer'].flatMap(v => [
  [encodeURIComponent(v), v],
  [encodeURIComponent(v).replaceAll('%3A', '%3a'), v]
]))

function decode (s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s // most values (device codes, client ids) need no decoding
  const known = KNOWN_VALUES.get(s)
  if (known !== undefined) return known
  try {
    return decodeURIComponent(s.replaceAll('+', ' '))
  } catch {
    throw new InvalidRequest('the request body has malformed percent-encoding')
  }
}
