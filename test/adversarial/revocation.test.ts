/**
 * Issue 13, finding 5: the sidecar's clients had no way to revoke a token (the IdP's
 * /token/revocation needs the upstream secret, which a device never has). RFC 7009 at the IdP's
 * revocation_endpoint path, answered for the sidecar's clients and proxied for everyone else, or at
 * /revoke when the IdP has none; discovery advertises it. On memory and on a real Redis.
 */
import t from 'tap'
import { approveOnPhone, Browser } from '../helpers/browser.js'
import { authorize, basic, DEVICE_GRANT, get, post, type Reply } from '../helpers/http.js'
import { redisMissing, startRedis } from '../helpers/redis.js'
import { startSidecar, type SidecarOptions, type TestSidecar } from '../helpers/sidecar.js'

const redisSkip = redisMissing()
const redis = redisSkip === undefined ? await startRedis() : undefined
t.teardown(() => redis?.stop())
const STORE_KEY = 'a-store-key-of-at-least-32-characters-0123'
let prefixes = 0

function onStore (kind: 'memory' | 'redis', options: SidecarOptions = {}): Promise<TestSidecar> {
  const store = kind === 'memory' ? {} : { store: { type: 'redis', encryption_key: STORE_KEY, redis: { url: redis!.url, key_prefix: `rv${++prefixes}:` } } }
  return startSidecar({ ...options, config: store })
}

/** Tokens of an approved grant: tv-app (public) by default, or a confidential client with its Authorization header. */
async function deviceTokens (sc: TestSidecar, clientId = 'tv-app', headers: Record<string, string> = {}): Promise<Record<string, any>> {
  const { json: da } = await authorize(sc, { ...(Object.keys(headers).length === 0 ? { client_id: clientId } : {}), scope: 'openid offline_access' }, headers)
  await approveOnPhone(new Browser(), da.verification_uri_complete)
  sc.clock.advance(5_000)
  const res = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: da.device_code, ...(Object.keys(headers).length === 0 ? { client_id: clientId } : {}) }, headers)
  if (res.status !== 200) throw new Error(`no tokens: ${res.text}`)
  return res.json
}

const CONSOLE = { authorization: basic('console', 'console-secret-1') }
const userinfo = (sc: TestSidecar, accessToken: string): Promise<Reply> => get(`${sc.idp.url}/me`, { authorization: `Bearer ${accessToken}` })
const events = (sc: TestSidecar, name: string): Array<Record<string, unknown>> => sc.logs.map(l => JSON.parse(l) as Record<string, unknown>).filter(l => l.event === name)

for (const kind of ['memory', 'redis'] as const) {
  t.test(`RFC 7009 revocation at the IdP's revocation path, on ${kind}`, { skip: kind === 'redis' ? redisSkip ?? false : false }, async t => {
    const sc = await onStore(kind)
    t.teardown(sc.close)
    const revoke = (form: Record<string, string> | string, headers: Record<string, string> = {}): Promise<Reply> => post(`${sc.url}/token/revocation`, form, headers)

    t.test('discovery advertises the revocation endpoint at the sidecar', async t => {
      const doc = (await get(`${sc.url}/.well-known/openid-configuration`)).json
      t.equal(doc.revocation_endpoint, `${sc.url}/token/revocation`)
    })

    t.test('a public client revokes its refresh token by client_id: the family ends, the IdP grant is revoked', async t => {
      const tokens = await deviceTokens(sc)
      const res = await revoke({ token: tokens.refresh_token, token_type_hint: 'refresh_token', client_id: 'tv-app' })
      t.equal(res.status, 200, 'answered (before: 401 invalid_client from the IdP)')
      t.equal(res.text, '')
      t.equal(res.headers['cache-control'], 'no-store')
      const refreshed = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'tv-app' })
      t.strictSame(refreshed.json, { error: 'invalid_grant', error_description: 'the refresh token is invalid or was not issued to this client' })
      t.equal((await userinfo(sc, tokens.access_token)).status, 401, 'the IdP revoked the grant behind it')
      t.match(events(sc, 'token.revoked').at(-1), { client_id: 'tv-app', sub: 'alice', token_type: 'refresh_token', upstream_revoked: true })
      t.notOk(sc.logs.some(l => l.includes(tokens.refresh_token) || l.includes(tokens.access_token)), 'no token in the logs')
      t.equal((await revoke({ token: tokens.refresh_token, client_id: 'tv-app' })).status, 200, 'again: 200 (RFC 7009 §2.2)')
    })

    t.test('a public client revokes its access token: forwarded to the IdP with the upstream credentials', async t => {
      const tokens = await deviceTokens(sc)
      t.equal((await userinfo(sc, tokens.access_token)).status, 200)
      const res = await revoke({ token: tokens.access_token, token_type_hint: 'access_token', client_id: 'tv-app' })
      t.equal(res.status, 200)
      t.equal((await userinfo(sc, tokens.access_token)).status, 401)
    })

    t.test('another public client cannot end a family it does not own', async t => {
      const tokens = await deviceTokens(sc)
      t.equal((await revoke({ token: tokens.refresh_token, client_id: 'refresh-only' })).status, 200)
      const refreshed = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'tv-app' })
      t.equal(refreshed.status, 200, 'the family lives on')
    })

    t.test('a confidential client must authenticate; its refresh token is revoked at the IdP; another client\'s is refused', async t => {
      const tokens = await deviceTokens(sc, 'console', CONSOLE)
      const wrong = await revoke({ token: tokens.refresh_token }, { authorization: basic('console', 'nope') })
      t.equal(wrong.status, 401)
      t.equal(wrong.json.error, 'invalid_client')
      t.match(wrong.headers['www-authenticate'], /^Basic /)
      const unauthenticated = await revoke({ token: tokens.refresh_token, client_id: 'console' })
      t.equal(unauthenticated.status, 401)
      t.equal(unauthenticated.json.error, 'invalid_client')
      const other = await revoke({ token: tokens.refresh_token, client_id: 'cli', client_secret: 'cli-secret-2' })
      t.equal(other.status, 400)
      t.strictSame(other.json, { error: 'invalid_grant', error_description: 'the token was not issued to this client' })
      t.equal((await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, CONSOLE)).status, 200, 'still valid')
      const res = await revoke({ token: tokens.refresh_token }, CONSOLE)
      t.equal(res.status, 200)
      const refreshed = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, CONSOLE)
      t.equal(refreshed.status, 400)
      t.equal(refreshed.json.error, 'invalid_grant')
    })

    t.test('unknown tokens get 200; a missing token, a repeated parameter or a non-form body get invalid_request', async t => {
      t.equal((await revoke({ token: 'no-such-token', client_id: 'tv-app' })).status, 200)
      t.equal((await revoke({ token: 'A'.repeat(64), client_id: 'tv-app' })).status, 200, 'a handle of no family')
      const missing = await revoke({ client_id: 'tv-app' })
      t.equal(missing.status, 400)
      t.strictSame(missing.json, { error: 'invalid_request', error_description: 'token is required' })
      const repeated = await revoke('token=a&token=b&client_id=tv-app', { 'content-type': 'application/x-www-form-urlencoded' })
      t.equal(repeated.status, 400)
      t.equal(repeated.json.error, 'invalid_request')
      const disabled = await revoke({ token: 'x', client_id: 'old-tv' })
      t.equal(disabled.status, 401)
      t.equal(disabled.json.error, 'invalid_client')
    })

    t.test('requests of the IdP\'s own clients are passed to the IdP untouched', async t => {
      const cc = await post(`${sc.url}/token`, { grant_type: 'client_credentials', scope: 'api' }, { authorization: basic('web-app', 'web-secret-Xy7') })
      t.equal(cc.status, 200)
      const destroyed = new Promise<boolean>(resolve => {
        sc.idp.provider.once('client_credentials.destroyed', () => { resolve(true) })
        setTimeout(() => { resolve(false) }, 2_000)
      })
      const before = events(sc, 'token.revoked').length
      const res = await revoke({ token: cc.json.access_token }, { authorization: basic('web-app', 'web-secret-Xy7') })
      t.equal(res.status, 200)
      t.equal(await destroyed, true, 'the IdP revoked it')
      t.equal(events(sc, 'token.revoked').length, before, 'not the sidecar\'s business')
      const bad = await revoke({ token: 'x' }, { authorization: basic('web-app', 'wrong') })
      t.equal(bad.status, 401, 'the IdP\'s own refusal')
    })
  })
}

t.test('an IdP without revocation: the sidecar answers at /revoke and advertises it', async t => {
  const sc = await startSidecar({ revocation: false })
  t.teardown(sc.close)
  const doc = (await get(`${sc.url}/.well-known/openid-configuration`)).json
  t.equal(doc.revocation_endpoint, `${sc.url}/revoke`)
  const tokens = await deviceTokens(sc)
  const res = await post(`${sc.url}/revoke`, { token: tokens.refresh_token, client_id: 'tv-app' })
  t.equal(res.status, 200)
  const refreshed = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'tv-app' })
  t.equal(refreshed.status, 400, 'the family ended at the sidecar')
  t.match(events(sc, 'token.revoked').at(-1), { client_id: 'tv-app', upstream_revoked: false })
  const access = await post(`${sc.url}/revoke`, { token: tokens.access_token, client_id: 'tv-app' })
  t.equal(access.status, 400)
  t.strictSame(access.json, { error: 'unsupported_token_type', error_description: 'access tokens are revoked by the identity provider, which offers no revocation' })
  const unknown = await post(`${sc.url}/revoke`, { token: 'x' }, { authorization: basic('web-app', 'web-secret-Xy7') })
  t.equal(unknown.status, 401, 'no IdP endpoint to pass other clients to')
  t.equal(unknown.json.error, 'invalid_client')
})

