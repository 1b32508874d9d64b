/**
 * Refresh families (RFC 9700 §4.14.2): a public device client never holds the IdP's refresh
 * token. It holds the sidecar's own handle, which is single-use: each refresh consumes it and hands
 * out the next one of the same family; a handle of the family presented after it was used ends the
 * family (every later handle refused, the IdP's token revoked), whether or not the IdP rotates.
 *
 * A handle is 48 random bytes, base64url (64 characters): the first 16 name its family, the other
 * 32 are its secret. The store keys a family by the SHA-256 of its name and remembers only the
 * SHA-256 of the current handle, so a dump holds no usable handle; the IdP's refresh token is
 * sealed at rest (Redis). Naming the family inside the handle keeps one record per device however
 * often it refreshes (no index entry per used handle), and lets any used handle find its family.
 * Pinned by test/adversarial/refresh_token_replay.test.ts and the family cases of
 * test/store/suite.ts.
 */
import { randomBytes } from 'node:crypto'
import { digest } from './codes.js'

const NAME_BYTES = 16
const SECRET_BYTES = 32
const HANDLE = /^[A-Za-z0-9_-]{64}$/ // base64url of NAME_BYTES + SECRET_BYTES, unpadded

/** What the store keeps of a family (memory: as is; Redis: `upstream_token` sealed, the rest in clear). */
export interface RefreshFamily {
  /** The public client the family was issued to. */
  client_id: string
  /** The IdP's current refresh token for this family. */
  upstream_token: string
  /** The person's subject at the IdP, for the audit trail. */
  subject?: string
  /**
   * The scopes the device was granted (its device authorization's): a refresh may ask for no
   * more, and one without `scope` gets these (RFC 6749 §6). Absent in a family stored before the
   * sidecar kept them: the client's configured scopes stand in.
   */
  scopes?: readonly string[]
}

/** A handle as the sidecar works with it: the value goes to the device only. */
export interface Handle {
  /** The 64 characters the device holds. */
  value: string
  /** The store key of its family: SHA-256 of the family's name, base64url. */
  family: string
  /** SHA-256 of the whole handle, base64url. */
  digest: string
}

/**
 * The outcome of claiming a handle for one refresh (DeviceStore.claimHandle):
 * - `claimed`: it was the family's current handle and is now leased to this refresh;
 * - `busy`: it is the current handle, but another refresh holds it (a concurrent request);
 * - `reused`: a handle of the family that is no longer current; the family is ended (deleted) and
 *   returned once, so the caller can revoke its IdP token;
 * - `unknown`: no such family (never issued, expired, ended), or another client's.
 */
export type HandleClaim =
  | { status: 'claimed'; family: RefreshFamily }
  | { status: 'busy' }
  | { status: 'reused'; family: RefreshFamily }
  | { status: 'unknown' }

/** A fresh handle: of a new family, or the next one of `family` (a handle's family key). */
export function newHandle (of?: Handle): Handle {
  const bytes = randomBytes(NAME_BYTES + SECRET_BYTES)
  if (of !== undefined) Buffer.from(of.value, 'base64url').copy(bytes, 0, 0, NAME_BYTES)
  return toHandle(bytes.toString('base64url'))
}

/** The handle a device presented, or undefined when the value cannot be one (no store lookup). */
export function parseHandle (value: string): Handle | undefined {
  return HANDLE.test(value) ? toHandle(value) : undefined
}

function toHandle (value: string): Handle {
  // 16 bytes are the first 21⅓ characters: the name is taken from the bytes, not the text
  const name = Buffer.from(value, 'base64url').subarray(0, NAME_BYTES).toString('base64url')
  return { value, family: digest(name), digest: digest(value) }
}
