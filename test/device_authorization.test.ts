import t from 'tap'
import { grantId } from '../src/device/codes.js'
import { MemoryStore } from '../src/device/store_memory.js'
import { systemClock } from '../src/clock.js'
import { authorize, basic, post } from './helpers/http.js'
import { startSidecar } from './helpers/sidecar.js'

t.test('device authorization endpoint (RFC 8628 §3.1–3.2)', async t => {
  const store = new MemoryStore({ maxGrants: 1000, lifetimeMs: 600_000, clock: systemClock })
  // 200 authorizations from one address: more than the per-address limit allows (test/limits.test.ts covers it)
  const sc = await startSidecar({ store, config: { limits: { device_authorization_per_ip: { max: 1000 } } } })
  t.teardown(sc.close)

  t.test('issues codes to a public client, no-store, and keys the grant by the code\'s hash', async t => {
    const res = await authorize(sc, { client_id: 'tv-app', scope: 'openid profile' })
    t.equal(res.status, 200)
    t.equal(res.headers['cache-control'], 'no-store')
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.strictSame(Object.keys(res.json).sort(), ['device_code', 'expires_in', 'interval', 'user_code', 'verification_uri', 'verification_uri_complete'])
    t.match(res.json.device_code, /^[A-Za-z0-9_-]{43}$/) // 256 bits, base64url
    t.match(res.json.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/)
    t.equal(res.json.verification_uri, `${sc.url}/device`)
    t.equal(res.json.verification_uri_complete, `${sc.url}/device?user_code=${res.json.user_code}`)
    t.equal(res.json.expires_in, 600)
    t.equal(res.json.interval, 5)
    t.equal(await store.get(res.json.device_code), undefined)
    const grant = await store.get(grantId(res.json.device_code))
    t.equal(grant?.client_id, 'tv-app')
    t.strictSame(grant?.scopes, ['openid', 'profile'])
    t.equal(grant?.user_code, res.json.user_code.replace('-', ''))
    t.notMatch(JSON.stringify(grant), res.json.device_code)
  })

  t.test('gives a missing scope all of the client\'s scopes', async t => {
    const res = await authorize(sc, { client_id: 'tv-app' })
    t.strictSame((await store.get(grantId(res.json.device_code)))?.scopes, ['openid', 'profile', 'email', 'offline_access'])
  })

  t.test('authenticates confidential clients with client_secret_basic and client_secret_post', async t => {
    t.equal((await authorize(sc, { scope: 'openid' }, { authorization: basic('console', 'console-secret-1') })).status, 200)
    t.equal((await authorize(sc, { client_id: 'cli', client_secret: 'cli-secret-2' })).status, 200)
  })

  const refusals: Array<[string, Record<string, string>, Record<string, string>, number, string, boolean]> = [
    ['an unknown client', { client_id: 'nobody' }, {}, 401, 'invalid_client', false],
    ['an unknown client with credentials', { scope: 'openid' }, { authorization: basic('nobody', 'x') }, 401, 'invalid_client', true],
    ['a disabled client', { client_id: 'old-tv' }, {}, 401, 'invalid_client', false],
    ['a wrong secret', {}, { authorization: basic('console', 'wrong') }, 401, 'invalid_client', true],
    ['a wrong secret by post', { client_id: 'cli', client_secret: 'wrong' }, {}, 401, 'invalid_client', true],
    ['a confidential client without its secret', { client_id: 'console' }, {}, 401, 'invalid_client', false],
    ['the registered method not used', { client_id: 'console', client_secret: 'console-secret-1' }, {}, 401, 'invalid_client', true],
    ['a public client sending a secret', { client_id: 'tv-app', client_secret: 'x' }, {}, 401, 'invalid_client', true],
    ['a scope outside the client\'s', { client_id: 'tv-app', scope: 'openid admin' }, {}, 400, 'invalid_scope', false],
    ['a malformed scope', { client_id: 'tv-app', scope: 'openid "x"' }, {}, 400, 'invalid_scope', false],
    ['a client without the device grant', { client_id: 'refresh-only' }, {}, 400, 'unauthorized_client', false],
    ['no client_id at all', { scope: 'openid' }, {}, 400, 'invalid_request', false],
    ['two authentication methods', { client_secret: 'console-secret-1' }, { authorization: basic('console', 'console-secret-1') }, 400, 'invalid_request', false],
    ['a body client_id differing from Basic', { client_id: 'cli' }, { authorization: basic('console', 'console-secret-1') }, 400, 'invalid_request', false]
  ]
  for (const [what, form, headers, status, error, challenge] of refusals) {
    t.test(`answers ${error} (${status}) for ${what}`, async t => {
      const res = await authorize(sc, form, headers)
      t.equal(res.status, status)
      t.equal(res.json.error, error)
      t.equal(res.headers['cache-control'], 'no-store')
      if (error === 'invalid_client') t.equal(res.json.error_description, 'client authentication failed')
      t.equal(res.headers['www-authenticate'] !== undefined, challenge, challenge ? 'WWW-Authenticate sent' : 'no WWW-Authenticate')
    })
  }

  t.test('treats __proto__ and constructor as ordinary parameter names: ignored once, refused twice', async t => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    const once = await post(`${sc.url}/device_authorization`, 'client_id=tv-app&scope=openid&__proto__=x&constructor=y&toString=z', form)
    t.equal(once.status, 200)
    t.strictSame(Object.keys(once.json).sort(), ['device_code', 'expires_in', 'interval', 'user_code', 'verification_uri', 'verification_uri_complete'])
    for (const name of ['__proto__', 'constructor']) {
      const twice = await post(`${sc.url}/device_authorization`, `client_id=tv-app&${name}=1&${name}=2`, form)
      t.equal(twice.status, 400, name)
      t.strictSame(twice.json, { error: 'invalid_request', error_description: `parameter "${name}" must not be repeated` }, name)
    }
  })

  t.test('never repeats a live user code', async t => {
    const codes = new Set<string>()
    for (let i = 0; i < 200; i++) codes.add((await authorize(sc, { client_id: 'tv-app' })).json.user_code)
    t.equal(codes.size, 200)
  })
})

t.test('enforce_clientauth_device_authorize refuses public clients and accepts authenticated ones', async t => {
  const sc = await startSidecar({ config: { device_flow_settings: { enforce_clientauth_device_authorize: true } } })
  t.teardown(sc.close)
  const pub = await authorize(sc, { client_id: 'tv-app' })
  t.equal(pub.status, 401)
  t.equal(pub.json.error, 'invalid_client')
  t.equal((await authorize(sc, { scope: 'openid' }, { authorization: basic('console', 'console-secret-1') })).status, 200)
})

t.test('honours numeric user codes of another length', async t => {
  const sc = await startSidecar({ config: { device_flow_settings: { device_flow_usercode_charset: 'NUMERIC', device_flow_usercode_length: 9 } } })
  t.teardown(sc.close)
  const res = await post(`${sc.url}/device_authorization`, { client_id: 'tv-app' })
  t.match(res.json.user_code, /^\d{3}-\d{3}-\d{3}$/)
})
