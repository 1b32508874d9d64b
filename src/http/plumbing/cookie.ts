import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** What a finished request left for the browser that settled it (the result page, GET after POST). */
export interface PageOutcome {
  kind: 'approved' | 'denied' | 'expired'
  /** The client's name as the pages showed it. */
  client?: string
  /** The account the device is now signed in as (approved). */
  account?: string
  /** digest() of the user code, so this browser alone is told "already connected" when it enters the code again. */
  code?: string
}

/** What the verification pages keep in the browser: the CSRF secret, the language, and where the person is. */
export interface PageSession {
  /** CSRF token the forms echo back (double submit, signed). */
  csrf: string
  /** The locale the person chose with the language switch (ui_locales). */
  locale?: string
  /** Grant id of the login in progress. */
  grant?: string
  /** `state` of the login in progress. */
  state?: string
  /** When the grant of the login in progress expires (epoch ms): a callback after it says so. */
  expires?: number
  /** The grant the confirm page shows, and when it expires. */
  confirm?: { grant: string; expires: number }
  /** The last result, for the result page. */
  done?: PageOutcome
  /** What the next page shows once: a wrong code (and what was typed), or "already connected". */
  flash?: { error: 'wrong_code'; typed: string } | { already: true }
}

/**
 * How much longer the page cookie lives than a device code: a code that expires while the person
 * is at the IdP's login still finds its login state, so the page can say the request expired
 * rather than that the sign-in started in another browser.
 */
export const SESSION_OUTLIVES_CODE_SECONDS = 3600

/** Names the session cookie takes: __Host- over https (no subdomain can plant it), plain on loopback http. */
export const SESSION_COOKIE_NAMES = ['__Host-dfs', 'dfs'] as const

/**
 * A signed (HMAC-SHA256), HttpOnly, SameSite=Lax cookie. Signed with the first key, verified with
 * any (rotation). Over https it is `__Host-dfs` (Secure, Path=/, no Domain), so a sibling subdomain
 * cannot plant a login state in a person's browser; the proxy strips it from what the IdP sees.
 */
export class SessionCookie {
  readonly name: string
  #keys: readonly Buffer[]
  readonly #attributes: string

  constructor (options: { keys: readonly string[]; secure: boolean; maxAgeSeconds: number }) {
    this.#keys = options.keys.map(k => Buffer.from(k, 'utf8'))
    this.name = options.secure ? SESSION_COOKIE_NAMES[0] : SESSION_COOKIE_NAMES[1]
    this.#attributes = `; Path=/; Max-Age=${options.maxAgeSeconds}; HttpOnly; SameSite=Lax${options.secure ? '; Secure' : ''}`
  }

  /** Replaces the keys (a config reload): the first signs from now on, all of them verify. */
  setKeys (keys: readonly string[]): void {
    this.#keys = keys.map(k => Buffer.from(k, 'utf8'))
  }

  /** A random key for deployments that set no cookie_keys (one process, lost on restart). */
  static randomKey (): string {
    return randomBytes(32).toString('base64url')
  }

  /** The Set-Cookie value for this session. */
  serialize (session: PageSession): string {
    const payload = Buffer.from(JSON.stringify(session)).toString('base64url')
    return `${this.name}=${payload}.${this.#sign(payload, this.#keys[0]!)}${this.#attributes}`
  }

  /** The session in a Cookie header, when present and signed by one of the keys. */
  parse (cookieHeader: string | undefined): PageSession | undefined {
    if (cookieHeader === undefined) return undefined
    for (const part of cookieHeader.split(';')) {
      const eq = part.indexOf('=')
      if (eq === -1 || part.slice(0, eq).trim() !== this.name) continue
      const [payload, sig] = part.slice(eq + 1).trim().split('.')
      if (payload === undefined || sig === undefined) return undefined
      const given = Buffer.from(sig, 'base64url')
      const ok = this.#keys.some(key => {
        const want = Buffer.from(this.#sign(payload, key), 'base64url')
        return want.length === given.length && timingSafeEqual(want, given)
      })
      if (!ok) return undefined
      try {
        const value: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
        return isSession(value) ? value : undefined
      } catch {
        return undefined
      }
    }
    return undefined
  }

  #sign (payload: string, key: Buffer): string {
    return createHmac('sha256', key).update(payload).digest('base64url')
  }
}

function isSession (v: unknown): v is PageSession {
  if (!isObject(v)) return false
  const s = v
  return typeof s.csrf === 'string' && optional(s.locale, 'string') && optional(s.grant, 'string') && optional(s.state, 'string') && optional(s.expires, 'number') &&
    (s.confirm === undefined || (isObject(s.confirm) && typeof s.confirm.grant === 'string' && typeof s.confirm.expires === 'number')) &&
    (s.done === undefined || (isObject(s.done) && ['approved', 'denied', 'expired'].includes(s.done.kind as string) && optional(s.done.client, 'string') && optional(s.done.account, 'string') && optional(s.done.code, 'string'))) &&
    (s.flash === undefined || (isObject(s.flash) && (s.flash.already === true || (s.flash.error === 'wrong_code' && typeof s.flash.typed === 'string'))))
}

function isObject (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function optional (v: unknown, type: 'string' | 'number'): boolean {
  return v === undefined || typeof v === type
}

/** Constant-time equality of two strings. */
export function safeEqual (a: string, b: string): boolean {
  const ba = Buffer.from(a)
  const bb = Buffer.from(b)
  return ba.length === bb.length && timingSafeEqual(ba, bb)
}

/** A Cookie header without the sidecar's session cookie (for requests passed on to the IdP). */
export function withoutSessionCookie (cookieHeader: string | undefined): string | undefined {
  if (cookieHeader === undefined) return undefined
  const kept = cookieHeader.split(';').filter(part => !(SESSION_COOKIE_NAMES as readonly string[]).includes(part.split('=')[0]!.trim()))
  return kept.length === 0 ? undefined : kept.join(';').trim()
}
