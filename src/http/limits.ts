import type { Clock } from '../clock.js'
import type { Config, Window } from '../config/types.js'
import type { DeviceStore } from '../device/store.js'
import { then, type Maybe } from '../maybe.js'

/**
 * Fixed-window rate limits (limits.*), counted in the store so that on Redis they hold across
 * replicas. `limits` is read on every call, so a reloaded config applies at once.
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

  /** Counts one request against `key` in `window`; resolves the seconds to wait when it is over the limit. */
  take (key: string, window: (l: Config['limits']) => Window): Maybe<number | undefined> {
    return this.#count(key, window, 1, (count, max) => count > max)
  }

  /** Without counting: the seconds to wait when `key` has already reached its limit. */
  blocked (key: string, window: (l: Config['limits']) => Window): Maybe<number | undefined> {
    return this.#count(key, window, 0, (count, max) => count >= max)
  }

  /** Counts a failure against `key` (wrong user codes); resolves the seconds to wait when that reached the limit. */
  fail (key: string, window: (l: Config['limits']) => Window): Maybe<number | undefined> {
    return this.#count(key, window, 1, (count, max) => count >= max)
  }

  #count (key: string, window: (l: Config['limits']) => Window, add: number, over: (count: number, max: number) => boolean): Maybe<number | undefined> {
    const limits = this.#limits()
    if (!limits.enabled) return undefined
    const w = window(limits)
    const now = this.#clock.now()
    return then(this.#store.hit(`rl:${key}`, w.window_seconds * 1000, now, add), ({ count, resetAt }) =>
      over(count, w.max) ? Math.max(1, Math.ceil((resetAt - now) / 1000)) : undefined)
  }
}
