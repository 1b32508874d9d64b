import t from 'tap'
import { approveOnPhone, Browser } from './helpers/browser.js'
import { authorize, basic, DEVICE_GRANT, poll, post } from './helpers/http.js'
import { startSidecar } from './helpers/sidecar.js'

t.test('device_code grant at the token endpoint (RFC 8628 §3.4–3.5)', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)

  t.test('answers authorization_pending while the person has not finished', async t => {
    const { json: da } = await authorize(sc)
    const res = await poll(sc, da.device_code)
    t.equal(res.status, 400)
    t.strictSame(res.json, { error: 'authorization_pending', error_description: 'the user has not yet completed the authorization' })
    t.equal(res.headers['cache-control'], 'no-store')
    t.match(res.headers['content-type'], /^application\/json/)
  })

  t.test('answers slow_down with the grown interval when polled too soon, and the +5 s sticks', async t => {
    const { json: da } = await authorize(sc)
    t.equal((await poll(sc, da.device_code)).json.error, 'authorization_pending')
    sc.clock.advance(4_000)
    const fast = await poll(sc, da.device_code)
    t.equal(fast.status, 400)
    t.strictSame(fast.json, { error: 'slow_down', error_description: 'polling too fast; wait at least 10 seconds between requests', interval: 10 })
    sc.clock.advance(9_000) // 9 s later: still under the new 10 s interval
    t.equal((await poll(sc, da.device_code)).json.interval, 15)
    sc.clock.advance(15_000)
    t.equal((await poll(sc, da.device_code)).json.error, 'authorization_pending')
    // another device's first slow_down gets its own interval, not the last one answered
    const { json: other } = await authorize(sc)
    await poll(sc, other.device_code)
    t.strictSame((await poll(sc, other.device_code)).json, { error: 'slow_down', error_description: 'polling too fast; wait at least 10 seconds between requests', interval: 10 })
  })

  t.test('answers expired_token after the lifetime, and again a lifetime later (tombstone), then invalid_grant', async t => {
    const { json: da } = await authorize(sc)
    sc.clock.advance(600_000)
    const expired = await poll(sc, da.device_code)
    t.equal(expired.status, 400)
    t.equal(expired.json.error, 'expired_token')
    sc.clock.advance(599_000)
    t.equal((await poll(sc, da.device_code)).json.error, 'expired_token')
    sc.clock.advance(2_000)
    t.equal((await poll(sc, da.device_code)).json.error, 'invalid_grant')
  })

  t.test('answers invalid_grant for an unknown code and for another client\'s code', async t => {
    const { json: da } = await authorize(sc)
    const unknown = await poll(sc, 'not-a-device-code')
    t.strictSame(unknown.json, { error: 'invalid_grant', error_description: 'the device code is invalid or was not issued to this client' })
    const other = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: da.device_code }, { authorization: basic('console', 'console-secret-1') })
    t.equal(other.status, 400)
    t.equal(other.json.error, 'invalid_grant')
    // the other client's poll did not touch this grant's interval
    t.equal((await poll(sc, da.device_code)).json.error, 'authorization_pending')
  })

  t.test('authenticates the polling client per its registration', async t => {
    const { json: da } = await authorize(sc, { scope: 'openid' }, { authorization: basic('console', 'console-secret-1') })
    const wrong = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: da.device_code }, { authorization: basic('console', 'nope') })
    t.equal(wrong.status, 401)
    t.equal(wrong.json.error, 'invalid_client')
    t.match(wrong.headers['www-authenticate'], /^Basic /)
    const right = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: da.device_code }, { authorization: basic('console', 'console-secret-1') })
    t.equal(right.json.error, 'authorization_pending')
  })

  t.test('answers access_denied once the person denies', async t => {
    const { json: da } = await authorize(sc)
    const { final } = await approveOnPhone(new Browser(), da.verification_uri_complete, { choice: 'deny' })
    t.match(final.html, 'Request denied')
    const res = await poll(sc, da.device_code)
    t.strictSame(res.json, { error: 'access_denied', error_description: 'the user denied the authorization request' })
  })

  t.test('hands the IdP\'s token response over once, to one of 20 concurrent polls', async t => {
    const { json: da } = await authorize(sc, { client_id: 'tv-app', scope: 'openid profile offline_access' })
    await approveOnPhone(new Browser(), da.verification_uri_complete)
    sc.clock.advance(5_000)
    const replies = await Promise.all(Array.from({ length: 20 }, () => poll(sc, da.device_code)))
    const ok = replies.filter(r => r.status === 200)
    t.equal(ok.length, 1)
    const tokens = ok[0]!.json
    t.strictSame(Object.keys(tokens).sort(), ['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type'])
    t.equal(tokens.scope, 'openid profile offline_access')
    t.equal(ok[0]!.headers['cache-control'], 'no-store')
    t.ok(replies.filter(r => r.status !== 200).every(r => r.status === 400 && ['slow_down', 'invalid_grant'].includes(r.json.error)))
    sc.clock.advance(60_000)
    t.strictSame((await poll(sc, da.device_code)).json, { error: 'invalid_grant', error_description: 'the device code has already been used' })
  })

  t.test('unauthorized_client for a client without the device grant', async t => {
    const res = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: 'x', client_id: 'refresh-only' })
    t.equal(res.status, 400)
    t.equal(res.json.error, 'unauthorized_client')
  })
})

t.test('refresh_token grant for the sidecar\'s clients', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  const { json: da } = await authorize(sc, { scope: 'openid offline_access' }, { authorization: basic('console', 'console-secret-1') })
  await approveOnPhone(new Browser(), da.verification_uri_complete, { login: 'bob' })
  sc.clock.advance(5_000)
  const tokens = (await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: da.device_code }, { authorization: basic('console', 'console-secret-1') })).json
  t.type(tokens.refresh_token, 'string')

  t.test('refuses the refresh token for another client', async t => {
    const res = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'cli', client_secret: 'cli-secret-2' })
    t.equal(res.status, 400)
    t.strictSame(res.json, { error: 'invalid_grant', error_description: 'the refresh token is invalid or was not issued to this client' })
  })

  t.test('refuses a wrong secret for the owning client', async t => {
    const res = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { authorization: basic('console', 'wrong') })
    t.equal(res.status, 401)
    t.equal(res.json.error, 'invalid_client')
  })

  t.test('forwards to the IdP with the sidecar\'s credentials and relays the new tokens', async t => {
    const res = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { authorization: basic('console', 'console-secret-1') })
    t.equal(res.status, 200)
    t.type(res.json.access_token, 'string')
    t.not(res.json.access_token, tokens.access_token)
    t.equal(res.headers['cache-control'], 'no-store')
  })

  t.test('relays the IdP\'s own error for a refresh token it no longer accepts', async t => {
    // oidc-provider rotates refresh tokens of confidential clients only on use; revoke it instead
    const revoke = await post(`${sc.idp.url}/token/revocation`, { token: tokens.refresh_token }, { authorization: basic('device-sidecar', 'upstream-secret-Zq9') })
    t.equal(revoke.status, 200)
    const res = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { authorization: basic('console', 'console-secret-1') })
    t.equal(res.status, 400)
    t.equal(res.json.error, 'invalid_grant')
  })
})
