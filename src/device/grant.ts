import type { EpochMs, Seconds, TokenResponse } from '../oauth/types.js'
import type { GrantId } from './codes.js'

/** RFC 8628 §3.5: what each slow_down adds to a grant's interval. */
export const SLOW_DOWN_STEP: Seconds = 5
/**
 * The interval slow_down grows a grant's interval to, at most. RFC 8628 §3.5 sets no bound: a
 * device that keeps polling too fast was told to wait 884 570 s for a code that lives 600 s
 * (issue 14), so it would never collect its tokens. A minute keeps a misbehaving device at one
 * request a minute while a person who approves waits at most that long; a configured interval
 * above it is never grown. Pinned by test/regressions/slow_down_cap.test.ts.
 */
export const MAX_SLOW_DOWN_INTERVAL: Seconds = 60

export type GrantStatus = 'issued' | 'approved' | 'denied' | 'redeemed'

/** The upstream authorization-code leg started from the confirm page (state, PKCE, nonce). */
export interface LoginTransaction {
  /** The `state` sent to the IdP. */
  state: string
  /** PKCE code_verifier (RFC 7636); only its S256 challenge left the sidecar. */
  code_verifier: string
  /** OIDC nonce the ID token must carry. */
  nonce: string
  /** When the person pressed Approve: a max_age sign-in is measured back from here. */
  started_at: EpochMs
  /** The max_age sent (OIDC Core §3.1.2.1); when set, the ID token's auth_time must honour it. */
  max_age?: Seconds
}

/**
 * One device authorization and everything that happens to it. Never holds the device_code: `id`
 * is its hash. `tokens` exist only between approval and the one poll that takes them.
 */
export interface DeviceGrant {
  id: GrantId
  client_id: string
  scopes: string[]
  /** Normalized (upper case, no separators). */
  user_code: string
  status: GrantStatus
  created_at: EpochMs
  expires_at: EpochMs
  /** Current minimum gap between polls; grows by 5 s with each slow_down, up to MAX_SLOW_DOWN_INTERVAL. */
  interval: Seconds
  /**
   * When the device last polled; 0 until it does. Always a number, so that V8 keeps the field as
   * a double written in place (an optional field would box a new heap number on every poll).
   */
  last_poll_at: EpochMs
  device_ip: string
  device_user_agent?: string
  login?: LoginTransaction
  tokens?: TokenResponse
  subject?: string
  denial?: string
}

/** A grant's state as operators see it (metrics, admin API): status, with expiry applied. */
export type GrantState = 'pending' | 'approved' | 'denied' | 'redeemed' | 'expired'
export const GRANT_STATES: readonly GrantState[] = ['pending', 'approved', 'denied', 'redeemed', 'expired']

/** issued → pending; issued or approved past expiry → expired (the tokens were never taken). */
export function grantState (grant: DeviceGrant, now: EpochMs): GrantState {
  if (grant.status === 'issued') return isExpired(grant, now) ? 'expired' : 'pending'
  if (grant.status === 'approved') return isExpired(grant, now) ? 'expired' : 'approved'
  return grant.status
}

/** How a grant is settled by the verification leg. */
export type Settlement =
  | { status: 'approved'; tokens: TokenResponse; subject?: string }
  | { status: 'denied'; description?: string }

/** The outcome of one poll; the token route turns each into a response (RFC 8628 §3.5). */
export type PollResult =
  | { status: 'pending' }
  | { status: 'slow_down'; interval: Seconds }
  | { status: 'approved'; tokens: TokenResponse; subject?: string }
  | { status: 'denied'; description?: string }
  | { status: 'expired' }
  | { status: 'redeemed' }
  | { status: 'unknown' }

/** True once the device code's lifetime is over. */
export function isExpired (grant: DeviceGrant, now: EpochMs): boolean {
  return now >= grant.expires_at
}

/** True while the grant waits for the person: issued and unexpired (the only state a login may settle). */
export function isPending (grant: DeviceGrant | undefined, now: EpochMs): grant is DeviceGrant {
  return grant !== undefined && grant.status === 'issued' && !isExpired(grant, now)
}

/**
 * One poll, changing the grant in place: the memory store owns its grant objects, so a poll
 * allocates nothing but a slow_down or approved result (no patch, no copy, no re-insert). The
 * caller runs it inside one atomic section and compares `grant.status` before and after to keep
 * its counts. lua/poll.lua is the same decision table for Redis.
 * Order: wrong client, expiry, interval (RFC 8628 §3.5 slow_down, +5 s for this grant up to
 * MAX_SLOW_DOWN_INTERVAL; the interval answered is never more than the code's remaining lifetime,
 * rounded up to whole seconds), state.
 */
export function pollInPlace (grant: DeviceGrant | undefined, clientId: string, now: EpochMs): PollResult {
  if (grant === undefined || grant.client_id !== clientId) return UNKNOWN
  if (grant.status === 'redeemed') return REDEEMED
  if (isExpired(grant, now)) {
    if (grant.tokens !== undefined) grant.tokens = undefined // never handed out after expiry
    return EXPIRED
  }
  if (now - grant.last_poll_at < grant.interval * 1000) {
    if (grant.interval < MAX_SLOW_DOWN_INTERVAL) grant.interval = Math.min(grant.interval + SLOW_DOWN_STEP, MAX_SLOW_DOWN_INTERVAL)
    grant.last_poll_at = now
    const left = Math.ceil((grant.expires_at - now) / 1000)
    return { status: 'slow_down', interval: grant.interval < left ? grant.interval : left }
  }
  grant.last_poll_at = now
  switch (grant.status) {
    case 'issued':
      return PENDING
    case 'denied':
      return grant.denial === undefined ? DENIED : { status: 'denied', description: grant.denial }
    case 'approved': {
      const tokens = grant.tokens
      if (tokens === undefined) return REDEEMED
      grant.status = 'redeemed'
      grant.tokens = undefined
      return grant.subject === undefined ? { status: 'approved', tokens } : { status: 'approved', tokens, subject: grant.subject }
    }
  }
}

const PENDING: PollResult = Object.freeze({ status: 'pending' })
const DENIED: PollResult = Object.freeze({ status: 'denied' })
const UNKNOWN: PollResult = Object.freeze({ status: 'unknown' })
const REDEEMED: PollResult = Object.freeze({ status: 'redeemed' })
const EXPIRED: PollResult = Object.freeze({ status: 'expired' })

/**
 * issued → approved | denied, as a pure step. undefined when the grant is not issued, has
 * expired, or (with `expectState`) no longer waits for that login.
 */
export function settleStep (grant: DeviceGrant | undefined, outcome: Settlement, now: EpochMs, expectState?: string): DeviceGrant | undefined {
  if (!isPending(grant, now)) return undefined
  if (expectState !== undefined && grant.login?.state !== expectState) return undefined
  const { login: _login, ...rest } = grant
  if (outcome.status === 'approved') {
    return outcome.subject === undefined
      ? { ...rest, status: 'approved', tokens: outcome.tokens }
      : { ...rest, status: 'approved', tokens: outcome.tokens, subject: outcome.subject }
  }
  return outcome.description === undefined ? { ...rest, status: 'denied' } : { ...rest, status: 'denied', denial: outcome.description }
}

/**
 * An operator's revocation as a pure step: issued, or approved with tokens not yet taken, becomes
 * denied with `reason`; login secrets and parked tokens go. undefined when there is nothing to revoke.
 */
export function revokeStep (grant: DeviceGrant | undefined, reason: string, now: EpochMs): DeviceGrant | undefined {
  if (grant === undefined || isExpired(grant, now)) return undefined
  if (grant.status !== 'issued' && grant.status !== 'approved') return undefined
  const { login: _login, tokens: _tokens, subject: _subject, ...rest } = grant
  return { ...rest, status: 'denied', denial: reason }
}

/** Newest first, then by id (a stable order for listings). */
export function newestFirst (a: DeviceGrant, b: DeviceGrant): number {
  return b.created_at - a.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}
