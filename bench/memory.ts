/**
 * Heap bytes per pending grant in the memory store, in a fresh process (run with --expose-gc):
 * heap after forced GC before the store exists, then after N grants are issued through the same
 * issueGrant the endpoint uses and each is polled once (a pending grant's device is polling).
 * Prints one JSON line.
 */
import { systemClock } from '../src/clock.js'
import { loadConfig } from '../src/config/load.js'
import { issueGrant } from '../src/device/issue.js'
import { createStore } from '../src/device/store_factory.js'

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')
const [file, n] = [process.argv[2]!, Number(process.argv[3])]
const config = loadConfig(file)
const client = config.clients[0]!
const settle = (): number => { gc(); gc(); return process.memoryUsage().heapUsed }

const before = settle()
const store = await createStore(config, systemClock)
const now = systemClock.now()
const ids: string[] = []
for (let i = 0; i < n; i++) {
  const issued = await issueGrant(store, config.device_flow_settings, { client_id: client.client_id, scopes: [...client.scopes], device_ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, device_user_agent: 'SmartTV/5.1 (Linux; Tizen 6.5)' }, now)
  ids.push(issued!.grant.id)
}
// a pending grant is one whose device is polling: each is polled once, as the device would
for (const id of ids) await store.poll(id, client.client_id, now + 1000)
ids.length = 0
const after = settle()
process.stdout.write(`${JSON.stringify({ grants: n, bytesPerGrant: (after - before) / n, heapMiB: after / 2 ** 20, rssMiB: process.memoryUsage().rss / 2 ** 20 })}\n`)
await store.close()
