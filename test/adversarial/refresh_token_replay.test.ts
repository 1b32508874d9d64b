/**
 * Issue 13, finding 4: a public device client's refresh token was replayable forever (the sidecar
 * refreshed it with its own credentials, so the IdP saw a confidential client and did not rotate).
 * RFC 9700 §4.14.2: the token a public client holds is single-use; a used one is refused and ends
 * its whole family, the IdP's token revoked. On memory and on a real Redis (two sidecars).
 */
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { buildApp, listen } from '../../src/app.js'
import { approveOnPhone, Browser } from '../helpers/browser.js'
import { authorize, basic, get, poll, post, type Reply } from '../helpers/http.js'
import { redisMissing, startRedis } from '../helpers/redis.js'
import { startSidecar, type SidecarOptions, type SlowProvider, type TestSidecar } from '../helpers/sidecar.js'

const redisSkip = redisMissing()
const redis = redisSkip === undefined ? await startRedis() : undefined
t.teardown(() => redis?.stop())
const STORE_KEY = 'a-store-key-of-at-least-32-characters-0123'
const INVALID = { error: 'invalid_grant', error_description: 'the refresh token is invalid or was not issued to this client' }
let prefixes = 0

/** The sidecar on the memory store, or on the test Redis under a fresh key prefix. */
function onStore (kind: 'memory' | 'redis', options: SidecarOptions = {}): Promise<TestSidecar> {
  const store = kind === 'memory' ? {} : { store: { type: 'redis', encryption_key: STORE_KEY, redis: { url: redis!.url, key_prefix: `rt${++prefixes}:` } } }
  return startSidecar({ ...options, config: { ...store, ...options.config } })
}

/** What a TV holds after a person approved it: the poll's token response. */
async function deviceTokens (sc: TestSidecar): Promise<Record<string, any>> {
  const { json: da } = await authorize(sc)
  await approveOnPhone(new Browser(), da.verification_uri_complete)
  sc.clock.advance(5_000)
  const res = await poll(sc, da.device_code)
  if (res.status !== 200) throw new Error(`no tokens: ${res.text}`)
  return res.json
}

function refresh (url: string, refreshToken: string, clientId = 'tv-app'): Promise<Reply> {
  return post(`${url}/token`, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId })
}

function userinfo (sc: TestSidecar, accessToken: string): Promise<Reply> {
  return get(`${sc.idp.url}/me`, { authorization: `Bearer ${accessToken}` })
}

for (const kind of ['memory', 'redis'] as const) {
  t.test(`refresh families on ${kind}`, { skip: kind === 'redis' ? redisSkip ?? false : false }, async t => {
    const sc = await onStore(kind)
    t.teardown(sc.close)

    t.test('a used refresh token is refused and ends its family; the IdP\'s grant is revoked', async t => {
      const tokens = await deviceTokens(sc)
      const first = await refresh(sc.url, tokens.refresh_token)
      t.equal(first.status, 200)
      t.type(first.json.refresh_token, 'string')
      t.not(first.json.refresh_token, tokens.refresh_token, 'each refresh hands out a new refresh token')
      t.equal((await userinfo(sc, first.json.access_token)).status, 200, 'the new access token works')

      sc.clock.advance(2_000) // past the grace in which a duplicate of that refresh is only refused
      const replays: Reply[] = []
      for (let i = 0; i < 5; i++) replays.push(await refresh(sc.url, tokens.refresh_token))
      t.equal(replays.filter(r => r.status === 200).length, 0, 'replays of the used token that got tokens (before: 5 of 5)')
      t.equal(replays[0]!.status, 400)
      t.strictSame(replays[0]!.json, INVALID)
      t.equal(replays[0]!.headers['cache-control'], 'no-store')

      const newest = await refresh(sc.url, first.json.refresh_token)
      t.equal(newest.status, 400, 'the newest token of the family is dead too')
      t.strictSame(newest.json, INVALID)
      t.equal((await userinfo(sc, first.json.access_token)).status, 401, 'the IdP revoked the grant behind the family')

      const reused = sc.logs.map(l => JSON.parse(l) as Record<string, unknown>).filter(l => l.event === 'token.refresh_reused')
      t.equal(reused.length, 1, 'one audit line: the family revoked on reuse')
      t.match(reused[0], { client_id: 'tv-app', sub: 'alice', upstream_revoked: true })
      for (const value of [tokens.refresh_token, first.json.refresh_token]) t.notOk(sc.logs.some(l => l.includes(value)), 'no log line holds a refresh token')
    })

    t.test('the device never holds the IdP\'s refresh token', async t => {
      const tokens = await deviceTokens(sc)
      t.match(tokens.refresh_token, /^[A-Za-z0-9_-]{64}$/, 'an opaque handle of 384 bits')
      const direct = await post(`${sc.idp.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { authorization: basic('tv-app', 'tv-upstream-secret-3') })
      t.equal(direct.status, 400, 'the device\'s token is worthless at the IdP itself (before: 200)')
      t.equal(direct.json.error, 'invalid_grant')
    })

    t.test('20 concurrent refreshes with one refresh token: exactly one succeeds, and its new token works', async t => {
      const tokens = await deviceTokens(sc)
      const replies = await Promise.all(Array.from({ length: 20 }, () => refresh(sc.url, tokens.refresh_token)))
      const ok = replies.filter(r => r.status === 200)
      t.equal(ok.length, 1, 'refreshes that got tokens (before: 20 of 20)')
      t.ok(replies.filter(r => r.status !== 200).every(r => r.status === 400 && r.json.error === 'invalid_grant'), 'the others: invalid_grant')
      const next = await refresh(sc.url, ok[0]!.json.refresh_token)
      t.equal(next.status, 200, 'losing the race did not end the family')
    })

    t.test('another client presenting the handle gets invalid_grant and the family lives on', async t => {
      const tokens = await deviceTokens(sc)
      const other = await refresh(sc.url, tokens.refresh_token, 'refresh-only')
      t.equal(other.status, 400)
      t.strictSame(other.json, INVALID)
      t.equal((await refresh(sc.url, tokens.refresh_token)).status, 200)
    })

    t.test('an IdP that does not answer costs the device nothing: its refresh token still works', async t => {
      const tokens = await deviceTokens(sc)
      const provider = sc.idp.provider as SlowProvider
      provider.tokenDelayMs = 2_500 // over upstream.timeout_seconds (2)
      const slow = await refresh(sc.url, tokens.refresh_token)
      provider.tokenDelayMs = 0
      t.equal(slow.status, 504)
      t.equal(slow.json.error, 'temporarily_unavailable')
      const again = await refresh(sc.url, tokens.refresh_token)
      t.equal(again.status, 200, 'the handle was given back')
    })

    t.test('a malformed or unknown refresh token is invalid_grant, never a 5xx', async t => {
      for (const value of ['x', 'A'.repeat(64), '%%%', 'A'.repeat(4000)]) {
        const res = await refresh(sc.url, value)
        t.equal(res.status, 400, value.slice(0, 8))
        t.strictSame(res.json, INVALID)
      }
    })

    if (kind === 'memory') {
      t.test('a family expires after refresh_binding_ttl_seconds without a refresh', async t => {
        const short = await onStore(kind, { config: { device_flow_settings: { refresh_binding_ttl_seconds: 60 } } })
        t.teardown(short.close)
        const tokens = await deviceTokens(short)
        const first = await refresh(short.url, tokens.refresh_token)
        t.equal(first.status, 200)
        short.clock.advance(59_000)
        const second = await refresh(short.url, first.json.refresh_token)
        t.equal(second.status, 200, 'each refresh starts the lifetime again')
        short.clock.advance(61_000)
        t.strictSame((await refresh(short.url, second.json.refresh_token)).json, INVALID)
      })
    }
  })

  t.test(`an IdP that rotates its refresh tokens, on ${kind}: the family follows it`, { skip: kind === 'redis' ? redisSkip ?? false : false }, async t => {
    const sc = await onStore(kind, { rotateRefreshTokens: true })
    t.teardown(sc.close)
    const tokens = await deviceTokens(sc)
    let current = tokens.refresh_token as string
    for (let i = 0; i < 3; i++) {
      const res = await refresh(sc.url, current)
      t.equal(res.status, 200, `refresh ${i + 1}`)
      current = res.json.refresh_token
    }
    t.strictSame((await refresh(sc.url, tokens.refresh_token)).json, INVALID, 'the first one, replayed')
    t.strictSame((await refresh(sc.url, current)).json, INVALID, 'ends the family')
  })
}

t.test('on Redis, two sidecars: 20 concurrent refreshes over both, exactly one succeeds; a dump holds no refresh token', { skip: redisSkip ?? false }, async (t: Test) => {
  const prefix = `rt${++prefixes}:`
  const a = await startSidecar({ config: { store: { type: 'redis', encryption_key: STORE_KEY, redis: { url: redis!.url, key_prefix: prefix } } } })
  t.teardown(a.close)
  const b = await buildApp({ ...a.config, server: { ...a.config.server, port: 0 }, admin: { ...a.config.admin, enabled: false } }, { clock: a.clock })
  await listen(b, { ...a.config, server: { ...a.config.server, port: 0 }, admin: { ...a.config.admin, enabled: false } })
  t.teardown(() => b.close())
  const address = b.server.address()
  const bUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`

  const idpRefreshTokens: string[] = []
  a.idp.provider.on('refresh_token.saved', (token: { jti: string }) => { idpRefreshTokens.push(token.jti) })
  const tokens = await deviceTokens(a)
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => refresh(i % 2 === 0 ? a.url : bUrl, tokens.refresh_token)))
  const ok = replies.filter(r => r.status === 200)
  t.equal(ok.length, 1, 'refreshes that got tokens across both replicas (before: 20 of 20)')
  const next = await refresh(bUrl, ok[0]!.json.refresh_token)
  t.equal(next.status, 200, 'the other replica takes the new token')

  const raw = new Redis(redis!.url)
  t.teardown(() => raw.quit())
  const keys = await raw.keys(`${prefix}*`)
  let dump = ''
  for (const key of keys) {
    t.ok(await raw.pttl(key) > 0, `${key} expires`)
    dump += JSON.stringify(await raw.dump(key)) + key
  }
  for (const value of [tokens.refresh_token, ok[0]!.json.refresh_token, next.json.refresh_token]) t.notOk(dump.includes(value), 'no handle in the store')
  t.ok(idpRefreshTokens.length > 0, 'the IdP issued refresh tokens')
  for (const value of idpRefreshTokens) t.notOk(dump.includes(value), 'the IdP\'s refresh token is there only sealed')

  t.strictSame((await refresh(a.url, tokens.refresh_token)).json, INVALID, 'a replay on either replica')
  t.strictSame((await refresh(bUrl, next.json.refresh_token)).json, INVALID, 'ended the family for both')
})
