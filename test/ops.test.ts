import t from 'tap'
import { approveOnPhone, Browser } from './helpers/browser.js'
import { authorize, get, poll, post } from './helpers/http.js'
import { sample, scrape } from './helpers/metrics.js'
import { redisMissing, startRedis } from './helpers/redis.js'
import { startSidecar, type SlowProvider } from './helpers/sidecar.js'

const da = (outcome: string): string => `dfs_device_authorizations_total{outcome=${outcome}}`
const tp = (outcome: string): string => `dfs_token_polls_total{outcome=${outcome}}`
const vf = (outcome: string): string => `dfs_verifications_total{outcome=${outcome}}`

t.test('metrics: every outcome counter moves after its action, scraped over HTTP', async t => {
  const sc = await startSidecar({ config: { limits: { device_authorization_per_ip: { max: 40 }, user_code_attempts: { max: 2 } } } })
  t.teardown(sc.close)
  let before = await scrape(sc.adminUrl!)
  /** Asserts that `key` moved by exactly `by` since the last check, and takes a new baseline. */
  const moved = async (key: string, by: number, what: string): Promise<void> => {
    const now = await scrape(sc.adminUrl!)
    t.equal(sample(now, key) - sample(before, key), by, `${key} +${by} after ${what}`)
    before = now
  }
  for (const key of [da('issued'), tp('pending'), vf('code_wrong'), 'dfs_grants{state=pending}']) t.ok(before.has(key), `${key} is exported from the start`)

  // device authorization
  const a = await authorize(sc)
  t.equal(a.status, 200)
  await moved(da('issued'), 1, 'a device authorization')
  await authorize(sc, { client_id: 'nobody' })
  await moved(da('invalid_client'), 1, 'an unknown client')
  await authorize(sc, { client_id: 'tv-app', scope: 'admin' })
  await moved(da('invalid_scope'), 1, 'a scope the client may not ask for')
  await authorize(sc, { scope: 'openid' })
  await moved(da('invalid_request'), 1, 'no client_id')
  await authorize(sc, { client_id: 'refresh-only' })
  await moved(da('unauthorized_client'), 1, 'a client without the device grant')

  // token polls
  t.equal((await poll(sc, a.json.device_code)).json.error, 'authorization_pending')
  await moved(tp('pending'), 1, 'a first poll')
  t.equal((await poll(sc, a.json.device_code)).json.error, 'slow_down')
  await moved(tp('slow_down'), 1, 'a poll inside the interval')
  await poll(sc, 'not-a-device-code')
  await moved(tp('invalid_grant'), 1, 'an unknown device code')
  await poll(sc, a.json.device_code, 'nobody')
  await moved(tp('invalid_client'), 1, 'a poll by an unknown client')
  await post(`${sc.url}/token`, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: 'tv-app' })
  await moved(tp('invalid_request'), 1, 'a poll without device_code')
  await post(`${sc.url}/token`, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: 'refresh-only', device_code: a.json.device_code })
  await moved(tp('unauthorized_client'), 1, 'a poll by a client without the device grant')

  // verification: right code, approve at the IdP, then the device's poll
  const browser = new Browser()
  const { final } = await approveOnPhone(browser, a.json.verification_uri_complete)
  t.equal(final.status, 200)
  const afterApproval = await scrape(sc.adminUrl!)
  t.equal(sample(afterApproval, vf('code_ok')) - sample(before, vf('code_ok')), 1, 'code_ok +1 after the right code')
  await moved(vf('approved'), 1, 'the IdP sign-in')
  t.equal(sample(before, 'dfs_grants{state=approved}'), 1, 'the gauge holds one approved grant')
  sc.clock.advance(10_000)
  t.equal((await poll(sc, a.json.device_code)).status, 200)
  await moved(tp('approved'), 1, 'the poll that takes the tokens')
  t.equal(sample(before, 'dfs_grants{state=redeemed}'), 1, 'and then one redeemed')

  // denied on the confirm page, and the device hears it
  const b = await authorize(sc)
  await approveOnPhone(new Browser(), b.json.verification_uri_complete, { choice: 'deny' })
  await moved(vf('denied'), 1, 'Deny on the confirm page')
  await poll(sc, b.json.device_code)
  await moved(tp('denied'), 1, 'the denied device\'s poll')

  // the IdP answers error= on the callback
  const c = await authorize(sc)
  const refuser = new Browser()
  refuser.stopBefore = url => url.includes('/device/callback')
  const { final: redirect } = await approveOnPhone(refuser, c.json.verification_uri_complete)
  const cb = new URL(redirect.url)
  await refuser.get(`${sc.url}/device/callback?state=${cb.searchParams.get('state')!}&error=access_denied&iss=${encodeURIComponent(sc.url)}`) // RFC 9207: error responses carry iss too
  await moved(vf('idp_error'), 1, 'an error from the IdP')

  // wrong codes, then the throttle
  const wrong = new Browser('198.51.100.20')
  const enter = await wrong.get(`${sc.url}/device`)
  t.equal((await wrong.submit(enter, { user_code: 'BCDF-GHJK' })).status, 200, 'the wrong-code page')
  await moved(vf('code_wrong'), 1, 'a wrong code')
  t.equal((await wrong.submit(enter, { user_code: 'BCDF-GHJK' })).status, 429)
  const throttledOnce = await scrape(sc.adminUrl!)
  t.equal(sample(throttledOnce, vf('throttled')) - sample(before, vf('throttled')), 1, 'throttled +1 when the limit is reached')
  before = throttledOnce
  t.equal((await wrong.submit(enter, { user_code: 'BCDF-GHJK' })).status, 429)
  await moved(vf('throttled'), 1, 'an attempt while throttled')

  // expiry
  const d = await authorize(sc)
  sc.clock.advance(601_000) // the gauge counts expiry by the second
  t.equal((await poll(sc, d.json.device_code)).json.error, 'expired_token')
  await moved(tp('expired'), 1, 'a poll after expiry')
  t.ok(sample(before, 'dfs_grants{state=expired}') >= 1, 'the gauge counts expired grants')

  // request durations by route pattern (never by URL), and IdP back-channel calls
  const badUrl = await post(`${sc.url}/device_authorization%E0%A4%A`, '')
  t.equal(badUrl.status, 400, 'a URL fastify cannot parse')
  const m = await scrape(sc.adminUrl!)
  t.equal(sample(m, 'dfs_http_request_duration_seconds_count{method=POST,route=unmatched,status=4xx}'), 1, 'is timed under the unmatched label')
  t.ok(sample(m, 'dfs_http_request_duration_seconds_count{method=POST,route=/token,status=4xx}') >= 6)
  t.ok(sample(m, 'dfs_http_request_duration_seconds_count{method=GET,route=/device/callback,status=3xx}') >= 1, 'the callback answers with a 303 to the result page')
  t.notOk([...m.keys()].some(k => k.includes('user_code=') || k.includes('code=')), 'no URL with a code became a label')
  t.ok(sample(m, 'dfs_idp_request_duration_seconds_count{call=token,outcome=ok}') >= 1, 'the code exchange was timed')
  t.ok(sample(m, 'dfs_idp_request_duration_seconds_count{call=jwks,outcome=ok}') >= 1, 'the JWKS fetch was timed')
  t.ok(sample(m, 'dfs_idp_request_duration_seconds_count{call=discovery,outcome=ok}') >= 1, 'discovery was timed')
  t.ok(sample(m, 'dfs_process_resident_memory_bytes') > 0, 'default process metrics, prefixed')
  t.ok(sample(m, 'dfs_nodejs_eventloop_lag_seconds') >= 0)

  // a slow IdP: the back channel times out, and the verification counts an IdP error
  const e = await authorize(sc)
  const slow = new Browser()
  slow.stopBefore = url => url.includes('/device/callback')
  const { final: toCallback } = await approveOnPhone(slow, e.json.verification_uri_complete)
  ;(sc.idp.provider as SlowProvider).tokenDelayMs = 3_000
  t.teardown(() => { (sc.idp.provider as SlowProvider).tokenDelayMs = 0 })
  t.equal((await slow.get(toCallback.url)).status, 504)
  await moved(vf('idp_error'), 1, 'a code exchange that timed out')
  t.ok(sample(before, 'dfs_idp_request_duration_seconds_count{call=token,outcome=timeout}') >= 1, 'the timeout was timed')
})

t.test('metrics: device authorization rate limited, and the store going away (unavailable)', { skip: redisMissing() ?? false }, async t => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const sc = await startSidecar({
    config: {
      store: { type: 'redis', encryption_key: 'ops-test-encryption-key-0123456789abcdef', redis: { url: redis.url, command_timeout_ms: 300, connect_timeout_ms: 300 } },
      limits: { device_authorization_per_ip: { max: 1 } }
    }
  })
  t.teardown(sc.close)
  const a = await authorize(sc)
  t.equal(a.status, 200)
  t.equal((await authorize(sc)).status, 429)
  let m = await scrape(sc.adminUrl!)
  t.equal(sample(m, da('rate_limited')), 1)
  t.equal(sample(m, 'dfs_grants{state=pending}'), 1, 'the gauge reads Redis')

  await redis.stop()
  t.equal((await authorize(sc, { client_id: 'cli', client_secret: 'cli-secret-2' }, { 'x-forwarded-for': '198.51.100.30' })).status, 503)
  t.equal((await poll(sc, a.json.device_code)).status, 503)
  m = await scrape(sc.adminUrl!)
  t.equal(sample(m, da('unavailable')), 1, 'a device authorization the store could not take')
  t.equal(sample(m, tp('unavailable')), 1, 'a poll the store could not answer')
  t.notOk(m.has('dfs_grants{state=pending}'), 'no stale gauge while the store is down')
  const ready = await get(`${sc.url}/readyz`)
  t.equal(ready.status, 503)
})

t.test('every line a request writes carries its request id and the process bindings', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  await authorize(sc)
  await authorize(sc)
  const issued = sc.logs.map(l => JSON.parse(l) as Record<string, unknown>).filter(l => l.event === 'device_authorization.issued')
  t.equal(issued.length, 2)
  const ids = issued.map(l => l.reqId)
  t.match(ids[0], /^[0-9a-f]{12}-[0-9a-z]+$/, 'a per-process prefix and a counter')
  t.not(ids[0], ids[1], 'one id per request')
  t.ok(issued.every(l => l.pid === process.pid && typeof l.hostname === 'string'), 'the root logger\'s bindings are kept')
  // the error handler's line goes through the same request logger
  const bad = await post(`${sc.url}/device_authorization`, { client_id: 'nope' })
  t.equal(bad.status, 401)
  const errorLine = sc.logs.map(l => JSON.parse(l) as Record<string, unknown>).find(l => l.msg === 'oauth error')
  t.match(errorLine?.reqId, /^[0-9a-f]{12}-[0-9a-z]+$/)
  t.notOk(ids.includes(errorLine?.reqId), 'a different request, a different id')
})
