import type { EpochMs, Seconds, TokenResponse } from '../oauth/types.js'
import type { GrantId } from './codes.js'

/** RFC 8628 §3.5: what each slow_down adds to a grant's interval. */
export const SLOW_DOWN_STEP: Seconds = 5

export type GrantStatus = 'issued' | 'approved' | 'denied' | 'redeemed'

/** The upstream authorization-code leg started from the confirm page (state, PKCE, nonce). */
export interface LoginTransaction {
  /** The `state` sent to the IdP. */
  state: string
  /** PKCE code_verifier (RFC 7636); only its S256 challenge left the sidecar. */
  code_verifier: string
  /** OIDC nonce the ID token must carry. */
  nonce: string
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
  /** Current minimum gap between polls; grows by 5 s with each slow_down. */
  interval: Seconds
  last_poll_at?: EpochMs
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

/** The fields a poll changes; `tokens: undefined` means the parked tokens are dropped. */
export type PollPatch = Partial<Pick<DeviceGrant, 'interval' | 'last_poll_at' | 'status'>> & { tokens?: undefined }

/**
 * One poll, as a pure step: the result, and the fields to change on the stored grant (undefined
 * when nothing changes). Adapters apply it inside one atomic section; a patch rather than a new
 * grant keeps the hot path free of copies (the memory store applies it in place).
 * Order: wrong client, expiry, interval (RFC 8628 §3.5 slow_down, +5 s for this grant), state.
 */
export function pollStep (grant: DeviceGrant | undefined, clientId: string, now: EpochMs): { result: PollResult; patch?: PollPatch } {
  if (grant === undefined || grant.client_id !== clientId) return UNKNOWN
  if (grant.status === 'redeemed') return REDEEMED
  if (isExpired(grant, now)) return grant.tokens === undefined ? EXPIRED : { result: { status: 'expired' }, patch: { tokens: undefined } }
  if (grant.last_poll_at !== undefined && now - grant.last_poll_at < grant.interval * 1000) {
    const interval = grant.interval + SLOW_DOWN_STEP
    return { result: { status: 'slow_down', interval }, patch: { interval, last_poll_at: now } }
  }
  switch (grant.status) {
    case 'issued':
      return { result: PENDING, patch: { last_poll_at: now } }
    case 'denied':
      return { result: grant.denial === undefined ? { status: 'denied' } : { status: 'denied', description: grant.denial }, patch: { last_poll_at: now } }
    case 'approved': {
      const tokens = grant.tokens
      if (tokens === undefined) return REDEEMED
      const result: PollResult = grant.subject === undefined ? { status: 'approved', tokens } : { status: 'approved', tokens, subject: grant.subject }
      return { result, patch: { last_poll_at: now, status: 'redeemed', tokens: undefined } }
    }
  }
}

const PENDING: PollResult = Object.freeze({ status: 'pending' })
const UNKNOWN = Object.freeze({ result: Object.freeze({ status: 'unknown' }) as PollResult })
const REDEEMED = Object.freeze({ result: Object.freeze({ status: 'redeemed' }) as PollResult })
const EXPIRED = Object.freeze({ result: Object.freeze({ status: 'expired' }) as PollResult })

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
