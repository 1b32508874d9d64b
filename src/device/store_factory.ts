import type { Clock } from '../clock.js'
import { longestLifetime } from '../config/client_flow.js'
import type { Config } from '../config/types.js'
import { Sealer } from './sealing.js'
import { MemoryStore } from './store_memory.js'
import { RedisStore } from './store_redis.js'
import type { DeviceStore } from './store.js'

/**
 * Chooses the store adapter for `config.store.type` and makes sure it answers before the sidecar
 * listens (Redis: connect and round-trip a probe key; rejects with ERR_STORE_UNAVAILABLE).
 */
export async function createStore (config: Config, clock: Clock): Promise<DeviceStore> {
  // a tombstone lasts the longest lifetime a client has, so every expired code answers expired_token for at least its own
  const lifetimeMs = longestLifetime(config) * 1000
  if (config.store.type === 'redis') {
    const store = new RedisStore({ redis: config.store.redis!, lifetimeMs, sealer: new Sealer(config.store.encryption_key!), clock })
    await store.open()
    return store
  }
  return new MemoryStore({ maxGrants: config.store.memory.max_grants, lifetimeMs, clock })
}
