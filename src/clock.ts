import type { EpochMs } from './oauth/types.js'

/** The one source of time for grant logic and caches; tests inject a clock they move by hand. */
export interface Clock {
  now(): EpochMs
}

export const systemClock: Clock = { now: () => Date.now() }
