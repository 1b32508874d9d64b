import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.js'
import type { EpochMs } from '../oauth/types.js'
import type { GrantId } from './codes.js'
import { isExpired, pollStep, settleStep, type DeviceGrant, type LoginTransaction, type PollResult, type Settlement } from './grant.js'
import type { DeviceStore } from './store.js'

const MAX_COUNTERS = 100_000

/** Options of the in-process store. */
export interface MemoryStoreOptions {
  /** Upper bound on grants held (pending, settled, tombstones). */
  maxGrants: number
  /** One code lifetime; grants are kept this long past expiry as tombstones. */
  lifetimeMs: number
  clock: Clock
}

/**
 * The default store: one process, bounded lru-caches with per-entry TTLs driven by the injected
 * clock. Each method runs synchronously, so each is atomic.
 */
export class MemoryStore implements DeviceStore {
  readonly #grants: LRUCache<GrantId, DeviceGrant>
  readonly #userCodes: LRUCache<string, GrantId>
  readonly #refresh: LRUCache<string, string>
  readonly #counters: LRUCache<string, { count: number; resetAt: EpochMs }>
  readonly #lifetimeMs: number
  readonly #clock: Clock

  constructor (options: MemoryStoreOptions) {
    this.#clock = options.clock
    this.#lifetimeMs = options.lifetimeMs
    const perf = { now: () => options.clock.now() }
    // ttlResolution 0: ask the injected clock every time (lru-cache otherwise caches "now" for 1 ms of real time)
    const timing = { perf, ttlResolution: 0 }
    this.#userCodes = new LRUCache({ max: options.maxGrants, ...timing })
    this.#grants = new LRUCache({
      max: options.maxGrants,
      ...timing,
      dispose: (grant, _id, reason) => {
        if (reason !== 'set' && this.#userCodes.peek(grant.user_code) === grant.id) this.#userCodes.delete(grant.user_code)
      }
    })
    this.#refresh = new LRUCache({ max: options.maxGrants, ...timing })
    this.#counters = new LRUCache({ max: MAX_COUNTERS, ...timing })
  }

  async create (grant: DeviceGrant): Promise<boolean> {
    const now = this.#clock.now()
    if (this.#userCodes.has(grant.user_code)) return false
    this.#userCodes.set(grant.user_code, grant.id, { ttl: Math.max(1, grant.expires_at - now) })
    this.#grants.set(grant.id, grant, { ttl: Math.max(1, grant.expires_at - now + this.#lifetimeMs) })
    return true
  }

  async findByUserCode (userCode: string, now: EpochMs): Promise<DeviceGrant | undefined> {
    const id = this.#userCodes.get(userCode)
    const grant = id === undefined ? undefined : this.#grants.get(id)
    if (grant === undefined || grant.status !== 'issued' || isExpired(grant, now)) return undefined
    return grant
  }

  async get (id: GrantId): Promise<DeviceGrant | undefined> {
    return this.#grants.get(id)
  }

  async beginLogin (id: GrantId, login: LoginTransaction, now: EpochMs): Promise<boolean> {
    const grant = this.#grants.get(id)
    if (grant === undefined || grant.status !== 'issued' || isExpired(grant, now)) return false
    this.#replace({ ...grant, login })
    return true
  }

  async settle (id: GrantId, outcome: Settlement, now: EpochMs, expectState?: string): Promise<boolean> {
    const next = settleStep(this.#grants.get(id), outcome, now, expectState)
    if (next === undefined) return false
    this.#replace(next)
    this.#userCodes.delete(next.user_code)
    return true
  }

  async poll (id: GrantId, clientId: string, now: EpochMs): Promise<PollResult> {
    const { result, next } = pollStep(this.#grants.get(id), clientId, now)
    if (next !== undefined) this.#replace(next)
    return result
  }

  async bindRefreshToken (tokenDigest: string, clientId: string, ttlMs: number): Promise<void> {
    this.#refresh.set(tokenDigest, clientId, { ttl: Math.max(1, ttlMs) })
  }

  async refreshTokenClient (tokenDigest: string): Promise<string | undefined> {
    return this.#refresh.get(tokenDigest)
  }

  async hit (key: string, windowMs: number, now: EpochMs, add = 1): Promise<{ count: number; resetAt: EpochMs }> {
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
    this.#refresh.clear()
    this.#counters.clear()
  }

  /** Stores a new version of a grant, keeping its remaining TTL. */
  #replace (grant: DeviceGrant): void {
    const ttl = this.#grants.getRemainingTTL(grant.id)
    this.#grants.set(grant.id, grant, { ttl: Math.max(1, Number.isFinite(ttl) ? ttl : this.#lifetimeMs) })
  }
}
