/**
 * The sidecar's own paths, however they are spelled. Servers on the way to the IdP do not agree on
 * what a path is: the proxy's URL parser resolves `/./token` and `/%2e/token` to `/token`,
 * oidc-provider matches `/TOKEN` and `/token/`, Java servers drop `;jsessionid=…` and decode `%2F`,
 * Windows servers take `\` for `/`. A request spelled so must not reach the IdP past the
 * sidecar's own route (its refresh binding, audit and metrics). So every spelling is folded to one
 * form (canonicalPath), and a request routed to the proxy whose path folds to a path the sidecar
 * has a route for is answered here: GET and HEAD with a redirect to the route's own spelling, the
 * rest with 400. Spellings fastify itself routes to the sidecar's handler (`/%74oken`, a query
 * string) are answered by that handler. Folding errs on the side of the sidecar: an IdP path that
 * folds to one of the sidecar's is the sidecar's, never proxied. The exact spelling with a method
 * the sidecar has no route for (OPTIONS /token, a CORS preflight) is still the IdP's.
 * Pinned by test/adversarial/non_canonical_paths.test.ts.
 */
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { NO_STORE_JSON } from './deps.js'

/** Rounds of percent-decoding: servers on the way decode once or twice; three covers a double-encoded `%2574`. */
const DECODE_ROUNDS = 3
const PERMANENT_REDIRECT = 308 // RFC 9110 §15.4.9: the method and body are kept
/** A query string that can be put in a Location header as it came (node refuses other bytes there). */
const PLAIN_QUERY = /^\?[\x21-\x7e]*$/
const REFUSED = JSON.stringify({ error: 'invalid_request', error_description: 'the request path is a variant of one of the sidecar\'s own; use its exact spelling' })

/**
 * The one form of a request target's path that every spelling of it folds to: the query and
 * fragment cut off, percent-escapes decoded (up to DECODE_ROUNDS times; a malformed escape stays),
 * `\` taken as `/`, `;parameters` dropped from each segment, empty and `.` segments dropped, `..`
 * resolved, trailing dots and spaces of a segment dropped, and the case folded (Unicode letters
 * whose case partner is ASCII, such as `ſ` and the Kelvin sign, to that letter). Linear in the
 * input. `/` for a target without a path.
 */
export function canonicalPath (target: string): string {
  let path = cutAt(target, '?#')
  for (let i = 0; i < DECODE_ROUNDS && path.includes('%'); i++) path = cutAt(percentDecoded(path), '?#\0')
  const segments: string[] = []
  for (const raw of path.replaceAll('\\', '/').split('/')) {
    const segment = raw.split(';', 1)[0]!
    if (segment === '..') segments.pop()
    else if (segment !== '.' && segment !== '') {
      const trimmed = segment.replace(/[. ]+$/, '')
      if (trimmed !== '') segments.push(folded(trimmed))
    }
  }
  return `/${segments.join('/')}`
}

/** The paths the sidecar has routes for, by their canonical form; and the proxy's guard. */
export class OwnPaths {
  readonly #byCanonical = new Map<string, string>()

  /** Records a route's path (a fastify `onRoute` listener on the sidecar's own contexts); wildcard and parametric routes are not paths. */
  readonly add = (route: { url: string }): void => {
    if (!/[*:]/.test(route.url)) this.#byCanonical.set(canonicalPath(route.url), route.url)
  }

  /** The route path `target` is a variant spelling of; undefined for every other path, and for the route's own spelling. */
  variantOf (target: string): string | undefined {
    const own = this.#byCanonical.get(canonicalPath(target))
    return own === undefined || cutAt(target, '?') === own ? undefined : own
  }

  /** An `onRequest` hook for the proxy's context: a variant of an own path is answered here, never proxied. */
  readonly guard = (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const own = this.variantOf(req.url)
    if (own === undefined) {
      done()
      return
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      const query = req.url.slice(cutAt(req.url, '?').length)
      reply.code(PERMANENT_REDIRECT).header('cache-control', 'no-store').header('location', PLAIN_QUERY.test(query) ? own + query : own).send()
      return
    }
    reply.code(400).headers(NO_STORE_JSON).send(REFUSED)
  }
}

/** `s` up to the first of `chars`. */
function cutAt (s: string, chars: string): string {
  let end = s.length
  for (const c of chars) {
    const i = s.indexOf(c)
    if (i !== -1 && i < end) end = i
  }
  return s.slice(0, end)
}

function percentDecoded (s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    // a malformed escape or bad UTF-8 somewhere: decode the ASCII escapes, leave the rest
    return s.replace(/%([0-7][0-9a-f])/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
  }
}

function folded (segment: string): string {
  if (/^[\x00-\x7f]*$/.test(segment)) return segment.toLowerCase()
  let out = ''
  for (const c of segment.normalize('NFKC')) {
    const lower = c.toLowerCase()
    const upper = c.toUpperCase()
    out += lower.charCodeAt(0) < 0x80 ? lower.charAt(0) : upper.length === 1 && upper.charCodeAt(0) < 0x80 ? upper.toLowerCase() : lower
  }
  return out
}
