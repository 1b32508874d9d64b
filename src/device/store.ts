import type { Maybe } from '../maybe.js'
import type { EpochMs } from '../oauth/types.js'
import type { GrantId } from './codes.js'
import type { DeviceGrant, GrantState, LoginTransaction, PollResult, Settlement } from './grant.js'
import type { HandleClaim, RefreshFamily } from './refresh_family.js'

/** Which grants an operator lists (admin API). */
export interface GrantFilter {
  client_id?: string
  state?: GrantState
}

/** A fixed-window count: at most `max` per `windowMs`. */
export interface CounterWindow {
  max: number
  windowMs: number
}

/** What `DeviceStore.attempt` counts an attempt against. */
export interface AttemptBounds {
  /** Attempts one address may make per window while the shared bound is not reached. */
  perAddress: CounterWindow
  /** Attempts every address together may make per window before each is held to `reachedPerAddress`. */
  shared: CounterWindow
  /** Attempts one address may make per `perAddress` window once the shared bound is reached; at least 1. */
  reachedPerAddress: number
}

/** The store's decision on one attempt. */
export interface AttemptVerdict {
  /** true: counted, go ahead; false: refused, nothing counted. */
  allowed: boolean
  /** The shared bound is reached and the address, under its own max, is held to `reachedPerAddress`. */
  tightened: boolean
  /** Attempts the address may still make now, after this one; 0: its next one would be refused. */
  left: number
  /**
   * When the address may try again once `left` is 0: the end of its own window, or, when only the
   * tightening holds it, the earlier of that and the end of the shared window.
   */
  retryAt: EpochMs
}

/**
 * What the store keeps of a confidential client's refresh token (the IdP's own, held by the
 * device), by its digest.
 */
export interface RefreshBinding {
  /** The client it was issued to. */
  client_id: string
  /**
   * The scopes the device was granted (its device authorization's): a refresh may ask for no
   * more, and one without `scope` gets these (RFC 6749 §6). Absent in a binding stored before the
   * sidecar kept them: the client's configured scopes stand in.
   */
  scopes?: readonly string[]
}

/**
 * Persistence for device grants and the small counters around them. Every method is atomic per
 * grant: adapters run each as one synchronous section (memory) or one script (redis). The shared
 * contract test is test/store/suite.ts.
 */
export interface DeviceStore {
  /**
   * Saves a new grant under its id and reserves its user_code. Resolves false, saving nothing,
   * when another live grant holds that user_code (the caller draws a new one).
   * The grant is kept until expires_at plus one lifetime (a tombstone answering expired_token).
   * Like poll and hit, answered in the same tick by a store that can (memory).
   */
  create(grant: DeviceGrant): Maybe<boolean>
  /** The live (issued, unexpired) grant for a normalized user_code; undefined otherwise. */
  findByUserCode(userCode: string, now: EpochMs): Promise<DeviceGrant | undefined>
  /** The grant with this id, whatever its state; undefined once it is gone. */
  get(id: GrantId): Promise<DeviceGrant | undefined>
  /** Records the upstream login started for an issued grant (a newer one replaces it). Resolves false when the grant is not issued or has expired. */
  beginLogin(id: GrantId, login: LoginTransaction, now: EpochMs): Promise<boolean>
  /**
   * issued → approved | denied. With `expectState`, only while that login is the grant's latest.
   * Resolves false when the grant is no longer issued, has expired, or the state differs.
   */
  settle(id: GrantId, outcome: Settlement, now: EpochMs, expectState?: string): Promise<boolean>
  /**
   * One poll by `clientId` (RFC 8628 §3.4–3.5): interval check (+5 s on slow_down up to
   * MAX_SLOW_DOWN_INTERVAL, never asking for more than the code has left), tokens handed
   * over once, then redeemed. A store that answers in the same tick (memory) returns the result
   * itself, so the hot path allocates no promise; others return a promise.
   */
  poll(id: GrantId, clientId: string, now: EpochMs): Maybe<PollResult>
  /**
   * A confidential client's refresh token (the IdP's own, held by the device): remembers which
   * client it belongs to and the scopes granted with it, by its digest, for `ttlMs`; replaces
   * what was bound to that digest before.
   */
  bindRefreshToken(tokenDigest: string, binding: RefreshBinding, ttlMs: number): Promise<void>
  /** What a refresh token digest is bound to, if known. */
  refreshTokenBinding(tokenDigest: string): Promise<RefreshBinding | undefined>
  /** Forgets a refresh token's binding (it was revoked, RFC 7009). */
  unbindRefreshToken(tokenDigest: string): Promise<void>
  /**
   * A public client's refresh family (see refresh_family.ts): starts family `family` (the digest
   * of its name) with `handleDigest` as its current handle, kept for `ttlMs` (ms).
   */
  createFamily(family: string, handleDigest: string, value: RefreshFamily, ttlMs: number): Promise<void>
  /**
   * Claims handle `handleDigest` of `family` for one refresh by `clientId`, atomically (RFC 9700
   * §4.14.2): the current handle, when no unexpired lease holds it, is leased to `lease` until
   * `now + leaseMs` (claimed); the current handle under another live lease, or the handle the last
   * refresh used while its grace lasts (see rotateFamily), is busy (nothing changes); any other
   * handle of the family ends it (reused, the family returned this once); an unknown family or
   * another client's is unknown (nothing changes). Of concurrent claims of one handle, across
   * replicas, exactly one is claimed.
   */
  claimHandle(family: string, handleDigest: string, clientId: string, lease: string, now: EpochMs, leaseMs: number): Promise<HandleClaim>
  /**
   * Completes a claimed refresh: `nextDigest` becomes the current handle, `upstreamToken` the
   * IdP's token, the lease is dropped and the family kept for `ttlMs` from now; the handle just
   * used is busy, not reused, until `graceUntil` (duplicates of this same refresh that lost the
   * race by moments). Resolves false, changing nothing, when `lease` no longer holds the family (it
   * ended, or its lease ran out and another refresh took it over).
   */
  rotateFamily(family: string, lease: string, nextDigest: string, upstreamToken: string, ttlMs: number, graceUntil: EpochMs): Promise<boolean>
  /** Gives a claimed handle back unchanged (the IdP could not be asked): current and unleased again, if `lease` still holds it. */
  releaseHandle(family: string, lease: string): Promise<void>
  /** Ends a family now; resolves what it held, once; undefined when it is gone or (with `clientId`) another client's. */
  endFamily(family: string, clientId?: string): Promise<RefreshFamily | undefined>
  /**
   * Adds `add` (1 by default; 0 only reads) to the counter `key` in a fixed window of `windowMs`;
   * resolves the count including this event and when the window ends. Throttles are built on it.
   */
  hit(key: string, windowMs: number, now: EpochMs, add?: number): Maybe<{ count: number; resetAt: EpochMs }>
  /**
   * One attempt by `address` (already a limit key: see http/plumbing/address.ts addressKey) under `scope`
   * (user-code entry, one client's device authorizations), counted and decided in one atomic step
   * against the address's counter and the scope's shared counter, each a fixed window:
   * - while the shared count is under `bounds.shared.max`, the address may make
   *   `bounds.perAddress.max` attempts per its window;
   * - once the shared bound is reached it may make only `bounds.reachedPerAddress` (≥ 1), so the
   *   bound tightens what each address may try and never turns into a switch that one network
   *   flips for every other one.
   * An allowed attempt counts on both counters before the caller does its work (a lookup), so N
   * concurrent attempts from one address get at most its allowance between them; a refused one
   * counts nothing. Answered in the same tick by a store that can (memory).
   */
  attempt(scope: string, address: string, bounds: AttemptBounds, now: EpochMs): Maybe<AttemptVerdict>
  /**
   * Gives back one allowed attempt that turned out not to count (a right user code): both
   * counters of `attempt(scope, address, …)` less one, never below 0, their windows unchanged.
   */
  refundAttempt(scope: string, address: string, now: EpochMs): Maybe<void>
  /**
   * An operator's revocation: a grant that is issued, or approved with its tokens not yet taken,
   * becomes denied with `reason` (its device gets access_denied; parked tokens are dropped).
   * Resolves false when the grant is gone, expired, already denied or redeemed.
   */
  revoke(id: GrantId, reason: string, now: EpochMs): Promise<boolean>
  /** Grants still held (tombstones included), newest first, matching `filter`; at most `limit`. */
  list(filter: GrantFilter, now: EpochMs, limit: number): Promise<DeviceGrant[]>
  /** How many grants the store holds in each state (the dfs_grants gauge). */
  countByState(now: EpochMs): Promise<Record<GrantState, number>>
  /** Replaces the keys that seal values at rest (a config reload); stores that seal nothing ignore it. */
  rotateKeys?(keys: readonly string[]): void
  /** Resolves when the backend answers (readiness). */
  ping(): Promise<void>
  close(): Promise<void>
}
