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

t.test('expired grants leave from the front of the ring, which wraps around and stays in creation order', async t => {
  const clock = new FrozenClock()
  const lifetimeMs = 600_000
  const store = new MemoryStore({ maxGrants: 100, lifetimeMs, clock })
  const make = (i: number) => ({ id: `g${i}`, client_id: 'tv', scopes: [], user_code: `U${i}`, status: 'issued' as const, created_at: clock.now(), expires_at: clock.now() + lifetimeMs, interval: 5, last_poll_at: 0, device_ip: '::1' })
  for (let i = 0; i < 60; i++) t.equal(await store.create(make(i)), true)
  clock.advance(2 * lifetimeMs) // the 60 are past their tombstones
  for (let i = 60; i < 190; i++) t.equal(await store.create(make(i)), true) // 130 more through a ring of 100: it wraps
  t.equal(await store.get('g59'), undefined, 'an expired grant is gone')
  t.equal(await store.get('g89'), undefined, 'past max_grants the oldest live ones went')
  for (const i of [90, 140, 189]) t.equal((await store.get(`g${i}`))?.id, `g${i}`, `g${i} is kept`)
  t.equal((await store.findByUserCode('U189', clock.now()))?.id, 'g189')
  t.equal((await store.list({}, clock.now(), 1000)).length, 100, 'exactly max_grants are held')
})
