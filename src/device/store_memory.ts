import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.js'
import type { EpochMs } from '../oauth/types.js'
import type { GrantId } from './codes.js'
import { GRANT_STATES, grantState, isPending, newestFirst, pollInPlace, revokeStep, settleStep, type DeviceGrant, type GrantState, type LoginTransaction, type PollResult, type Settlement } from './grant.js'
import type { HandleClaim, RefreshFamily } from './refresh_family.js'
import type { AttemptBounds, AttemptVerdict, DeviceStore, GrantFilter, RefreshBinding } from './store.js'

const MAX_COUNTERS = 100_000
const MAX_INTERNED = 10_000 // distinct scope sets and user agents shared between grants
const LIST_SLICE = 5_000 // grants walked between yields to the event loop in list()

/** A refresh family with its current handle's digest and the lease of a refresh in flight. */
interface FamilyRecord extends RefreshFamily {
  current: string
  lease: string | undefined
  leaseUntil: EpochMs
  /** The handle the last refresh used, busy rather than reused until `previousUntil`. */
  previous: string | undefined
  previousUntil: EpochMs
}

/** Grants by status, for one second of expiry times. */
interface Tally { issued: number; approved: number; denied: number; redeemed: number }

/** Options of the in-process store. */
export interface MemoryStoreOptions {
  /** Upper bound on grants held (pending, settled, tombstones). */
  maxGrants: number
  /** Upper bound on remembered refresh-token bindings, and on refresh families (default: maxGrants / 4 each). */
  maxRefreshBindings?: number
  /** One code lifetime; grants are kept this long past expiry as tombstones. */
  lifetimeMs: number
  clock: Clock
}

/**
 * The default store: one process, grants in a Map with a ring of their ids in creation order, and
 * lru-caches for refresh-token bindings, refresh families (plaintext: they never leave the
 * process) and counters. Each method runs synchronously, so each is atomic.
 *
 * Every grant is kept for the same time (its code lifetime, then one more as a tombstone that
 * answers expired_token), so creation order is eviction order: expired grants leave from the front
 * of the ring as new ones arrive, and past max_grants the oldest goes first (always the one nearest
 * its end). Reads check the time themselves, so an entry not yet swept is never served. A poll is
 * one Map lookup; an LRU cache also read two TTL arrays and relinked its recency list on every get,
 * cache misses that cost ~8 µs a poll in situ over 100 000 grants (bench/README.md).
 *
 * Memory per pending grant is a budget (bench: ≤ 600 bytes of heap at 1 000 000 grants): the
 * user-code index is a plain Map, polls change grants in place, and scope lists and user agents
 * are shared between grants that have the same ones.
 */
export class MemoryStore implements DeviceStore {
  readonly #grants = new Map<GrantId, DeviceGrant>()
  /** Grant ids in creation order: #ring[#head] is the oldest; #grants.size of them are queued. */
  readonly #ring: Array<GrantId | undefined>
  /** When each ring entry is past its tombstone, so a sweep finds nothing to do without a Map lookup. */
  readonly #goneAt: Float64Array
  #head = 0
  readonly #maxGrants: number
  readonly #userCodes = new Map<string, GrantId>()
  readonly #interned = new Map<string, string | string[]>()
  readonly #refresh: LRUCache<string, RefreshBinding>
  readonly #families: LRUCache<string, FamilyRecord>
  readonly #counters: LRUCache<string, { count: number; resetAt: EpochMs }>
  readonly #lifetimeMs: number
  readonly #clock: Clock
  /**
   * The dfs_grants gauge without walking the grants: counts by status per second of expires_at,
   * kept in step with every transition (O(1) per change, a few hundred seconds to sum per scrape).
   */
  readonly #tallies = new Map<number, Tally>()

  constructor (options: MemoryStoreOptions) {
    this.#clock = options.clock
    this.#lifetimeMs = options.lifetimeMs
    this.#maxGrants = options.maxGrants
    this.#ring = new Array<GrantId | undefined>(options.maxGrants).fill(undefined)
    this.#goneAt = new Float64Array(options.maxGrants)
    const perf = { now: () => options.clock.now() }
    // ttlResolution 0: ask the injected clock every time (lru-cache otherwise caches "now" for 1 ms of real time)
    const timing = { perf, ttlResolution: 0 }
    const maxRefresh = options.maxRefreshBindings ?? Math.max(100, Math.ceil(options.maxGrants / 4))
    this.#refresh = new LRUCache({ max: maxRefresh, ...timing })
    this.#families = new LRUCache({ max: maxRefresh, ...timing })
    this.#counters = new LRUCache({ max: MAX_COUNTERS, ...timing })
  }

  create (grant: DeviceGrant): boolean {
    const now = this.#clock.now()
    // ids are unique (SHA-256 of 256 random bits), so the ring never holds one twice
    if (this.#liveByUserCode(grant.user_code, now) !== undefined) return false
    grant.scopes = this.#intern(`s:${grant.scopes.join(' ')}`, grant.scopes)
    if (grant.device_user_agent !== undefined) grant.device_user_agent = this.#intern(`u:${grant.device_user_agent}`, grant.device_user_agent)
    this.#sweep(now)
    this.#userCodes.set(grant.user_code, grant.id)
    const slot = (this.#head + this.#grants.size) % this.#maxGrants
    this.#ring[slot] = grant.id
    this.#goneAt[slot] = grant.expires_at + this.#lifetimeMs
    this.#grants.set(grant.id, grant)
    this.#count(grant, grant.status, 1)
    return true
  }

  async findByUserCode (userCode: string, now: EpochMs): Promise<DeviceGrant | undefined> {
    return this.#liveByUserCode(userCode, now)
  }

  async get (id: GrantId): Promise<DeviceGrant | undefined> {
    return this.#live(id, this.#clock.now())
  }

  async beginLogin (id: GrantId, login: LoginTransaction, now: EpochMs): Promise<boolean> {
    const grant = this.#live(id, now)
    if (!isPending(grant, now)) return false
    this.#replace(grant, { ...grant, login })
    return true
  }

  async settle (id: GrantId, outcome: Settlement, now: EpochMs, expectState?: string): Promise<boolean> {
    const grant = this.#live(id, now)
    const next = settleStep(grant, outcome, now, expectState)
    if (next === undefined) return false
    this.#replace(grant!, next)
    return true
  }

  poll (id: GrantId, clientId: string, now: EpochMs): PollResult {
    const grant = this.#live(id, now)
    const before = grant?.status
    const result = pollInPlace(grant, clientId, now)
    if (grant !== undefined && grant.status !== before) {
      this.#count(grant, before!, -1)
      this.#count(grant, grant.status, 1)
    }
    return result
  }

  async revoke (id: GrantId, reason: string, now: EpochMs): Promise<boolean> {
    const grant = this.#live(id, now)
    const next = revokeStep(grant, reason, now)
    if (next === undefined) return false
    this.#replace(grant!, next)
    return true
  }

  async list (filter: GrantFilter, now: EpochMs, limit: number): Promise<DeviceGrant[]> {
    const out: DeviceGrant[] = []
    let walked = 0
    // yield now and then, so a listing of a million grants does not stall the polls (a snapshot
    // that may miss grants changed meanwhile)
    for (const grant of this.#grants.values()) {
      if (++walked % LIST_SLICE === 0) await new Promise(resolve => setImmediate(resolve))
      if (this.#isGone(grant, now)) continue
      if (filter.client_id !== undefined && grant.client_id !== filter.client_id) continue
      if (filter.state !== undefined && grantState(grant, now) !== filter.state) continue
      out.push(grant)
    }
    return out.sort(newestFirst).slice(0, limit)
  }

  async countByState (now: EpochMs): Promise<Record<GrantState, number>> {
    const counts = Object.fromEntries(GRANT_STATES.map(s => [s, 0])) as Record<GrantState, number>
    for (const [second, t] of this.#tallies) {
      const expiresAt = second * 1000
      if (expiresAt + this.#lifetimeMs < now) {
        this.#tallies.delete(second) // past every tombstone: those grants are gone, swept or not
        continue
      }
      if (expiresAt > now) {
        counts.pending += t.issued
        counts.approved += t.approved
      } else {
        counts.expired += t.issued + t.approved
      }
      counts.denied += t.denied
      counts.redeemed += t.redeemed
    }
    return counts
  }

  async bindRefreshToken (tokenDigest: string, binding: RefreshBinding, ttlMs: number): Promise<void> {
    this.#refresh.set(tokenDigest, { ...binding }, { ttl: Math.max(1, ttlMs) }) // the scopes list is shared (the grant's, interned)
  }

  async refreshTokenBinding (tokenDigest: string): Promise<RefreshBinding | undefined> {
    const binding = this.#refresh.get(tokenDigest)
    return binding === undefined ? undefined : bindingOf(binding)
  }

  async unbindRefreshToken (tokenDigest: string): Promise<void> {
    this.#refresh.delete(tokenDigest)
  }

  async createFamily (family: string, handleDigest: string, value: RefreshFamily, ttlMs: number): Promise<void> {
    this.#families.set(family, { ...value, current: handleDigest, lease: undefined, leaseUntil: 0, previous: undefined, previousUntil: 0 }, { ttl: Math.max(1, ttlMs) })
  }

  async claimHandle (family: string, handleDigest: string, clientId: string, lease: string, now: EpochMs, leaseMs: number): Promise<HandleClaim> {
    const f = this.#families.get(family)
    if (f === undefined || f.client_id !== clientId) return { status: 'unknown' }
    if (f.current !== handleDigest) {
      if (f.previous === handleDigest && now < f.previousUntil) return { status: 'busy' }
      this.#families.delete(family)
      return { status: 'reused', family: familyOf(f) }
    }
    if (f.lease !== undefined && f.leaseUntil > now) return { status: 'busy' }
    f.lease = lease
    f.leaseUntil = now + leaseMs
    return { status: 'claimed', family: familyOf(f) }
  }

  async rotateFamily (family: string, lease: string, nextDigest: string, upstreamToken: string, ttlMs: number, graceUntil: EpochMs): Promise<boolean> {
    const f = this.#families.get(family)
    if (f === undefined || f.lease !== lease) return false
    this.#families.set(family, { ...f, current: nextDigest, upstream_token: upstreamToken, lease: undefined, leaseUntil: 0, previous: f.current, previousUntil: graceUntil }, { ttl: Math.max(1, ttlMs) })
    return true
  }

  async releaseHandle (family: string, lease: string): Promise<void> {
    const f = this.#families.get(family)
    if (f !== undefined && f.lease === lease) f.lease = undefined
  }

  async endFamily (family: string, clientId?: string): Promise<RefreshFamily | undefined> {
    const f = this.#families.get(family)
    if (f === undefined || (clientId !== undefined && f.client_id !== clientId)) return undefined
    this.#families.delete(family)
    return familyOf(f)
  }

  hit (key: string, windowMs: number, now: EpochMs, add = 1): { count: number; resetAt: EpochMs } {
    const current = this.#counters.get(key)
    const entry = current === undefined || current.resetAt <= now
      ? { count: add, resetAt: now + windowMs }
      : { count: current.count + add, resetAt: current.resetAt }
    if (add !== 0) this.#counters.set(key, entry, { ttl: Math.max(1, entry.resetAt - now) })
    return entry
  }

  attempt (scope: string, address: string, bounds: AttemptBounds, now: EpochMs): AttemptVerdict {
    const ownKey = `at:${scope}\n${address}`
    const sharedKey = `at:${scope}`
    const own = this.#current(ownKey, bounds.perAddress.windowMs, now)
    const shared = this.#current(sharedKey, bounds.shared.windowMs, now)
    if (own.count >= allowance(shared.count, bounds)) return verdict(false, own, shared, bounds)
    const ownNext = { count: own.count + 1, resetAt: own.resetAt }
    const sharedNext = { count: shared.count + 1, resetAt: shared.resetAt }
    this.#counters.set(ownKey, ownNext, { ttl: Math.max(1, ownNext.resetAt - now) })
    this.#counters.set(sharedKey, sharedNext, { ttl: Math.max(1, sharedNext.resetAt - now) })
    return verdict(true, ownNext, sharedNext, bounds)
  }

  refundAttempt (scope: string, address: string, now: EpochMs): void {
    for (const key of [`at:${scope}\n${address}`, `at:${scope}`]) {
      const current = this.#counters.get(key)
      if (current === undefined || current.resetAt <= now || current.count <= 0) continue
      this.#counters.set(key, { count: current.count - 1, resetAt: current.resetAt }, { ttl: Math.max(1, current.resetAt - now) })
    }
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    this.#grants.clear()
    this.#ring.fill(undefined)
    this.#head = 0
    this.#userCodes.clear()
    this.#interned.clear()
    this.#refresh.clear()
    this.#families.clear()
    this.#counters.clear()
    this.#tallies.clear()
  }

  /** The counter `key` in its current window: a fresh one (not stored) when none is open. */
  #current (key: string, windowMs: number, now: EpochMs): { count: number; resetAt: EpochMs } {
    const current = this.#counters.get(key)
    return current === undefined || current.resetAt <= now ? { count: 0, resetAt: now + windowMs } : current
  }

  /** The issued, unexpired grant holding a user code (an expired holder no longer reserves it). */
  #liveByUserCode (userCode: string, now: EpochMs): DeviceGrant | undefined {
    const id = this.#userCodes.get(userCode)
    const grant = id === undefined ? undefined : this.#grants.get(id)
    return isPending(grant, now) ? grant : undefined
  }

  /** The grant, unless it is past its tombstone (swept or not yet). */
  #live (id: GrantId, now: EpochMs): DeviceGrant | undefined {
    const grant = this.#grants.get(id)
    return grant === undefined || this.#isGone(grant, now) ? undefined : grant
  }

  #isGone (grant: DeviceGrant, now: EpochMs): boolean {
    return now >= grant.expires_at + this.#lifetimeMs
  }

  /**
   * Drops grants from the front of the ring while they are past their tombstone, and the oldest
   * while the store is full; amortized O(1) per create. A grant that outlives the one in front of
   * it (a shorter lifetime set in a test) waits for its turn, unseen by reads.
   */
  #sweep (now: EpochMs): void {
    while (this.#grants.size > 0) {
      if (this.#grants.size < this.#maxGrants && now < this.#goneAt[this.#head]!) return
      const id = this.#ring[this.#head]!
      const grant = this.#grants.get(id)!
      this.#ring[this.#head] = undefined
      this.#head = (this.#head + 1) % this.#maxGrants
      this.#grants.delete(id)
      if (this.#userCodes.get(grant.user_code) === id) this.#userCodes.delete(grant.user_code)
      this.#count(grant, grant.status, -1)
    }
  }

  /** One shared copy of a value many grants repeat (bounded; past the bound, values are kept as given). */
  #intern<T extends string | string[]> (key: string, value: T): T {
    const known = this.#interned.get(key)
    if (known !== undefined) return known as T
    if (this.#interned.size < MAX_INTERNED) this.#interned.set(key, value)
    return value
  }

  /** Adds `delta` to the tally of `status` for the second the grant expires in. */
  #count (grant: DeviceGrant, status: DeviceGrant['status'], delta: number): void {
    const second = Math.ceil(grant.expires_at / 1000)
    let t = this.#tallies.get(second)
    if (t === undefined) {
      if (delta < 0) return // a grant whose second was already dropped as past its tombstone
      t = { issued: 0, approved: 0, denied: 0, redeemed: 0 }
      this.#tallies.set(second, t)
    }
    t[status] += delta
  }

  /**
   * Stores a new version of a grant (same id and times, so its place in the ring stands); keeps
   * the gauge's tally in step, and a grant that is no longer issued gives up its user code.
   */
  #replace (previous: DeviceGrant, grant: DeviceGrant): void {
    if (previous.status !== grant.status) {
      this.#count(previous, previous.status, -1)
      this.#count(grant, grant.status, 1)
      if (this.#userCodes.get(grant.user_code) === grant.id) this.#userCodes.delete(grant.user_code)
    }
    this.#grants.set(grant.id, grant)
  }
}

/** Attempts an address may make given the shared count: its own max, or the tightened allowance once the shared bound is reached. */
function allowance (sharedCount: number, bounds: AttemptBounds): number {
  return sharedCount >= bounds.shared.max ? Math.min(bounds.perAddress.max, bounds.reachedPerAddress) : bounds.perAddress.max
}

/** DeviceStore.attempt's answer from the two counters as they stand after it (see src/device/lua/attempt.lua for the same steps). */
function verdict (allowed: boolean, own: { count: number; resetAt: EpochMs }, shared: { count: number; resetAt: EpochMs }, bounds: AttemptBounds): AttemptVerdict {
  const tightened = shared.count >= bounds.shared.max && own.count < bounds.perAddress.max
  const left = Math.max(0, allowance(shared.count, bounds) - own.count)
  // held only by the tightening: free again when either window ends
  const retryAt = tightened ? Math.min(own.resetAt, shared.resetAt) : own.resetAt
  return { allowed, tightened, left, retryAt }
}

function familyOf (f: FamilyRecord): RefreshFamily {
  const family: RefreshFamily = { client_id: f.client_id, upstream_token: f.upstream_token }
  if (f.subject !== undefined) family.subject = f.subject
  if (f.scopes !== undefined) family.scopes = [...f.scopes]
  return family
}

/** A copy of a binding, so what the store holds is never changed through what it handed out. */
function bindingOf (b: RefreshBinding): RefreshBinding {
  return b.scopes === undefined ? { client_id: b.client_id } : { client_id: b.client_id, scopes: [...b.scopes] }
}
