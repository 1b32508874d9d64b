/**
 * Encryption at rest for what a store dump must not reveal: parked token responses and the login
 * secrets (PKCE verifier, nonce). AES-256-GCM with a fresh 96-bit IV per value; keys are derived
 * from the configured strings with HKDF-SHA256 and named by a short id, so rotation (a list,
 * newest first) decrypts old values without trial. Pinned by test/sealing.test.ts.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'
import { SidecarError } from '../errors.js'

const IV_BYTES = 12 // NIST SP 800-38D recommended GCM IV
const TAG_BYTES = 16
const FORMAT = 'v1'

interface Key { id: string; key: Buffer }

/** Seals and opens strings with the configured keys; the first key seals, any opens. */
export class Sealer {
  #keys: readonly Key[] = []

  constructor (secrets: readonly string[]) {
    this.setKeys(secrets)
  }

  /** Replaces the keys (a config reload): the first seals from now on, all of them open. */
  setKeys (secrets: readonly string[]): void {
    if (secrets.length === 0) throw new Error('Sealer needs at least one key')
    this.#keys = secrets.map(secret => {
      const key = Buffer.from(hkdfSync('sha256', secret, 'device-flow-sidecar', 'store-encryption-v1', 32))
      return { id: createHash('sha256').update(key).digest('base64url').slice(0, 8), key }
    })
  }

  /** `v1.<key id>.<iv>.<ciphertext+tag>`, base64url parts. */
  seal (plaintext: string): string {
    const { id, key } = this.#keys[0]!
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', key, iv)
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()])
    return `${FORMAT}.${id}.${iv.toString('base64url')}.${body.toString('base64url')}`
  }

  /** The plaintext; ERR_STORE_UNAVAILABLE when no configured key opens it or it was altered. */
  open (sealed: string): string {
    const [format, id, iv, body] = sealed.split('.')
    const entry = this.#keys.find(k => k.id === id)
    if (format !== FORMAT || entry === undefined || iv === undefined || body === undefined) {
      throw new SidecarError('ERR_STORE_UNAVAILABLE', 'a stored value is sealed with a key that is not configured')
    }
    const data = Buffer.from(body, 'base64url')
    try {
      const decipher = createDecipheriv('aes-256-gcm', entry.key, Buffer.from(iv, 'base64url'))
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES))
      return Buffer.concat([decipher.update(data.subarray(0, data.length - TAG_BYTES)), decipher.final()]).toString('utf8')
    } catch (cause) {
      throw new SidecarError('ERR_STORE_UNAVAILABLE', 'a stored value failed authentication', { cause })
    }
  }
}
