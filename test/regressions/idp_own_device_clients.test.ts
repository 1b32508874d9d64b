import t, { type Test } from 'tap'
import type { ClientMetadata } from 'oidc-provider'
import { decodeJwt } from 'jose'
import { Browser } from '../helpers/browser.js'
import { DEVICE_GRANT, authorize, basic, get, post } from '../helpers/http.js'
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js'

// issue 14, item 2: in same-origin mode every device_code poll at the token path was answered by
// the sidecar, also for the IdP's own device clients, which got 401 invalid_client instead of the
// IdP's authorization_pending. Clients the sidecar does not know now go to the IdP untouched, at the
// token endpoint and at the sidecar's device authorization endpoint (where the sidecar's discovery
// document sends every device), when the IdP has a device flow of its own.

const IDP_BOX: ClientMetadata = { client_id: 'idp-own-box', client_secret: 'idp-box-secret-4', token_endpoint_auth_method: 'client_secret_basic', grant_types: [DEVICE_GRANT], response_types: [], redirect_uris: [] }
const PENDING_AT_SIDECAR = { error: 'authorization_pending', error_description: 'the user has not yet completed the authorization' }

async function idpPending (t: Test, sc: TestSidecar, deviceAuthorizationUrl: string): Promise<void> {
  const da = await post(deviceAuthorizationUrl, { client_id: 'idp-own-tv', scope: 'openid' })
  t.equal(da.status, 200, 'the IdP issued the code')
  t.equal(da.json.verification_uri, `${sc.url}/idp-device`, 'the IdP\'s own code-entry page')
  t.type(da.json.device_code, 'string')
  const res = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: da.json.device_code, client_id: 'idp-own-tv' })
  t.equal(res.status, 400)
  t.equal(res.json.error, 'authorization_pending', 'the IdP\'s own answer')
  t.not(res.json.error_description, PENDING_AT_SIDECAR.error_description, 'worded by the IdP, not the sidecar')
}

t.test('the IdP\'s device flow at the sidecar\'s device authorization path', async t => {
  const sc = await startSidecar({ idpDeviceFlow: { path: '/device_authorization' }, extraClients: [IDP_BOX] })
  t.teardown(sc.close)
  const discovered = (await get(`${sc.url}/.well-known/openid-configuration`)).json.device_authorization_endpoint as string
  t.equal(discovered, `${sc.url}/device_authorization`)

  t.test('a public IdP client (client_id in the body) gets the IdP\'s device code and the IdP\'s authorization_pending', async t => {
    await idpPending(t, sc, discovered)
  })

  t.test('a confidential IdP client (Basic) too', async t => {
    const auth = { authorization: basic('idp-own-box', 'idp-box-secret-4') }
    const da = await post(discovered, { scope: 'openid' }, auth)
    t.equal(da.status, 200)
    t.equal(da.json.verification_uri, `${sc.url}/idp-device`)
    const res = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: da.json.device_code }, auth)
    t.equal(res.status, 400)
    t.equal(res.json.error, 'authorization_pending')
    t.not(res.json.error_description, PENDING_AT_SIDECAR.error_description)
  })

  t.test('a whole login of the IdP\'s own device flow, through the sidecar: IdP pages, IdP tokens, IdP refresh', async t => {
    const da = await post(discovered, { client_id: 'idp-own-tv', scope: 'openid offline_access' })
    t.equal(da.status, 200)
    const browser = new Browser()
    const autoPost = await browser.get(da.json.verification_uri_complete) // the IdP's page, proxied
    const confirm = await browser.submit(autoPost)
    t.match(confirm.html, da.json.user_code, 'the IdP\'s own confirm page shows the code')
    let page = await browser.submit(confirm)
    for (let steps = 0; steps < 5 && page.url.includes('/interaction/'); steps++) {
      page = await browser.submit(page, Browser.field(page, 'prompt') === 'login' ? { login: 'carol', password: 'any' } : {})
    }
    t.match(page.html, /Sign-in Success/)
    const tokens = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: da.json.device_code, client_id: 'idp-own-tv' })
    t.equal(tokens.status, 200)
    t.equal(tokens.json.token_type, 'Bearer')
    const claims = decodeJwt(tokens.json.id_token)
    t.strictSame([claims.sub, claims.aud, claims.iss], ['carol', 'idp-own-tv', sc.url], 'issued by the IdP to its own client')
    t.equal(sc.logs.filter(l => l.includes('"grant.redeemed"')).length, 0, 'no sidecar grant was redeemed')
    const refreshed = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens.json.refresh_token, client_id: 'idp-own-tv' })
    t.equal(refreshed.status, 200, 'the IdP\'s refresh token, refreshed by the IdP')
    t.type(refreshed.json.access_token, 'string')
  })

  t.test('an IdP client\'s refresh goes to the IdP', async t => {
    const res = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: 'not-a-token', client_id: 'idp-own-tv' })
    t.equal(res.status, 400)
    t.equal(res.json.error, 'invalid_grant')
    t.not(res.json.error_description, 'the refresh token is invalid or was not issued to this client', 'the IdP\'s words')
  })

  t.test('the sidecar\'s own clients are answered by the sidecar', async t => {
    const da = await authorize(sc)
    t.equal(da.status, 200)
    t.equal(da.json.verification_uri, `${sc.url}/device`)
    const res = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: da.json.device_code, client_id: 'tv-app' })
    t.equal(res.status, 400)
    t.strictSame(res.json, PENDING_AT_SIDECAR)
    const idpCode = (await post(discovered, { client_id: 'idp-own-tv', scope: 'openid' })).json.device_code
    const other = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: idpCode, client_id: 'tv-app' })
    t.strictSame(other.json, { error: 'invalid_grant', error_description: 'the device code is invalid or was not issued to this client' }, 'an IdP code polled by a sidecar client is the sidecar\'s to refuse')
  })

  t.test('a request naming no client, or a malformed one, stays the sidecar\'s', async t => {
    const noClient = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: 'x' })
    t.equal(noClient.status, 400)
    t.strictSame(noClient.json, { error: 'invalid_request', error_description: 'client_id is required' })
    const malformed = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: 'x' }, { authorization: 'Basic !!!' })
    t.equal(malformed.status, 401)
    t.strictSame(malformed.json, { error: 'invalid_client', error_description: 'client authentication failed' })
    t.equal(malformed.headers['www-authenticate'], 'Basic realm="device-flow-sidecar", charset="UTF-8"')
    const da = await post(discovered, { scope: 'openid' })
    t.equal(da.status, 400)
    t.strictSame(da.json, { error: 'invalid_request', error_description: 'client_id is required' })
    const daMalformed = await post(discovered, { scope: 'openid' }, { authorization: 'Bearer abc' })
    t.equal(daMalformed.status, 401)
    t.strictSame(daMalformed.json, { error: 'invalid_client', error_description: 'client authentication failed' })
  })
})

t.test('the IdP\'s device flow at a path of its own', async t => {
  const sc = await startSidecar({ idpDeviceFlow: { path: '/device/auth' } })
  t.teardown(sc.close)
  t.test('its own endpoint is proxied', async t => {
    await idpPending(t, sc, `${sc.url}/device/auth`)
  })
  t.test('the sidecar\'s endpoint (what discovery advertises) forwards the IdP\'s clients to it', async t => {
    await idpPending(t, sc, `${sc.url}/device_authorization`)
  })
})

t.test('an IdP without a device flow: clients the sidecar does not know get invalid_client from the sidecar', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  const poll = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: 'x', client_id: 'idp-own-tv' })
  t.equal(poll.status, 401)
  t.strictSame(poll.json, { error: 'invalid_client', error_description: 'client authentication failed' })
  const da = await post(`${sc.url}/device_authorization`, { client_id: 'idp-own-tv', scope: 'openid' })
  t.equal(da.status, 401)
  t.strictSame(da.json, { error: 'invalid_client', error_description: 'client authentication failed' })
})
