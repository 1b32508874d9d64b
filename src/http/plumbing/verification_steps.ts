/**
 * The verification steps the pages (endpoints/verification.ts) and the JSON API
 * (endpoints/verification_api.ts) share, so that both count, decide and record alike: a code
 * entry under one throttle (one allowance per address, whichever of the two a person uses), the
 * start of the IdP sign-in on Approve, and Deny. What each answers with (a page, a redirect, JSON)
 * stays with the endpoint. Pinned by test/verification.test.ts and test/verification_api.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { UpstreamPrompt } from '../../config/types.js'
import { candidateUserCodes, digest } from '../../device/codes.js'
import { isPending, type DeviceGrant, type LoginTransaction } from '../../device/grant.js'
import type { Seconds } from '../../oauth/types.js'
import { approverFields, audit, deviceFields } from '../../ops/audit.js'
import type { Locale } from '../../ui/i18n.js'
import type { RouteDeps } from './deps.js'
import type { PageSession } from './cookie.js'
import type { AttemptAnswer } from './limits.js'

/** The attempt scope of user-code entry (Limiter.attempt), the pages' and the API's alike. */
const USER_CODE_SCOPE = 'uc'

/** What one code entry found. */
export type CodeEntry =
  /** Refused by the throttle before any lookup (nothing counted). */
  | { kind: 'throttled'; attempt: AttemptAnswer }
  /** No pending grant has this code (wrong, malformed, expired or used); the entry counted. `candidates`: what was typed, in each configured format it fits. */
  | { kind: 'unknown'; candidates: readonly string[]; attempt: AttemptAnswer | undefined }
  /** The pending grant of this code; the entry was given back. */
  | { kind: 'pending'; grant: DeviceGrant }

/** The IdP sign-in Approve starts: where to send the person, and the page cookie that carries the login. */
export interface Approval { location: string; session: PageSession }

/** What every next page cookie keeps of the last: the CSRF secret and the person's language pick. */
export function carried (session: PageSession): PageSession {
  return session.locale === undefined ? { csrf: session.csrf } : { csrf: session.csrf, locale: session.locale }
}

/** The shared steps, bound to one app's dependencies. */
export interface VerificationSteps {
  /**
   * One code entry: counted before its lookup, per address and for everyone together (a bound on
   * distributed guessing that tightens each address once reached); a right code gives its count
   * back and resets nothing.
   */
  enterCode (req: FastifyRequest, typed: string): Promise<CodeEntry>
  /** Gives back a counted entry that turned out not to be a guess (a code this browser settled). */
  refund (req: FastifyRequest, entry: CodeEntry): Promise<void>
  /** Records a wrong code (metrics, audit). */
  codeWrong (req: FastifyRequest): void
  /** Records a right code (metrics, audit). */
  codeOk (req: FastifyRequest, grant: DeviceGrant): void
  /** Records a refused entry (metrics, audit); resolves its Retry-After seconds. */
  throttled (req: FastifyRequest, attempt: AttemptAnswer): number
  /** The client's name as a person is shown it: its client_name, else its client_id. */
  clientName (grant: DeviceGrant): string
  /** The page cookie once this browser has looked `grant` up: decisions are taken for it alone (confirm before approve). */
  lookedUp (session: PageSession, grant: DeviceGrant): PageSession
  /** The sign-in the IdP is asked for on this grant's approval: the client's own settings, else device_flow_settings. */
  signInPolicy (grant: DeviceGrant): { prompt: UpstreamPrompt | false; maxAge: Seconds | undefined }
  /**
   * Approve: starts the IdP sign-in (state, PKCE S256, nonce) on the grant, and the page cookie
   * that carries it to the callback; undefined when the grant is no longer waiting. `how` is the
   * audit line's words.
   */
  approve (req: FastifyRequest, session: PageSession, grant: DeviceGrant, locale: Locale, how: string): Promise<Approval | undefined>
  /**
   * Deny: settles the grant access_denied (RFC 8628 §3.5); `settled` is false when it was no longer
   * waiting. `session` is the page cookie with the denied result. `how` is the audit line's words.
   */
  deny (req: FastifyRequest, session: PageSession, grant: DeviceGrant, how: string): Promise<{ settled: boolean; session: PageSession }>
}

export function verificationSteps (deps: RouteDeps): VerificationSteps {
  const { store, idp, clock, clients, metrics, limiter, codeFormats } = deps
  const dfs = deps.config.device_flow_settings

  const clientName = (grant: DeviceGrant): string => clients.get(grant.client_id)?.client_name ?? grant.client_id

  const signInPolicy = (grant: DeviceGrant): { prompt: UpstreamPrompt | false; maxAge: Seconds | undefined } => {
    const client = clients.get(grant.client_id)
    return { prompt: client?.prompt ?? dfs.prompt, maxAge: client?.max_age_seconds ?? dfs.max_age_seconds }
  }

  return {
    async enterCode (req, typed) {
      const attempt = await limiter.attempt(USER_CODE_SCOPE, req.ip, l => ({ perAddress: l.user_code_attempts, shared: l.user_code_attempts_global }))
      if (attempt?.allowed === false) return { kind: 'throttled', attempt }
      // what was typed, in each configured (charset, length) it fits: one store read per format at most, one attempt counted
      const candidates = candidateUserCodes(typed, codeFormats.list(clock.now()))
      for (const code of candidates) {
        const found = await store.findByUserCode(code, clock.now())
        if (isPending(found, clock.now())) {
          if (attempt !== undefined) await limiter.refund(USER_CODE_SCOPE, req.ip)
          return { kind: 'pending', grant: found }
        }
      }
      return { kind: 'unknown', candidates, attempt }
    },

    async refund (req, entry) {
      if (entry.kind === 'unknown' && entry.attempt !== undefined) await limiter.refund(USER_CODE_SCOPE, req.ip)
    },

    codeWrong (req) {
      metrics.verification('code_wrong')
      audit(req.log, 'verification.code_wrong', approverFields(req), 'wrong user code')
    },

    codeOk (req, grant) {
      metrics.verification('code_ok')
      audit(req.log, 'verification.code_ok', { ...deviceFields(grant), ...approverFields(req) }, 'user code entered')
    },

    throttled (req, attempt) {
      const seconds = attempt.retryAfter
      metrics.verification('throttled')
      audit(req.log, 'verification.throttled', { ...approverFields(req), scope: attempt.tightened ? 'global' : 'address', retry_after: seconds }, 'too many wrong user codes')
      return seconds
    },

    clientName,

    lookedUp (session, grant) {
      return { ...carried(session), confirm: { grant: grant.id, expires: grant.expires_at } }
    },

    signInPolicy,

    async approve (req, session, grant, locale, how) {
      const { prompt, maxAge } = signInPolicy(grant)
      const now = clock.now()
      const login: LoginTransaction = { state: randomBytes(32).toString('base64url'), code_verifier: randomBytes(32).toString('base64url'), nonce: randomBytes(32).toString('base64url'), started_at: now, ...(maxAge === undefined ? {} : { max_age: maxAge }) }
      if (!await store.beginLogin(grant.id, login, now)) return undefined
      const location = await idp.authorizationUrl({
        as: idp.credentialsFor(clients.get(grant.client_id)),
        state: login.state,
        nonce: login.nonce,
        code_challenge: createHash('sha256').update(login.code_verifier).digest('base64url'), // RFC 7636 §4.2 S256
        scopes: grant.scopes,
        prompt,
        ...(maxAge === undefined ? {} : { max_age: maxAge }),
        ui_locales: locale.tag
      })
      audit(req.log, 'verification.approved', { ...deviceFields(grant), ...approverFields(req) }, how)
      return { location, session: { ...carried(session), grant: grant.id, state: login.state, expires: grant.expires_at } }
    },

    async deny (req, session, grant, how) {
      const settled = await store.settle(grant.id, { status: 'denied', description: 'the user denied the authorization request' }, clock.now())
      if (settled) {
        metrics.verification('denied')
        audit(req.log, 'grant.denied', { ...deviceFields(grant), ...approverFields(req), by: 'person' }, how)
      }
      return { settled, session: { ...carried(session), done: { kind: 'denied', client: clientName(grant), code: digest(grant.user_code) } } }
    }
  }
}
