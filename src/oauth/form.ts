import { InvalidRequest } from './errors.js'

const FORM_TYPE = 'application/x-www-form-urlencoded'

/**
 * Parses an application/x-www-form-urlencoded body strictly: bad percent-encoding and repeated
 * parameters are invalid_request (RFC 6749 §3.1, §3.2; oidc-provider reject_dupes.js), and
 * parameters sent without a value count as omitted (RFC 6749 §3.1).
 */
export function parseForm (contentType: string | undefined, body: unknown): Record<string, string> {
  if (contentType === undefined || contentType.split(';')[0]!.trim().toLowerCase() !== FORM_TYPE) {
    throw new InvalidRequest(`the request body must be ${FORM_TYPE}`)
  }
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : ''
  const params: Record<string, string> = Object.create(null)
  const seen = new Set<string>()
  if (text === '') return params
  for (const pair of text.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const name = decode(eq === -1 ? pair : pair.slice(0, eq))
    const value = eq === -1 ? '' : decode(pair.slice(eq + 1))
    if (seen.has(name)) throw new InvalidRequest(`parameter ${JSON.stringify(name.slice(0, 64))} must not be repeated`)
    seen.add(name)
    if (value !== '') params[name] = value
  }
  return params
}

/** True when the body is a form, so that a handler can choose to parse it or pass it on. */
export function isForm (contentType: string | undefined): boolean {
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
