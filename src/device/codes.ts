/**
 * Device and user codes (RFC 8628 §6.1, §5.1).
 *
 * device_code: 256 bits from the CSPRNG, base64url. The store never sees it: grants are keyed by
 * its SHA-256 (grantId), so a dump of the store holds no usable device code.
 * user_code: drawn character by character from the configured set by rejection sampling, so every
 * character is equally likely (no modulo bias); stored and compared in normalized form (upper
 * case, no separators) and shown grouped (WDJB-MJHT). Each client may have its own set and
 * length (UserCodeFormat); codes of every format share one store and one user-code index, so no
 * two live grants have the same code whatever their formats, and entry tries each format
 * (candidateUserCodes).
 * Pinned by test/codes.test.ts.
 */
import { hash, randomFillSync } from 'node:crypto'

const DEVICE_CODE_BYTES = 32 // 256 bits
const POOL_BYTES = 8192

/**
 * CSPRNG bytes drawn 8 KiB at a time and handed out once each (what Node does for randomUUID):
 * one getrandom call per ~150 device authorizations instead of two per request.
 */
let pool = Buffer.alloc(0)
let poolOffset = 0
function secureRandom (n: number): Buffer {
  if (poolOffset + n > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES))
    poolOffset = 0
  }
  const out = pool.subarray(poolOffset, poolOffset + n)
  poolOffset += n
  return out
}

/** Identifier of a grant: base64url SHA-256 of its device_code. */
export type GrantId = string

/** A fresh device_code: 256 bits from the CSPRNG, base64url (43 characters). */
export function generateDeviceCode (): string {
  return secureRandom(DEVICE_CODE_BYTES).toString('base64url')
}

/** The store key for a device_code. */
export function grantId (deviceCode: string): GrantId {
  return digest(deviceCode)
}

/** A fresh normalized user code of `length` characters from `charset`, uniform over the set. */
export function generateUserCode (charset: string, length: number): string {
  const n = charset.length
  const limit = 256 - (256 % n) // bytes at or above this would bias the low characters
  let out = ''
  while (out.length < length) {
    for (const byte of secureRandom(length * 2)) {
      if (byte >= limit) continue
      out += charset[byte % n]
      if (out.length === length) break
    }
  }
  return out
}

/**
 * What a person typed, normalized: upper case, dashes and white space removed. undefined when
 * it cannot be a code of this charset and length (so it is never looked up).
 */
export function normalizeUserCode (input: string, charset: string, length: number): string | undefined {
  const code = input.toUpperCase().replace(/[\s\-‐‑–—]/g, '')
  if (code.length !== length) return undefined
  for (const ch of code) if (!charset.includes(ch)) return undefined
  return code
}

/** A user-code format: the literal set codes are drawn from and their length (FlowSettings). */
export interface UserCodeFormat {
  readonly charset: string
  readonly length: number
}

/**
 * What a person typed, as the codes it can be in any of `formats` (each grant's code is in its
 * client's format, all in one store): normalized per format, repeats dropped, so at most one per
 * format. Every entry path looks up each candidate and counts the entry once, whatever their
 * number. With today's one normalization (normalizeUserCode) there is at most one candidate.
 */
export function candidateUserCodes (typed: string, formats: readonly UserCodeFormat[]): string[] {
  const candidates: string[] = []
  for (const { charset, length } of formats) {
    const code = normalizeUserCode(typed, charset, length)
    if (code !== undefined && !candidates.includes(code)) candidates.push(code)
  }
  return candidates
}

/** Display form: groups of four (of three when that divides evenly and four does not), joined by '-'. */
export function formatUserCode (code: string): string {
  if (code.length <= 5) return code
  const size = code.length % 4 !== 0 && code.length % 3 === 0 ? 3 : 4
  const groups: string[] = []
  for (let i = 0; i < code.length; i += size) groups.push(code.slice(i, i + size))
  return groups.join('-')
}

/** base64url SHA-256 of any secret value (refresh tokens, state), for keys that must not hold it. */
export function digest (value: string): string {
  return hash('sha256', value, 'base64url') // one-shot: no Hash object per call (on the poll path)
}
