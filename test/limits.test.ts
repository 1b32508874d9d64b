import t from 'tap'
import { Browser } from './helpers/browser.js'
import { authorize } from './helpers/http.js'
import { redisMissing, startRedis } from './helpers/redis.js'
import { startSidecar } from './helpers/sidecar.js'

const from = (ip: string): Record<string, string> => ({ 'x-forwarded-for': ip }) // the sidecar trusts loopback proxies

t.test('device authorization: per address and per client (which then tightens each address), 429 with Retry-After and a slow_down body', async t => {
  const sc = await startSidecar({ config: { limits: { device_authorization_per_ip: { max: 2, window_seconds: 60 }, device_authorization_per_client: { max: 4, window_seconds: 120 } } } })
  t.teardown(sc.close)
  const form = { client_id: 'tv-app', scope: 'openid' }
  t.equal((await authorize(sc, form, from('203.0.113.1'))).status, 200)
  t.equal((await authorize(sc, form, from('203.0.113.1'))).status, 200)
  const limited = await authorize(sc, form, from('203.0.113.1'))
  t.equal(limited.status, 429)
  t.equal(limited.json.error, 'slow_down')
  t.match(limited.json.error_description, /retry after \d+ seconds/)
  t.equal(limited.headers['cache-control'], 'no-store')
  const wait = Number(limited.headers['retry-after'])
  t.ok(wait >= 1 && wait <= 60, `Retry-After ${wait} is within the window`)
  t.equal((await authorize(sc, form, from('203.0.113.2'))).status, 200, 'another address is not limited')
  t.equal((await authorize(sc, form, from('203.0.113.3'))).status, 200)
  t.equal((await authorize(sc, form, from('203.0.113.2'))).status, 429, 'past the client\'s bound, an address that has asked waits')
  t.equal((await authorize(sc, form, from('203.0.113.4'))).status, 200, 'the client\'s fifth request in the window, from a fresh address: its one while the bound holds')
  const perClient = await authorize(sc, form, from('203.0.113.4'))
  t.equal(perClient.status, 429, 'and its second waits')
  t.ok(Number(perClient.headers['retry-after']) <= 120)
  t.equal((await authorize(sc, { client_id: 'cli', client_secret: 'cli-secret-2', scope: 'openid' }, from('203.0.113.5'))).status, 200, 'another client is not limited')
  t.ok(sc.logs.some(l => l.includes('"event":"device_authorization.rate_limited"') && l.includes('"reason":"per_client"')))
  sc.clock.advance(120_000)
  t.equal((await authorize(sc, form, from('203.0.113.1'))).status, 200, 'a new window')
})

t.test('user codes: a global bound on wrong entries from every address together tightens each address; a right code resets nothing', async t => {
  const sc = await startSidecar({ config: { limits: { user_code_attempts: { max: 10 }, user_code_attempts_global: { max: 3, window_seconds: 300 } } } })
  t.teardown(sc.close)
  const good = await authorize(sc)
  for (const n of [1, 2]) {
    const b = new Browser(`198.51.100.${n}`)
    t.equal((await b.submit(await b.get(`${sc.url}/device`), { user_code: 'BCDF-GHJK' })).status, 200)
  }
  const right = new Browser('198.51.100.9')
  t.equal((await right.submit(await right.get(`${sc.url}/device`), { user_code: good.json.user_code })).status, 200, 'under the bound a right code works')
  const third = new Browser('198.51.100.3')
  const thirdPage = await third.submit(await third.get(`${sc.url}/device`), { user_code: 'BCDF-GHJK' })
  t.equal(thirdPage.status, 429, 'the third wrong code in the window reaches the global bound: its address has had its one')
  const first = new Browser('198.51.100.1')
  const blocked = await first.submit(await first.get(`${sc.url}/device`), { user_code: good.json.user_code })
  t.equal(blocked.status, 429, 'past the bound, an address that has guessed waits, even with a right code')
  t.match(blocked.html, 'Too many attempts')
  t.ok(Number(blocked.headers['retry-after']) <= 300)
  const fresh = new Browser('198.51.100.4')
  t.equal((await fresh.submit(await fresh.get(`${sc.url}/device`), { user_code: good.json.user_code })).status, 200, 'an address that has not guessed gets the confirm page with a right code')
  sc.clock.advance(300_000)
  const later = new Browser('198.51.100.1')
  t.equal((await later.submit(await later.get(`${sc.url}/device`), { user_code: 'BCDF-GHJK' })).status, 200, 'a new window')
})

t.test('limits.enabled: false turns every limit off', async t => {
  const sc = await startSidecar({ config: { limits: { enabled: false, device_authorization_per_ip: { max: 1 }, user_code_attempts: { max: 1 }, user_code_attempts_global: { max: 1 } } } })
  t.teardown(sc.close)
  for (let i = 0; i < 5; i++) t.equal((await authorize(sc)).status, 200)
  const b = new Browser('198.51.100.77')
  const enter = await b.get(`${sc.url}/device`)
  for (let i = 0; i < 4; i++) t.equal((await b.submit(enter, { user_code: 'BCDF-GHJK' })).status, 200)
})

t.test('on Redis the limits hold across replicas', { skip: redisMissing() ?? false }, async t => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const store = { type: 'redis', encryption_key: 'limits-test-encryption-key-0123456789ab', redis: { url: redis.url } }
  const limits = { device_authorization_per_ip: { max: 2 }, user_code_attempts: { max: 2 } }
  const one = await startSidecar({ config: { store, limits } })
  t.teardown(one.close)
  const two = await startSidecar({ config: { store, limits } })
  t.teardown(two.close)
  t.equal((await authorize(one, undefined, from('203.0.113.50'))).status, 200)
  t.equal((await authorize(two, undefined, from('203.0.113.50'))).status, 200)
  t.equal((await authorize(one, undefined, from('203.0.113.50'))).status, 429, 'the second replica\'s request counted on the first')
  t.equal((await authorize(two, undefined, from('203.0.113.50'))).status, 429)

  const b1 = new Browser('198.51.100.60')
  t.equal((await b1.submit(await b1.get(`${one.url}/device`), { user_code: 'BCDF-GHJK' })).status, 200)
  const b2 = new Browser('198.51.100.60')
  t.equal((await b2.submit(await b2.get(`${two.url}/device`), { user_code: 'BCDF-GHJK' })).status, 429, 'wrong codes counted across replicas')
})
