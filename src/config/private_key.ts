/**
 * The private key a client of the IdP signs its client assertions with (private_key_jwt, RFC 7523
 * §2.2, OpenID Connect Core §9): read from what the configuration holds (a PEM, a JWK object, or
 * a JWK as JSON text), checked against the algorithm it is to sign with, and its key id. Pure
 * node:crypto and synchronous, so config/load.ts reports a bad key by path at start-up and
 * upstream/idp.ts imports each key once from the same code. No message here ever quotes the key.
 * Pinned by test/private_key_jwt.test.ts.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto'
import type { Config, UpstreamCredentials } from './types.js'

/** The JWS algorithms a client assertion may be signed with (asymmetric only: private_key_jwt). */
export const SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const
export type SigningAlg = typeof SIGNING_ALGS[number]

/** RFC 7518 §3.3 / §3.5: RSA keys of fewer bits are refused (jose refuses them too). */
const MIN_RSA_BITS = 2048
/** RFC 7518 §3.4: each ES alg names its curve. */
const EC_CURVE_ALG: Readonly<Record<string, SigningAlg>> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' }
const RSA_ALGS: ReadonlySet<string> = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'])

/** A private key ready to sign, with what it is. */
export interface SigningKey {
  readonly key: KeyObject
  /** `rsa`, `ec` or `ed25519` (node's asymmetricKeyType). */
  readonly type: string
  /** The kid the key's JWK carries, if it was given as one. */
  readonly jwkKid: string | undefined
}

/** Why a configured key cannot be used: a sentence that names no part of the key. */
export class KeyProblem extends Error {}

/**
 * The key the configuration holds: a PEM private key (PKCS#8, or PKCS#1 / SEC1), a private JWK
 * object, or a JWK as JSON text (as `{ file: PATH }` or `${VAR}` give it). Throws KeyProblem for
 * a public key, a symmetric key, a key type other than RSA, EC or Ed25519, or text that is none
 * of these.
 */
export function readPrivateKey (value: string | Readonly<Record<string, unknown>>): SigningKey {
  let jwk: Record<string, unknown> | undefined
  if (typeof value === 'string' && value.trimStart().startsWith('{')) {
    try {
      jwk = JSON.parse(value) as Record<string, unknown>
    } catch {
      throw new KeyProblem('is neither a PEM private key nor a JWK (its JSON does not parse)')
    }
  } else if (typeof value !== 'string') {
    jwk = { ...value }
  }
  let key: KeyObject
  if (jwk !== undefined) {
    if (jwk.kty === 'oct') throw new KeyProblem('is a symmetric key (kty oct); private_key_jwt signs with an RSA, EC or Ed25519 private key')
    if (jwk.d === undefined) throw new KeyProblem('is a public JWK (it has no "d"); give the private key here, and its public half to the IdP')
    try {
      key = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' })
    } catch {
      throw new KeyProblem('is not a usable private JWK')
    }
  } else {
    try {
      key = createPrivateKey({ key: value as string, format: 'pem' })
    } catch {
      if (isPublicPem(value as string)) throw new KeyProblem('is a public key; give the private key here, and its public half to the IdP')
      throw new KeyProblem('is not a PEM private key (-----BEGIN PRIVATE KEY-----, PKCS#8) or a JWK')
    }
  }
  const type = key.asymmetricKeyType ?? ''
  if (type !== 'rsa' && type !== 'ec' && type !== 'ed25519') {
    throw new KeyProblem(`is a ${type === '' ? 'key of unknown type' : `${type} key`}; private_key_jwt here signs with an RSA, EC (P-256, P-384, P-521) or Ed25519 key`)
  }
  if (type === 'ec' && EC_CURVE_ALG[curveOf(key)] === undefined) throw new KeyProblem('is an EC key on a curve JWS does not sign with; use P-256, P-384 or P-521')
  if (type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) throw new KeyProblem(`is an RSA key shorter than ${MIN_RSA_BITS} bits`)
  if (!signsAndVerifies(key)) throw new KeyProblem('does not hold together: what it signs does not verify with its own public part (a JWK\'s "d" that does not belong to its x, y or n?)')
  return { key, type, jwkKid: typeof jwk?.kid === 'string' && jwk.kid !== '' ? jwk.kid : undefined }
}

/** One signature and its check with the key's public half: a JWK whose private part does not match its public members fails here, not at the IdP. */
function signsAndVerifies (key: KeyObject): boolean {
  const probe = Buffer.from('device-flow-sidecar key check')
  const digest = key.asymmetricKeyType === 'ed25519' ? null : 'sha256'
  try {
    return verify(digest, probe, createPublicKey(key), sign(digest, probe, key))
  } catch {
    return false
  }
}

/** The algorithm a key signs with unless one is configured: RS256 for RSA (the one every IdP takes), ES256/384/512 by curve, EdDSA for Ed25519. */
export function defaultAlg (key: SigningKey): SigningAlg {
  if (key.type === 'rsa') return 'RS256'
  if (key.type === 'ec') return EC_CURVE_ALG[curveOf(key.key)]!
  return 'EdDSA'
}

/** Whether `alg` can be signed with `key` (RFC 7518 §3.1: RS/PS for RSA, the ES of its curve for EC, EdDSA or Ed25519 for Ed25519). */
export function algFits (key: SigningKey, alg: string): boolean {
  if (key.type === 'rsa') return RSA_ALGS.has(alg)
  if (key.type === 'ec') return EC_CURVE_ALG[curveOf(key.key)] === alg
  return alg === 'EdDSA' || alg === 'Ed25519'
}

/** A short name of the key for a problem line: `an RSA key`, `an EC P-256 key`, `an Ed25519 key`. */
export function describeKey (key: SigningKey): string {
  if (key.type === 'rsa') return 'an RSA key'
  if (key.type === 'ec') return `an EC ${curveOf(key.key)} key`
  return 'an Ed25519 key'
}

/** The public JWK of a private key (what the IdP is given), with its kid, alg and use. */
export function publicJwk (key: SigningKey, kid: string, alg: string): Record<string, unknown> {
  const pub = createPublicKey(key.key).export({ format: 'jwk' }) as Record<string, unknown>
  return { ...pub, kid, alg, use: 'sig' }
}

/**
 * What to register at the IdP for each of its clients that signs with a key (`--print-jwks`): the
 * IdP's client_id → a JWK Set (RFC 7517 §5) of the key's public half, with the kid and alg the
 * sidecar sends. Public members only; the config is a loaded one (kid and alg filled in).
 */
export function jwksByClient (config: Config): Record<string, { keys: Array<Record<string, unknown>> }> {
  const out: Record<string, { keys: Array<Record<string, unknown>> }> = {}
  const all: UpstreamCredentials[] = [config.upstream, ...config.clients.flatMap(c => c.upstream === undefined ? [] : [c.upstream])]
  for (const as of all) {
    if (as.token_endpoint_auth_method !== 'private_key_jwt' || as.private_key === undefined) continue
    const key = readPrivateKey(as.private_key)
    const jwk = publicJwk(key, as.private_key_kid!, as.token_endpoint_auth_signing_alg!)
    if (as.certificate !== undefined) {
      const cert = readCertificate(as.certificate, key)
      jwk.x5c = [cert.der.toString('base64')] // RFC 7517 §4.7: standard base64 DER
      jwk['x5t#S256'] = cert.thumbprints['x5t#S256']
    }
    out[as.client_id] = { keys: [...(out[as.client_id]?.keys ?? []).filter(k => k.kid !== jwk.kid), jwk] }
  }
  return out
}

/** The certificate's thumbprints, as a JWS header names them (RFC 7515 §4.1.7-8): SHA-1 (`x5t`) and SHA-256 (`x5t#S256`), base64url of the DER. */
export interface CertificateThumbprints {
  readonly x5t: string
  readonly 'x5t#S256': string
}

/**
 * The X.509 certificate of `key` (PEM), for IdPs that find the key by its certificate's thumbprint
 * (Microsoft Entra ID). Throws KeyProblem when it is no certificate or certifies another key.
 */
export function readCertificate (pem: string, key: SigningKey): { thumbprints: CertificateThumbprints; der: Buffer } {
  let cert: X509Certificate
  try {
    cert = new X509Certificate(pem)
  } catch {
    throw new KeyProblem('is not a PEM X.509 certificate (-----BEGIN CERTIFICATE-----)')
  }
  if (!cert.checkPrivateKey(key.key)) throw new KeyProblem('certifies another key than private_key')
  const der = cert.raw
  return { der, thumbprints: { x5t: createHash('sha1').update(der).digest('base64url'), 'x5t#S256': createHash('sha256').update(der).digest('base64url') } }
}

/** RFC 7638: the JWK thumbprint (SHA-256, base64url) of the key's public half; the kid when none is configured. */
export function thumbprint (key: SigningKey): string {
  const pub = createPublicKey(key.key).export({ format: 'jwk' }) as Record<string, string>
  // RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace
  const members = key.type === 'rsa' ? ['e', 'kty', 'n'] : key.type === 'ec' ? ['crv', 'kty', 'x', 'y'] : ['crv', 'kty', 'x']
  const canonical = `{${members.map(m => `${JSON.stringify(m)}:${JSON.stringify(pub[m])}`).join(',')}}`
  return createHash('sha256').update(canonical).digest('base64url')
}

function curveOf (key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve
  return curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : curve === 'secp521r1' ? 'P-521' : String(curve)
}

function isPublicPem (value: string): boolean {
  try {
    createPublicKey({ key: value, format: 'pem' })
    return true
  } catch {
    return false
  }
}
