import type { Clock } from '../../src/clock.js'

/** Real time plus an offset the test moves by hand (oidc-provider keeps real time in-process). */
export class TestClock implements Clock {
  #offset = 0
  now (): number { return Date.now() + this.#offset }
  advance (ms: number): void { this.#offset += ms }
}

/** A clock that moves only when told to, for pure unit tests of the store. */
export class FrozenClock implements Clock {
  #now: number
  constructor (start = 1_800_000_000_000) { this.#now = start }
  now (): number { return this.#now }
  advance (ms: number): void { this.#now += ms }
}
