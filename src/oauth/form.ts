import { InvalidRequest } from './errors.js'

const FORM_TYPE = 'application/x-www-form-urlencoded'

/**
 * Parses an application/x-www-form-urlencoded body strictly: bad percent-encoding and repeated
 * parameters are invalid_request (RFC 6749 §3.1, §3.2; oidc-provider reject_dupes.js), and
 * parameters sent without a value count as omitted (RFC 6749 §3.1).
 */
export function parseForm (contentType: string | undefined, body: unknown): Record<string, string> {
  if (!isForm(contentType)) throw new InvalidRequest(`the request body must be ${FORM_TYPE}`)
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : ''
  const params: Record<string, string> = Object.create(null)
  // names sent without a value are not in params but still count as sent (for the repeat check)
  let empty: string[] | undefined
  // one pass with indexOf (no split arrays): the token endpoint parses a form on every poll
  for (let start = 0; start < text.length;) {
    let end = text.indexOf('&', start)
    if (end === -1) end = text.length
    if (end > start) {
      const eq = text.indexOf('=', start)
      const split = eq === -1 || eq > end ? end : eq
      const name = decode(text.slice(start, split))
      const value = split === end ? '' : decode(text.slice(split + 1, end))
      if (name in params || empty?.includes(name) === true) throw new InvalidRequest(`parameter ${JSON.stringify(name.slice(0, 64))} must not be repeated`)
      if (value !== '') params[name] = value
      else (empty ??= []).push(name)
    }
    start = end + 1
  }
  return params
}

/** True when the body is a form, so that a handler can choose to parse it or pass it on. */
export function isForm (contentType: string | undefined): boolean {
  if (contentType === FORM_TYPE) return true // what clients send almost always: no allocation
  return contentType !== undefined && contentType.split(';')[0]!.trim().toLowerCase() === FORM_TYPE
}

function decode (s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s // most values (device codes, client ids) need no decoding
  try {
    return decodeURIComponent(s.replaceAll('+', ' '))
  } catch {
    throw new InvalidRequest('the request body has malformed percent-encoding')
  }
}
