import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.js'
import type { EpochMs } from '../oauth/types.js'
import type { GrantId } from './codes.js'
import { GRANT_STATES, grantState, isPending, newestFirst, pollStep, revokeStep, settleStep, type DeviceGrant, type GrantState, type LoginTransaction, type PollResult, type Settlement } from './grant.js'
import type { DeviceStore, GrantFilter } from './store.js'

const MAX_COUNTERS = 100_000
const MAX_INTERNED = 10_000 // distinct scope sets and user agents shared between grants
const LIST_SLICE = 5_000 // grants walked between yields to the event loop in list()

/** Grants by status, for one second of expiry times. */
interface Tally { issued: number; approved: number; denied: number; redeemed: number }

/** Options of the in-process store. */
export interface MemoryStoreOptions {
  /** Upper bound on grants held (pending, settled, tombstones). */
  maxGrants: number
  /** Upper bound on remembered refresh-token bindings (default: maxGrants / 4). */
  maxRefreshBindings?: number
  /** One code lifetime; grants are kept this long past expiry as tombstones. */
  lifetimeMs: number
  clock: Clock
}

/**
 * The default store: one process, a bounded lru-cache of grants with per-entry TTLs driven by the
 * injected clock. Each method runs synchronously, so each is atomic.
 *
 * Memory per pending grant is a budget (bench: ≤ 600 bytes of heap at 1 000 000 grants): the
 * user-code index is a plain Map kept in step by the cache's dispose hook (lru-cache preallocates
 * per-entry arrays, a second cache would double them), polls change grants in place, and scope
 * lists and user agents are shared between grants that have the same ones.
 */
export class MemoryStore implements DeviceStore {
  readonly #grants: LRUCache<GrantId, DeviceGrant>
  readonly #userCodes = new Map<string, GrantId>()
  readonly #interned = new Map<string, string | string[]>()
  readonly #refresh: LRUCache<string, string>
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
    const perf = { now: () => options.clock.now() }
    // ttlResolution 0: ask the injected clock every time (lru-cache otherwise caches "now" for 1 ms of real time)
    const timing = { perf, ttlResolution: 0 }
    this.#grants = new LRUCache({
      max: options.maxGrants,
      ...timing,
      dispose: (grant, _id, reason) => {
        if (reason === 'set') return // replaced by #replace, which keeps the tally itself
        if (this.#userCodes.get(grant.user_code) === grant.id) this.#userCodes.delete(grant.user_code)
        this.#count(grant, grant.status, -1)
      }
    })
    this.#refresh = new LRUCache({ max: options.maxRefreshBindings ?? Math.max(100, Math.ceil(options.maxGrants / 4)), ...timing })
    this.#counters = new LRUCache({ max: MAX_COUNTERS, ...timing })
  }

  create (grant: DeviceGrant): boolean {
    const now = this.#clock.now()
    if (this.#liveByUserCode(grant.user_code, now) !== undefined) return false
    grant.scopes = this.#intern(`s:${grant.scopes.join(' ')}`, grant.scopes)
    if (grant.device_user_agent !== undefined) grant.device_user_agent = this.#intern(`u:${grant.device_user_agent}`, grant.device_user_agent)
    this.#userCodes.set(grant.user_code, grant.id)
    this.#grants.set(grant.id, grant, { ttl: Math.max(1, grant.expires_at - now + this.#lifetimeMs) })
    this.#count(grant, grant.status, 1)
    return true
  }

  async findByUserCode (userCode: string, now: EpochMs): Promise<DeviceGrant | undefined> {
    return this.#liveByUserCode(userCode, now)
  }

  async get (id: GrantId): Promise<DeviceGrant | undefined> {
    return this.#grants.get(id)
  }

  async beginLogin (id: GrantId, login: LoginTransaction, now: EpochMs): Promise<boolean> {
    const grant = this.#grants.get(id)
    if (!isPending(grant, now)) return false
    this.#replace(grant, { ...grant, login })
    return true
  }

  async settle (id: GrantId, outcome: Settlement, now: EpochMs, expectState?: string): Promise<boolean> {
    const grant = this.#grants.get(id)
    const next = settleStep(grant, outcome, now, expectState)
    if (next === undefined) return false
    this.#replace(grant!, next)
    return true
  }

  poll (id: GrantId, clientId: string, now: EpochMs): PollResult {
    const grant = this.#grants.get(id)
    const { result, patch } = pollStep(grant, clientId, now)
    if (grant !== undefined && patch !== undefined) {
      // in place: this store owns its grant objects, and a poll must not copy or re-insert one
      if (patch.status !== undefined && patch.status !== grant.status) {
        this.#count(grant, grant.status, -1)
        this.#count(grant, patch.status, 1)
      }
      Object.assign(grant, patch)
      if ('tokens' in patch) delete grant.tokens
    }
    return result
  }

  async revoke (id: GrantId, reason: string, now: EpochMs): Promise<boolean> {
    const grant = this.#grants.get(id)
    const next = revokeStep(grant, reason, now)
    if (next === undefined) return false
    this.#replace(grant!, next)
    return true
  }

  async list (filter: GrantFilter, now: EpochMs, limit: number): Promise<DeviceGrant[]> {
    const out: DeviceGrant[] = []
    let walked = 0
    // values() neither reorders the LRU nor returns stale entries; yield now and then, so a listing
    // of a million grants does not stall the polls (a snapshot that may miss grants changed meanwhile)
    for (const grant of this.#grants.values()) {
      if (++walked % LIST_SLICE === 0) await new Promise(resolve => setImmediate(resolve))
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
        this.#tallies.delete(second) // past every tombstone: those grants are stale in the cache
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

  async bindRefreshToken (tokenDigest: string, clientId: string, ttlMs: number): Promise<void> {
    this.#refresh.set(tokenDigest, clientId, { ttl: Math.max(1, ttlMs) })
  }

  async refreshTokenClient (tokenDigest: string): Promise<string | undefined> {
    return this.#refresh.get(tokenDigest)
  }

  hit (key: string, windowMs: number, now: EpochMs, add = 1): { count: number; resetAt: EpochMs } {
    const current = this.#counters.get(key)
    const entry = current === undefined || current.resetAt <= now
      ? { count: add, resetAt: now + windowMs }
      : { count: current.count + add, resetAt: current.resetAt }
    if (add !== 0) this.#counters.set(key, entry, { ttl: Math.max(1, entry.resetAt - now) })
    return entry
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    this.#grants.clear()
    this.#userCodes.clear()
    this.#interned.clear()
    this.#refresh.clear()
    this.#counters.clear()
    this.#tallies.clear()
  }

  /** The issued, unexpired grant holding a user code (an expired holder no longer reserves it). */
  #liveByUserCode (userCode: string, now: EpochMs): DeviceGrant | undefined {
    const id = this.#userCodes.get(userCode)
    const grant = id === undefined ? undefined : this.#grants.get(id)
    return isPending(grant, now) ? grant : undefined
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
   * Stores a new version of a grant, keeping its remaining TTL; keeps the gauge's tally in step,
   * and a grant that is no longer issued gives up its user code.
   */
  #replace (previous: DeviceGrant, grant: DeviceGrant): void {
    if (previous.status !== grant.status) {
      this.#count(previous, previous.status, -1)
      this.#count(grant, grant.status, 1)
      if (this.#userCodes.get(grant.user_code) === grant.id) this.#userCodes.delete(grant.user_code)
    }
    const ttl = this.#grants.getRemainingTTL(grant.id)
    this.#grants.set(grant.id, grant, { ttl: Math.max(1, Number.isFinite(ttl) ? ttl : this.#lifetimeMs) })
  }
}
