/**
 * Issue 14, item 3: a device request without `openid` was forwarded as it was; the IdP refused it
 * (oidc-provider: invalid_request, "openid scope must be requested when using the nonce
 * parameter"; glewlwyd only after the sign-in) and the device ended with access_denied. The
 * upstream leg now always carries openid (the sidecar needs the ID token to validate the sign-in
 * and name the subject), and what the device asked for decides what it gets back: no id_token and
 * no openid in `scope` for a device that did not ask for it — at refresh too: the scopes granted
 * are kept with the refresh token (a public client's family, a confidential client's binding), so a
 * refresh without `scope` gets what the grant had and one asking beyond it gets invalid_scope (RFC
 * 6749 §6; before, a refresh without `scope` got the IdP's id_token whenever the client could ask
 * for openid, and one asking for openid got it). With upstream.enforce_scopes_supported
 * a scope the IdP does not publish in scopes_supported is refused at the device authorization,
 * before anyone signs in (off by default: OpenID Connect Discovery §3 lets an IdP list only some).
 */
import t from 'tap'
import { systemClock } from '../../src/clock.js'
import { digest } from '../../src/device/codes.js'
import { MemoryStore } from '../../src/device/store_memory.js'
import { approveOnPhone, Browser } from '../helpers/browser.js'
import { authorize, basic, DEVICE_GRANT, post } from '../helpers/http.js'
import { CLIENTS, startSidecar } from '../helpers/sidecar.js'

const CONSOLE = { authorization: basic('console', 'console-secret-1') }

t.test('the upstream leg carries openid; the device gets only what it asked for', async t => {
  const store = new MemoryStore({ maxGrants: 1000, lifetimeMs: 600_000, clock: systemClock })
  const sc = await startSidecar({
    store,
    config: {
      clients: [
        ...CLIENTS,
        // configured without openid: the device can never ask for it, the sidecar still signs in with it
        { client_id: 'api-box', token_endpoint_auth_method: 'none', scopes: ['api', 'offline_access'] },
        // a scope the IdP does not publish in scopes_supported
        { client_id: 'pay-tv', token_endpoint_auth_method: 'none', scopes: ['openid', 'payments'] }
      ]
    }
  })
  t.teardown(sc.close)

  async function login (form: Record<string, string>, headers: Record<string, string> = {}) {
    const da = await authorize(sc, form, headers)
    t.equal(da.status, 200, `device authorization for ${form.client_id ?? 'console'}`)
    const phone = new Browser()
    const { final } = await approveOnPhone(phone, da.json.verification_uri_complete)
    const auth = phone.visited.map(u => new URL(u)).find(u => u.pathname === '/auth')
    sc.clock.advance(5_000)
    const res = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: da.json.device_code, ...(form.client_id === undefined ? {} : { client_id: form.client_id }) }, headers)
    return { final, upstreamScope: auth?.searchParams.get('scope'), status: res.status, body: res.json as Record<string, unknown>, grant: da.json.device_code as string }
  }

  t.test('a confidential client asking without openid gets its tokens, without an id_token or openid', async t => {
    const r = await login({ scope: 'offline_access' }, CONSOLE)
    t.equal(r.upstreamScope, 'openid offline_access', 'the IdP is asked for openid first, then what the device asked')
    t.match(r.final.html, 'Device connected')
    t.equal(r.status, 200)
    t.strictSame(Object.keys(r.body).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
    t.equal(r.body.scope, 'offline_access')
    // at refresh the device's scope parameter decides, else the scopes its grant had (RFC 6749 §6)
    const refreshed = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: r.body.refresh_token as string, scope: 'offline_access' }, CONSOLE)
    t.equal(refreshed.status, 200)
    t.equal(refreshed.json.id_token, undefined, 'a refresh asking without openid gives no id_token either')
    t.equal(refreshed.json.scope, 'offline_access')
    for (const round of ['first', 'second']) {
      const unscoped = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: refreshed.json.refresh_token as string }, CONSOLE)
      t.equal(unscoped.status, 200, `${round} refresh without scope`)
      t.strictSame(Object.keys(unscoped.json).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'], `${round} refresh without scope: what the grant had, no id_token`)
      t.equal(unscoped.json.scope, 'offline_access')
    }
    for (const scope of ['openid offline_access', 'openid']) {
      const beyond = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: refreshed.json.refresh_token as string, scope }, CONSOLE)
      t.equal(beyond.status, 400, `a refresh asking ${scope}: beyond the grant`)
      t.strictSame(beyond.json, { error: 'invalid_scope', error_description: 'scope "openid" is beyond the scope originally granted' })
    }
    // a binding stored by a version that did not keep scopes: the client's configured scopes, as then
    await store.bindRefreshToken(digest(refreshed.json.refresh_token as string), { client_id: 'console' }, 60_000)
    const legacy = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: refreshed.json.refresh_token as string }, CONSOLE)
    t.equal(legacy.status, 200)
    t.equal(typeof legacy.json.id_token, 'string', 'console may ask for openid: the IdP\'s id_token, as before scopes were kept')
    const approved = sc.logs.map(l => JSON.parse(l) as Record<string, unknown>).filter(l => l.event === 'grant.approved' && l.client_id === 'console').at(-1)
    t.equal(approved?.sub, 'alice', 'the ID token named the subject although the device did not ask for it')
  })

  t.test('a device that asked for openid still gets its id_token and openid in scope', async t => {
    const r = await login({ client_id: 'tv-app', scope: 'openid profile' })
    t.equal(r.upstreamScope, 'openid profile')
    t.equal(r.status, 200)
    t.equal(typeof r.body.id_token, 'string')
    t.equal(r.body.scope, 'openid profile')
    t.equal(r.body.refresh_token, undefined, 'no offline_access, no refresh token')
  })

  t.test('a public client asking without openid: its refresh family remembers the grant\'s scopes', async t => {
    const r = await login({ client_id: 'tv-app', scope: 'offline_access' })
    t.equal(r.upstreamScope, 'openid offline_access')
    t.equal(r.status, 200)
    t.strictSame(Object.keys(r.body).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
    t.equal(r.body.scope, 'offline_access')
    const refresh = (refreshToken: string, scope?: string) => post(`${sc.url}/token`, { grant_type: 'refresh_token', client_id: 'tv-app', refresh_token: refreshToken, ...(scope === undefined ? {} : { scope }) })
    const unscoped = await refresh(r.body.refresh_token as string)
    t.equal(unscoped.status, 200, 'a refresh without scope')
    t.strictSame(Object.keys(unscoped.json).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'], 'what the grant had: no id_token, although tv-app may ask for openid')
    t.equal(unscoped.json.scope, 'offline_access')
    for (const scope of ['profile', 'openid offline_access']) {
      const beyond = await refresh(unscoped.json.refresh_token as string, scope)
      t.equal(beyond.status, 400, `a refresh asking ${scope}: beyond the grant`)
      t.strictSame(beyond.json, { error: 'invalid_scope', error_description: `scope "${scope.split(' ')[0]!}" is beyond the scope originally granted` })
    }
    const again = await refresh(unscoped.json.refresh_token as string)
    t.equal(again.status, 200, 'a refused scope leaves the handle current: the device keeps its login')
    t.equal(again.json.id_token, undefined)
    t.equal(again.json.scope, 'offline_access')
  })

  t.test('a client configured without openid signs in with it, and gets none of it', async t => {
    const r = await login({ client_id: 'api-box' })
    t.equal(r.upstreamScope, 'openid api offline_access')
    t.equal(r.status, 200)
    t.equal(r.body.id_token, undefined)
    t.equal(r.body.scope, 'api offline_access')
    const refreshed = await post(`${sc.url}/token`, { grant_type: 'refresh_token', client_id: 'api-box', refresh_token: r.body.refresh_token as string })
    t.equal(refreshed.status, 200)
    t.strictSame(Object.keys(refreshed.json).sort(), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'], 'a public client\'s refresh: the next handle, no id_token')
    t.equal(refreshed.json.scope, 'api offline_access')
  })

  t.test('a scope the IdP does not list is asked for by default, with a warning at start', async t => {
    const warning = sc.logs.map(l => JSON.parse(l) as Record<string, unknown>).find(l => l.client_id === 'pay-tv' && l.level === 40)
    t.match(warning, { scopes: ['payments'], enforce_scopes_supported: false, msg: /does not list these scopes of the client in scopes_supported: they are asked for anyway/ })
    t.notOk(sc.logs.some(l => l.includes('"client_id":"api-box"') && l.includes('"level":40')), 'api-box\'s scopes are all listed')
    const res = await authorize(sc, { client_id: 'pay-tv', scope: 'openid payments' })
    t.equal(res.status, 200, 'OpenID Connect Discovery §3 lets an IdP leave scopes out of scopes_supported')
  })
})

t.test('with upstream.enforce_scopes_supported, a scope the IdP does not list is refused before anyone signs in', async t => {
  const sc = await startSidecar({
    config: {
      upstream: { enforce_scopes_supported: true },
      clients: [...CLIENTS, { client_id: 'pay-tv', token_endpoint_auth_method: 'none', scopes: ['openid', 'payments'] }]
    }
  })
  t.teardown(sc.close)
  const res = await authorize(sc, { client_id: 'pay-tv', scope: 'openid payments' })
  t.equal(res.status, 400)
  t.strictSame(res.json, { error: 'invalid_scope', error_description: 'scope "payments" is not supported by the identity provider' })
  const da = await authorize(sc, { client_id: 'pay-tv' })
  t.equal(da.status, 200)
  const phone = new Browser()
  await approveOnPhone(phone, da.json.verification_uri_complete)
  const auth = phone.visited.map(u => new URL(u)).find(u => u.pathname === '/auth')
  t.equal(auth?.searchParams.get('scope'), 'openid', 'no scope: the client\'s scopes the IdP lists')
  sc.clock.advance(5_000)
  const tokens = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: da.json.device_code, client_id: 'pay-tv' })
  t.equal(tokens.status, 200)
  t.equal(tokens.json.scope, 'openid')
})
