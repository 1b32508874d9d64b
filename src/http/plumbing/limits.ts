import type { Clock } from '../../clock.js'
import type { Config, SharedWindow, Window } from '../../config/types.js'
import type { DeviceStore } from '../../device/store.js'
import { then, type Maybe } from '../../maybe.js'
import { addressKey } from './address.js'

/** The limiter's answer on one attempt (see DeviceStore.attempt). */
export interface AttemptAnswer {
  /** true: counted, go ahead; false: refused (429), nothing counted. */
  allowed: boolean
  /** The shared bound is reached, so the address is held to its tightened allowance. */
  tightened: boolean
  /** The address may make no further attempt now (an allowed one was its last). */
  exhausted: boolean
  /** Seconds until it may try again, when exhausted. */
  retryAfter: number
}

/** A per-address limit and the shared one that tightens it (limits.*). */
export interface AttemptLimits {
  perAddress: Window
  shared: SharedWindow
}

/**
 * Fixed-window rate limits (limits.*), counted in the store so that on Redis they hold across
 * replicas; every per-address key is the address's addressKey. Each check is one atomic
 * count-and-decide in the store, never a read and a later write. `limits` is read on every call,
 * so a reloaded config applies at once.
 */
export class Limiter {
  readonly #store: DeviceStore
  readonly #clock: Clock
  readonly #limits: () => Config['limits']

  constructor (store: DeviceStore, clock: Clock, limits: () => Config['limits']) {
    this.#store = store
    this.#clock = clock
    this.#limits = limits
  }

  /** Counts one request from `ip` under `name`; resolves the seconds to wait when it is over the limit. */
  take (name: string, ip: string, window: (l: Config['limits']) => Window): Maybe<number | undefined> {
    const limits = this.#limits()
    if (!limits.enabled) return undefined
    const w = window(limits)
    const now = this.#clock.now()
    return then(this.#store.hit(`rl:${name}:${addressKey(ip)}`, w.window_seconds * 1000, now), ({ count, resetAt }) =>
      count > w.max ? seconds(resetAt, now) : undefined)
  }

  /**
   * One attempt from `ip` under `scope`, counted before the caller's work: allowed while the
   * address is under its limit, and once the shared bound is reached while it is under the
   * tightened allowance. undefined when limits are off.
   */
  attempt (scope: string, ip: string, limits: (l: Config['limits']) => AttemptLimits): Maybe<AttemptAnswer | undefined> {
    const all = this.#limits()
    if (!all.enabled) return undefined
    const { perAddress, shared } = limits(all)
    const now = this.#clock.now()
    const bounds = {
      perAddress: { max: perAddress.max, windowMs: perAddress.window_seconds * 1000 },
      shared: { max: shared.max, windowMs: shared.window_seconds * 1000 },
      reachedPerAddress: shared.per_address_when_reached
    }
    return then(this.#store.attempt(scope, addressKey(ip), bounds, now), v =>
      ({ allowed: v.allowed, tightened: v.tightened, exhausted: !v.allowed || v.left === 0, retryAfter: seconds(v.retryAt, now) }))
  }

  /** Gives back an allowed attempt that does not count (a right user code). */
  refund (scope: string, ip: string): Maybe<void> {
    if (!this.#limits().enabled) return undefined
    return this.#store.refundAttempt(scope, addressKey(ip), this.#clock.now())
  }
}

/** Whole seconds from `now` to `at`, at least 1 (Retry-After). */
function seconds (at: number, now: number): number {
  return Math.max(1, Math.ceil((at - now) / 1000))
}
