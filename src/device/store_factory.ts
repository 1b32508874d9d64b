import type { Clock } from '../clock.js'
import type { Config } from '../config/types.js'
import { MemoryStore } from './store_memory.js'
import type { DeviceStore } from './store.js'

/** Chooses the store adapter for `config.store.type` and makes sure it answers before use. */
export async function createStore (config: Config, clock: Clock): Promise<DeviceStore> {
  const store = new MemoryStore({
    maxGrants: config.store.memory.max_grants,
    lifetimeMs: config.device_flow_settings.device_flow_codelifetime_seconds * 1000,
    clock
  })
  await store.ping()
  return store
}
