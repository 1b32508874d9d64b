/**
 * private_key_jwt (RFC 7523 §2.2, OpenID Connect Core §9): the signed JWT the sidecar sends
 * instead of a secret when it is a client of the IdP. Each key is imported once, when the
 * credentials that hold it are first seen (start-up, a reload), never per request; each call gets
 * a fresh assertion (its own jti, 60 s of life), because IdPs refuse a jti twice. Neither the key
 * nor an assertion is ever logged. Pinned by test/private_key_jwt.test.ts.
 */
import type { KeyObject } from 'node:crypto'
import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import type { Clock } from '../clock.js'
import { readCertificate, readPrivateKey, type CertificateThumbprints } from '../config/private_key.js'
import type { UpstreamCredentials } from '../config/types.js'
import { SidecarError } from '../errors.js'
import type { Seconds } from '../oauth/types.js'

/** RFC 7523 §2.2: the client_assertion_type of a JWT client assertion. */
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
/** draft-ietf-oauth-rfc7523bis: the explicit type of a client authentication JWT addressed to the issuer. */
const EXPLICIT_TYP = 'client-authentication+jwt'
/** The typ RFC 7523-era IdPs expect (RFC 7519 §5.1). */
const PLAIN_TYP = 'JWT'
/** How long an assertion is good for: one request, with room for clock skew. */
const ASSERTION_LIFETIME: Seconds = 60

/** Where the assertion is addressed: the IdP's issuer identifier and its token endpoint (as published). */
export interface AssertionAudience {
  issuer: string
  token_endpoint: string
}

/** The signer of client assertions, one imported key per credentials object. */
export class ClientAssertions {
  readonly #clock: Clock
  readonly #keys = new WeakMap<UpstreamCredentials, { key: KeyObject; thumbprints: CertificateThumbprints | undefined }>()

  constructor (clock: Clock) {
    this.#clock = clock
  }

  /** Imports the key of `as` now (when it uses private_key_jwt and is not imported yet). */
  prepare (as: UpstreamCredentials): void {
    this.#key(as)
  }

  /**
   * A client assertion for `as`: iss = sub = client_id, aud the issuer (typ
   * client-authentication+jwt) or the token endpoint (typ JWT) as client_assertion_audience says,
   * a random jti, iat now and exp 60 s later, signed with the configured alg and kid (and, with a
   * certificate, its x5t and x5t#S256 thumbprints, RFC 7515 §4.1.7-8, by which Entra ID finds the key).
   */
  async sign (as: UpstreamCredentials, audience: AssertionAudience): Promise<string> {
    const signer = this.#key(as)
    if (signer === undefined) throw new SidecarError('ERR_CONFIG_INVALID', `no private_key for client ${as.client_id}`)
    const toIssuer = as.client_assertion_audience !== 'token_endpoint'
    const now = Math.floor(this.#clock.now() / 1000)
    try {
      return await new SignJWT({})
        .setProtectedHeader({ alg: as.token_endpoint_auth_signing_alg!, typ: toIssuer ? EXPLICIT_TYP : PLAIN_TYP, ...(as.private_key_kid === undefined ? {} : { kid: as.private_key_kid }), ...signer.thumbprints })
        .setIssuer(as.client_id)
        .setSubject(as.client_id)
        .setAudience(toIssuer ? audience.issuer : audience.token_endpoint)
        .setJti(randomUUID())
        .setIssuedAt(now)
        .setExpirationTime(now + ASSERTION_LIFETIME)
        .sign(signer.key)
    } catch (err) {
      // jose's message names the alg or key type, never the key
      throw new SidecarError('ERR_CONFIG_INVALID', `the client assertion for ${as.client_id} cannot be signed`, { cause: err })
    }
  }

  #key (as: UpstreamCredentials): { key: KeyObject; thumbprints: CertificateThumbprints | undefined } | undefined {
    if (as.token_endpoint_auth_method !== 'private_key_jwt' || as.private_key === undefined) return undefined
    let signer = this.#keys.get(as)
    if (signer === undefined) {
      const key = readPrivateKey(as.private_key)
      signer = { key: key.key, thumbprints: as.certificate === undefined ? undefined : readCertificate(as.certificate, key).thumbprints }
      this.#keys.set(as, signer)
    }
    return signer
  }
}
