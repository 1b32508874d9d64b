import t from 'tap'
import { MemoryStore } from '../../src/device/store_memory.js'
import { FrozenClock } from '../helpers/clock.js'
import { storeSuite } from './suite.js'

storeSuite(t, async () => {
  const clock = new FrozenClock()
  return {
    store: new MemoryStore({ maxGrants: 1000, lifetimeMs: 600_000, clock }),
    lifetimeMs: 600_000,
    now: () => clock.now(),
    advance: async ms => { clock.advance(ms) }
  }
})

t.test('stays within max_grants, dropping the oldest', async t => {
  const clock = new FrozenClock()
  const store = new MemoryStore({ maxGrants: 100, lifetimeMs: 600_000, clock })
  for (let i = 0; i < 150; i++) {
    await store.create({ id: `g${i}`, client_id: 'tv', scopes: [], user_code: `U${i}`, status: 'issued', created_at: clock.now(), expires_at: clock.now() + 600_000, interval: 5, last_poll_at: 0, device_ip: '::1' })
  }
  t.equal(await store.get('g0'), undefined)
  t.equal(await store.findByUserCode('U0', clock.now()), undefined, 'its user code went with it')
  t.equal((await store.get('g149'))?.id, 'g149')
})
