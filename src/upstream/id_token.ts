import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import type { Clock } from '../clock.js'
import { SidecarError } from '../errors.js'
import type { BackChannel } from './client.js'

const CLOCK_TOLERANCE_S = 30

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
