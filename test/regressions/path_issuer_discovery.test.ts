// Issue 14, finding 1: in front of an issuer with a path (Keycloak's /realms/main), clients
// looking for discovery at {issuer}/.well-known/openid-configuration (OpenID Connect Discovery
// §4) were proxied to the IdP's own document (no device endpoint), and RFC 8414's path-inserted
// /.well-known/oauth-authorization-server{path} was 404: a device following discovery was sent
// past the sidecar.
import t, { type Test } from 'tap'
import * as client from 'openid-client'
import * as oauth from 'oauth4webapi'
import { approveOnPhone, Browser } from '../helpers/browser.js'
import { basic, DEVICE_GRANT, get, post } from '../helpers/http.js'
import { discoveryPaths } from '../../src/http/endpoints/metadata.js'
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js'

const ISSUER_PATH = '/realms/main'

/** Every place a client may derive discovery from an issuer with `path`: appended, path-inserted, root. */
const locations = (path: string): string[] => [
  `${path}/.well-known/openid-configuration`,
  `${path}/.well-known/oauth-authorization-server`,
  `/.well-known/oauth-authorization-server${path}`,
  `/.well-known/openid-configuration${path}`,
  '/.well-known/openid-configuration',
  '/.well-known/oauth-authorization-server'
]

/** The IdP's own document, as its clients on the public origin see it, with what the sidecar adds. */
async function expectedDocument (t: Test, sc: TestSidecar, issuer: string): Promise<Record<string, unknown>> {
  const upstream = (await get(`${sc.idp.url}/.well-known/openid-configuration`, { 'x-forwarded-host': new URL(sc.url).host, 'x-forwarded-proto': 'http' })).json
  t.equal(upstream.issuer, issuer, 'the IdP\'s issuer has the path')
  t.notOk('device_authorization_endpoint' in upstream, 'the IdP itself has no device endpoint')
  return {
    ...upstream,
    token_endpoint: `${issuer}/token`,
    revocation_endpoint: `${issuer}/token/revocation`,
    device_authorization_endpoint: `${sc.url}/device_authorization`,
    grant_types_supported: [...upstream.grant_types_supported, DEVICE_GRANT]
  }
}

t.test('an issuer with a path, same-origin front', async t => {
  const sc = await startSidecar({ issuerPath: ISSUER_PATH })
  t.teardown(sc.close)
  const issuer = `${sc.url}${ISSUER_PATH}`
  t.equal(sc.config.upstream.url, `${sc.idp.url}`)
  t.equal(new URL(sc.idp.url).pathname, ISSUER_PATH, 'upstream.url names the issuer\'s path at the IdP')
  const expected = await expectedDocument(t, sc, issuer)

  t.test('every derived discovery location answers the IdP\'s document with the device endpoint, the issuer unchanged', async t => {
    for (const path of locations(ISSUER_PATH)) {
      const res = await get(`${sc.url}${path}`)
      t.equal(res.status, 200, path)
      t.strictSame(res.json, expected, path)
      t.equal(res.headers['cache-control'], 'public, max-age=300', path)
      t.equal(res.json.issuer, issuer, path)
    }
    const variant = await get(`${sc.url}${ISSUER_PATH.toUpperCase()}/.well-known/openid-configuration/`)
    t.equal(variant.status, 308, 'another spelling of one of them is the sidecar\'s too, never the IdP\'s')
    t.equal(variant.headers.location, `${ISSUER_PATH}/.well-known/openid-configuration`)
  })

  t.test('oauth4webapi discovers from the issuer (oidc and oauth2 algorithms) and checks its issuer', async t => {
    for (const algorithm of ['oidc', 'oauth2'] as const) {
      const res = await oauth.discoveryRequest(new URL(issuer), { algorithm, [oauth.allowInsecureRequests]: true })
      const as = await oauth.processDiscoveryResponse(new URL(issuer), res)
      t.equal(as.issuer, issuer, algorithm)
      t.equal(as.device_authorization_endpoint, `${sc.url}/device_authorization`, algorithm)
      t.equal(as.token_endpoint, `${issuer}/token`, algorithm)
      t.equal(as.revocation_endpoint, `${issuer}/token/revocation`, algorithm)
    }
  })

  t.test('openid-client discovers from the issuer (oidc and oauth2 algorithms)', async t => {
    for (const algorithm of ['oidc', 'oauth2'] as const) {
      const config = await client.discovery(new URL(issuer), 'tv-app', undefined, client.None(), { algorithm, execute: [client.allowInsecureRequests] })
      const meta = config.serverMetadata()
      t.equal(meta.issuer, issuer, algorithm)
      t.equal(meta.device_authorization_endpoint, `${sc.url}/device_authorization`, algorithm)
      t.equal(meta.token_endpoint, `${issuer}/token`, algorithm)
    }
  })

  t.test('a whole device login through openid-client, discovered from the issuer, then a refresh', async t => {
    const config = await client.discovery(new URL(issuer), 'tv-app', undefined, client.None(), { execute: [client.allowInsecureRequests] })
    const da = await client.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access' })
    t.equal(da.verification_uri, `${sc.url}/device`, 'the verification page stays at its configured path')
    const browser = new Browser()
    const { confirm, final } = await approveOnPhone(browser, da.verification_uri_complete!)
    t.match(confirm.html, 'Living Room TV')
    t.ok(browser.visited.some(u => u.startsWith(`${issuer}/auth?`)), 'the person signed in at the IdP under its path, through the sidecar')
    t.equal(final.status, 200)
    t.match(final.html, 'Device connected')
    sc.clock.advance(5_000)
    const tokens = await client.pollDeviceAuthorizationGrant(config, { ...da, interval: 0 })
    t.type(tokens.access_token, 'string')
    t.equal(tokens.scope, 'openid profile offline_access')
    t.equal(tokens.claims()?.iss, issuer, 'the ID token names the issuer with its path')
    t.equal(tokens.claims()?.sub, 'alice')
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!)
    t.type(refreshed.access_token, 'string')
    const events = sc.logs.map(l => JSON.parse(l) as Record<string, unknown>)
    t.ok(events.some(e => e.event === 'grant.redeemed' && e.client_id === 'tv-app'), 'the poll was answered by the sidecar')
    t.ok(events.some(e => e.event === 'token.refreshed' && e.client_id === 'tv-app'), 'the refresh was answered by the sidecar')
  })

  t.test('the token endpoint under the issuer\'s path is the sidecar\'s; the IdP\'s other paths under it are proxied', async t => {
    const poll = await post(`${issuer}/token`, { grant_type: DEVICE_GRANT, device_code: 'not-a-device-code-at-all', client_id: 'tv-app' })
    t.equal(poll.status, 400)
    t.equal(poll.json.error, 'invalid_grant', 'a device_code poll there is answered by the sidecar')
    const web = await post(`${issuer}/token`, { grant_type: 'client_credentials', scope: 'api' }, { authorization: basic('web-app', 'web-secret-Xy7') })
    t.equal(web.status, 200, 'the IdP\'s own clients pass through')
    t.type(web.json.access_token, 'string')
    const jwks = await get(`${issuer}/jwks`)
    t.equal(jwks.status, 200)
    t.equal(jwks.json.keys[0].kid, 'demo-1')
    const echo = await post(`${issuer}/echo/a?x=1`, 'hello', { 'content-type': 'text/plain' })
    t.equal(echo.status, 200)
    t.equal(echo.json.url, `${ISSUER_PATH}/echo/a?x=1`, 'the IdP gets the path as it came')
    t.equal(echo.json.body, 'hello')
  })

  t.test('the device endpoint and the verification pages stay at their configured paths', async t => {
    const da = await post(`${sc.url}/device_authorization`, { client_id: 'tv-app', scope: 'openid' })
    t.equal(da.status, 200)
    t.equal(da.json.verification_uri, `${sc.url}/device`)
    const page = await get(`${sc.url}/device`, { accept: 'text/html' })
    t.equal(page.status, 200)
    t.match(page.headers['content-type'], /^text\/html/)
    const proxied = await post(`${issuer}/device_authorization`, { client_id: 'tv-app', scope: 'openid' })
    t.equal(proxied.status, 404, 'the issuer\'s path holds no second device endpoint')
  })
})

t.test('an issuer at the root: the path-inserted forms are the root ones, nothing else changes', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  const issuer = sc.url
  t.equal(sc.idp.url.endsWith(`:${new URL(sc.idp.url).port}`), true, 'upstream.url has no path')
  const upstream = (await get(`${sc.idp.url}/.well-known/openid-configuration`, { 'x-forwarded-host': new URL(sc.url).host, 'x-forwarded-proto': 'http' })).json
  for (const path of locations('')) {
    const res = await get(`${sc.url}${path}`)
    t.equal(res.status, 200, path)
    t.equal(res.json.issuer, issuer, path)
    t.equal(res.json.device_authorization_endpoint, `${sc.url}/device_authorization`, path)
    t.equal(res.json.token_endpoint, `${sc.url}/token`, path)
  }
  for (const path of [`/.well-known/openid-configuration${ISSUER_PATH}`, `/.well-known/oauth-authorization-server${ISSUER_PATH}`, `${ISSUER_PATH}/.well-known/openid-configuration`]) {
    const res = await get(`${sc.url}${path}`)
    t.equal(res.status, 404, `${path} is no discovery location of a root issuer (the IdP's answer)`)
  }
  for (const algorithm of ['oidc', 'oauth2'] as const) {
    const res = await oauth.discoveryRequest(new URL(issuer), { algorithm, [oauth.allowInsecureRequests]: true })
    const as = await oauth.processDiscoveryResponse(new URL(issuer), res)
    t.equal(as.issuer, upstream.issuer, algorithm)
    t.equal(as.device_authorization_endpoint, `${sc.url}/device_authorization`, algorithm)
  }
})

t.test('separate origin (upstream.proxy: false): the same locations answer on the sidecar\'s origin', async t => {
  const sc = await startSidecar({ issuerPath: ISSUER_PATH, config: { upstream: { proxy: false } } })
  t.teardown(sc.close)
  const issuer = `${sc.url}${ISSUER_PATH}`
  const expected = await expectedDocument(t, sc, issuer)
  for (const path of locations(ISSUER_PATH)) {
    const res = await get(`${sc.url}${path}`)
    t.equal(res.status, 200, path)
    t.strictSame(res.json, expected, path)
  }
  const other = await get(`${issuer}/jwks`)
  t.equal(other.status, 404, 'nothing else under the issuer\'s path is answered')
  t.strictSame(other.json, { error: 'invalid_request', error_description: 'no such endpoint' })
})

t.test('an issuer\'s terminating slash is dropped before deriving (RFC 8414 §3.1, OpenID Connect Discovery 1.0 §4)', async t => {
  t.strictSame(discoveryPaths('https://idp.example.com/realms/main/'), [
    '/.well-known/openid-configuration',
    '/.well-known/openid-configuration/realms/main',
    '/realms/main/.well-known/openid-configuration',
    '/.well-known/oauth-authorization-server',
    '/.well-known/oauth-authorization-server/realms/main',
    '/realms/main/.well-known/oauth-authorization-server'
  ])
  t.strictSame(discoveryPaths('https://idp.example.com/'), ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'])
  t.strictSame(discoveryPaths('https://idp.example.com'), ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'])
})
