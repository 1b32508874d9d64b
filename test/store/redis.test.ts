import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { parseConfig } from '../../src/config/load.js'
import { Sealer } from '../../src/device/sealing.js'
import { RedisStore } from '../../src/device/store_redis.js'
import { createStore } from '../../src/device/store_factory.js'
import { systemClock } from '../../src/clock.js'
import { redisMissing, startCluster, startRedis, startSentinel } from '../helpers/redis.js'
import { storeSuite } from './suite.js'

const skip = redisMissing()
const redis = skip === undefined ? await startRedis() : undefined
t.teardown(() => redis?.stop())
const KEY = 'an-encryption-key-of-at-least-32-characters'
const LIFETIME = 800
const config = (redisYaml = `redis: { url: "${redis?.url}", key_prefix: "suite:", command_timeout_ms: 500 }`) => parseConfig(`server: { public_url: "http://127.0.0.1:1", cookie_keys: ["${'c'.repeat(32)}"] }
upstream: { url: "http://127.0.0.1:2", client_id: x, client_secret: y }
clients: [{ client_id: tv }]
store: { type: redis, encryption_key: "${KEY}", ${redisYaml} }
`, {})

/** The shared suite against a Redis reached with this `store.redis` (YAML flow mapping body). */
function suiteOn (redisYaml: () => Promise<{ yaml: string; stop?: () => Promise<void> }>) {
  return async (t: Test) => {
    const { yaml, stop } = await redisYaml()
    if (stop !== undefined) t.teardown(stop)
    const c = config(`redis: { ${yaml} }`)
    storeSuite(t, async () => {
      const store = new RedisStore({ redis: c.store.redis!, lifetimeMs: LIFETIME, sealer: new Sealer([KEY]), clock: systemClock })
      await store.open()
      return { store, lifetimeMs: LIFETIME, now: () => Date.now(), advance: ms => new Promise(resolve => setTimeout(resolve, ms + 30)) }
    })
  }
}

t.test('the shared store contract, on a real redis-server', { skip: skip ?? false }, suiteOn(async () => ({ yaml: `url: "${redis!.url}", key_prefix: "suite:", command_timeout_ms: 500` })))

t.test('the shared store contract, on a Redis Cluster of three masters (hash-tagged keys)', { skip: skip ?? false }, suiteOn(async () => {
  const cluster = await startCluster()
  return { yaml: `cluster: { nodes: ${JSON.stringify(cluster.nodes)} }`, stop: cluster.stop }
}))

t.test('the shared store contract, through Redis Sentinel', { skip: skip ?? false }, suiteOn(async () => {
  const sentinel = await startSentinel()
  return { yaml: `sentinel: { name: ${sentinel.name}, nodes: ${JSON.stringify(sentinel.nodes)} }`, stop: sentinel.stop }
}))

t.test('Redis specifics', { skip: skip ?? false }, async t => {
  const store = await createStore(config(), systemClock)
  t.teardown(() => store.close())
  const raw = new Redis(redis!.url)
  t.teardown(() => raw.quit())
  const now = Date.now()
  const tokens = { access_token: 'AT-secret-value', token_type: 'Bearer', refresh_token: 'RT-secret-value', id_token: 'ID-secret-value' }

  t.test('a dump holds no device code, no tokens and no PKCE verifier; every key has a TTL; keys of a grant share a hash tag', async t => {
    const id = 'grant-id-hash'
    t.ok(await store.create({ id, client_id: 'tv', scopes: ['openid'], user_code: 'BCDFGHJK', status: 'issued', created_at: now, expires_at: now + 60_000, interval: 5, last_poll_at: 0, device_ip: '192.0.2.1' }))
    t.ok(await store.beginLogin(id, { state: 'STATE-secret', code_verifier: 'VERIFIER-secret', nonce: 'NONCE-secret', started_at: now }, now))
    t.ok(await store.bindRefreshToken('rt-digest', { client_id: 'tv', scopes: ['openid'] }, 60_000) === undefined)
    await store.createFamily('family-digest', 'handle-digest', { client_id: 'tv', upstream_token: 'FAMILY-RT-secret-value' }, 60_000)
    await store.hit('uc:192.0.2.1', 60_000, now)
    await store.attempt('uc', '192.0.2.1', { perAddress: { max: 10, windowMs: 60_000 }, shared: { max: 100, windowMs: 60_000 }, reachedPerAddress: 1 }, now)
    const keys = await raw.keys('suite:*')
    t.ok(keys.includes(`suite:{${id}}:g`))
    let dump = ''
    for (const key of keys) {
      t.ok(await raw.pttl(key) > 0, `${key} expires`)
      dump += JSON.stringify(await raw.dump(key))
    }
    t.notMatch(dump, /VERIFIER-secret|NONCE-secret|STATE-secret|FAMILY-RT-secret/)
    t.ok(keys.includes('suite:{rf:family-digest}:f'), 'a family is one key, under its own hash tag')
    t.ok(await store.settle(id, { status: 'approved', tokens }, now))
    t.ok(await raw.pttl(`suite:{${id}}:t`) > 0, 'parked tokens expire')
    t.equal(await raw.exists('suite:uc:BCDFGHJK'), 0, 'the user-code index goes on settle')
    const parked = await raw.get(`suite:{${id}}:t`)
    t.match(parked, /^v1\./)
    t.notMatch(parked, /secret-value/)
    t.strictSame((await store.poll(id, 'tv', now)), { status: 'approved', tokens })
  })

  t.test('a value sealed with a retired key still opens after rotation; an unknown key does not', async t => {
    const id = 'rotated'
    await store.create({ id, client_id: 'tv', scopes: [], user_code: 'ZZZZZZZZ', status: 'issued', created_at: now, expires_at: now + 60_000, interval: 5, last_poll_at: 0, device_ip: '::1' })
    await store.settle(id, { status: 'approved', tokens }, now)
    const newKey = 'a-brand-new-key-of-at-least-32-characters!!'
    const rotated = new RedisStore({ redis: config().store.redis!, lifetimeMs: LIFETIME, sealer: new Sealer([newKey, KEY]), clock: systemClock })
    await rotated.open()
    t.teardown(() => rotated.close())
    const other = new RedisStore({ redis: config().store.redis!, lifetimeMs: LIFETIME, sealer: new Sealer([newKey]), clock: systemClock })
    await other.open()
    t.teardown(() => other.close())
    await t.rejects(other.poll(id, 'tv', now), { code: 'ERR_STORE_UNAVAILABLE' })
    // the failed open above happened after the script took the tokens: seal again and read with the rotated store
    const id2 = 'rotated-2'
    await store.create({ id: id2, client_id: 'tv', scopes: [], user_code: 'ZZZZZZZB', status: 'issued', created_at: now, expires_at: now + 60_000, interval: 5, last_poll_at: 0, device_ip: '::1' })
    await store.settle(id2, { status: 'approved', tokens }, now)
    t.strictSame(await rotated.poll(id2, 'tv', now), { status: 'approved', tokens })
  })

  t.test('a refresh binding stored before bindings kept scopes (the client_id alone) reads as the client without scopes; binding it again replaces it', async t => {
    await raw.set('suite:rt:legacy-digest', 'tv', 'PX', 60_000)
    t.strictSame(await store.refreshTokenBinding('legacy-digest'), { client_id: 'tv' }, 'the refresh then falls back to the client\'s configured scopes')
    await store.bindRefreshToken('legacy-digest', { client_id: 'tv', scopes: ['offline_access'] }, 60_000)
    t.strictSame(await store.refreshTokenBinding('legacy-digest'), { client_id: 'tv', scopes: ['offline_access'] })
    t.ok(await raw.pttl('suite:rt:legacy-digest') > 0, 'it expires')
    await store.unbindRefreshToken('legacy-digest')
    t.equal(await raw.exists('suite:rt:legacy-digest'), 0)
    await raw.set('suite:rt:legacy-digest', 'tv', 'PX', 60_000)
    await store.unbindRefreshToken('legacy-digest')
    t.equal(await raw.exists('suite:rt:legacy-digest'), 0, 'an old binding is dropped too (revocation)')
  })

  t.test('start-up fails with the reason when Redis cannot be reached', async t => {
    await t.rejects(createStore(config('redis: { url: "redis://127.0.0.1:1", connect_timeout_ms: 500 }'), systemClock), { name: 'SidecarError', code: 'ERR_STORE_UNAVAILABLE', message: /^Redis cannot be reached: / })
  })
})
