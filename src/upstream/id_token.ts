import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import type { Clock } from '../clock.js'
import { SidecarError } from '../errors.js'
import type { EpochMs, Seconds } from '../oauth/types.js'
import type { BackChannel } from './client.js'

/** Clock difference allowed between the IdP and the sidecar, for exp/iat and for auth_time. */
export const CLOCK_TOLERANCE_S: Seconds = 30

/**
 * How long before `since` the person last signed in at the IdP, from the ID token's auth_time
 * (OIDC Core §2); negative when after it; undefined when there is no ID token or it does not say.
 */
export function signInAge (claims: JWTPayload | undefined, since: EpochMs): Seconds | undefined {
  const authTime = claims?.auth_time
  return typeof authTime === 'number' && Number.isFinite(authTime) ? Math.floor(since / 1000 - authTime) : undefined
}

/**
 * OIDC Core §3.1.2.1 max_age, checked as §3.1.3.7 step 12 asks: the sign-in happened no more than
 * `maxAge` seconds (plus the clock tolerance) before the login started. An unknown age fails.
 */
export function signedInRecently (age: Seconds | undefined, maxAge: Seconds): boolean {
  return age !== undefined && age <= maxAge + CLOCK_TOLERANCE_S
}

/**
 * Validates ID tokens from the code exchange (OIDC Core §3.1.3.7): signature against the IdP's
 * JWKS (fetched over the back channel, cached by jose), iss, aud, exp, and the nonce of this login.
 */
export class IdTokenVerifier {
  readonly #back: BackChannel
  readonly #clock: Clock
  #jwks: { uri: string; set: ReturnType<typeof createRemoteJWKSet> } | undefined

  constructor (back: BackChannel, options: { clock: Clock }) {
    this.#back = back
    this.#clock = options.clock
  }

  /** The verified claims; rejects with ERR_ID_TOKEN_INVALID, or an ERR_UPSTREAM_* when the JWKS cannot be had. */
  async verify (idToken: string, expected: { issuer: string; jwksUri: string; nonce: string; audience: string }): Promise<JWTPayload> {
    if (this.#jwks?.uri !== expected.jwksUri) {
      this.#jwks = { uri: expected.jwksUri, set: createRemoteJWKSet(new URL(expected.jwksUri), { [customFetch]: this.#back.fetch }) }
    }
    let payload: JWTPayload
    try {
      ({ payload } = await jwtVerify(idToken, this.#jwks.set, {
        issuer: expected.issuer,
        audience: expected.audience,
        currentDate: new Date(this.#clock.now()),
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['sub', 'exp', 'iat']
      }))
    } catch (err) {
      if (err instanceof SidecarError) throw err
      if (err instanceof joseErrors.JWKSTimeout) throw new SidecarError('ERR_UPSTREAM_TIMEOUT', 'the IdP JWKS did not arrive in time', { cause: err })
      throw new SidecarError('ERR_ID_TOKEN_INVALID', `ID token rejected: ${(err as Error).message}`, { cause: err })
    }
    if (payload.nonce !== expected.nonce) throw new SidecarError('ERR_ID_TOKEN_INVALID', 'ID token nonce does not match this login')
    if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== expected.audience) {
      throw new SidecarError('ERR_ID_TOKEN_INVALID', 'ID token azp is not the sidecar')
    }
    return payload
  }
}
