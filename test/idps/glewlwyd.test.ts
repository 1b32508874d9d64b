/**
 * The sidecar in front of a second real IdP that it was not written against: glewlwyd 2.7.5
 * (Debian's package, a C server), whose issuer has a path ({external_url}/api/oidc). A whole
 * device login in each mode, the person in headless Chromium on glewlwyd's own login pages:
 * - same-origin: the sidecar's public URL is glewlwyd's external_url and the login pages are
 *   proxied through it;
 * - separate-origin (upstream.proxy: false): the sidecar on its own origin, the browser at
 *   glewlwyd directly.
 * The device (openid-client) discovers from the path issuer in same-origin mode and is given the
 * sidecar's endpoints in separate-origin mode, checks the ID token against
 * glewlwyd's JWKS and the path issuer, uses the access token at glewlwyd's userinfo, and
 * refreshes once through the sidecar.
 */
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import * as client from 'openid-client'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import type { Browser } from 'playwright-core'
import { buildApp, listen } from '../../src/app.js'
import { parseConfig } from '../../src/config/load.js'
import { launchChromium } from '../helpers/chromium.js'
import { GLEWLWYD_USER, glewlwydMissing, startGlewlwyd, type TestGlewlwyd } from '../helpers/glewlwyd.js'
import { TestClock } from '../helpers/clock.js'
import { DEVICE_GRANT, post } from '../helpers/http.js'
import { freePort, UPSTREAM_CLIENT } from '../helpers/sidecar.js'

/** The device client, registered at glewlwyd under its own client_id so the ID token's aud is its own. */
const TV = { client_id: 'tv-app', client_secret: 'tv-upstream-secret-3' }

const missing = glewlwydMissing()
const { browser, skip } = missing === undefined ? await launchChromium() : { browser: undefined, skip: missing }
if (browser !== undefined) t.teardown(() => browser.close())

interface Front {
  url: string
  clock: TestClock
  logs: string[]
  glewlwyd: TestGlewlwyd
}

/** glewlwyd, and the sidecar in front of it in the given mode; both stopped on teardown. */
async function front (t: Test, mode: 'same-origin' | 'separate-origin', pkce = true): Promise<Front> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const glewlwyd = await startGlewlwyd({
    ...(mode === 'same-origin' ? { publicUrl: url } : {}),
    redirectUri: `${url}/device/callback`,
    clients: [UPSTREAM_CLIENT, TV],
    pkce
  })
  t.teardown(async () => {
    if (!t.passing()) console.error(`glewlwyd's output:\n${glewlwyd.output.slice(-4000)}`)
    await glewlwyd.stop()
  })
  const config = parseConfig(JSON.stringify({
    server: { host: '127.0.0.1', port, public_url: url, cookie_keys: ['test-cookie-key-0123456789abcdef0123'] },
    upstream: { url: `${glewlwyd.url}/api/oidc`, ...UPSTREAM_CLIENT, timeout_seconds: 5, proxy: mode === 'same-origin' },
    device_flow_settings: { device_flow_polling_interval_seconds: 5, device_flow_codelifetime_seconds: 600 },
    clients: [{ client_id: TV.client_id, client_name: 'Living Room TV', token_endpoint_auth_method: 'none', scopes: ['openid'], upstream: TV }],
    admin: { enabled: false },
    log: { level: 'info' }
  }), {})
  const clock = new TestClock()
  const logs: string[] = []
  const logStream = new Writable({ write (chunk, _enc, cb) { logs.push(...String(chunk).split('\n').filter(l => l !== '')); cb() } })
  const app = await buildApp(config, { clock, logStream })
  await listen(app, config)
  t.teardown(() => app.close())
  return { url, clock, logs, glewlwyd }
}

/**
 * What a device and a person do: the device asks for a code at the sidecar, the person enters it
 * in Chromium, confirms, signs in on glewlwyd's login page (at `loginOrigin`), and the device's
 * next poll gets tokens whose ID token glewlwyd signed for the path issuer.
 */
async function deviceLogin (t: Test, browser: Browser, f: Front, issuer: string, loginOrigin: string): Promise<void> {
  const meta = await (await fetch(`${f.url}/.well-known/openid-configuration`)).json() as Record<string, unknown>
  t.equal(meta.issuer, issuer, 'the sidecar’s metadata keeps glewlwyd’s path issuer')
  t.equal(meta.device_authorization_endpoint, `${f.url}/device_authorization`)
  t.equal(meta.token_endpoint, `${f.url}/api/oidc/token`, 'glewlwyd’s token path, at the sidecar')
  // same origin: the device discovers from glewlwyd's path issuer (OIDC Discovery §4), which the
  // sidecar answers; separate origin: the issuer is glewlwyd's own origin, so the device is given
  // the sidecar's endpoints
  const config = issuer.startsWith(f.url)
    ? await client.discovery(new URL(issuer), TV.client_id, undefined, client.None(), { execute: [client.allowInsecureRequests] })
    : new client.Configuration({
      issuer,
      device_authorization_endpoint: `${f.url}/device_authorization`,
      token_endpoint: `${f.url}/api/oidc/token`,
      userinfo_endpoint: `${issuer}/userinfo`
    }, TV.client_id, undefined, client.None())
  if (!issuer.startsWith(f.url)) client.allowInsecureRequests(config)
  t.equal(config.serverMetadata().device_authorization_endpoint, `${f.url}/device_authorization`, 'the device endpoint is the sidecar\'s')
  const da = await client.initiateDeviceAuthorization(config, { scope: 'openid' })
  const pending = await post(`${f.url}/api/oidc/token`, { grant_type: DEVICE_GRANT, device_code: da.device_code, client_id: TV.client_id })
  t.equal(pending.status, 400)
  t.strictSame(pending.json, { error: 'authorization_pending', error_description: 'the user has not yet completed the authorization' }, 'the token path is the sidecar’s for its own device client')

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  t.teardown(() => context.close())
  // nothing leaves the machine
  await context.route(url => url.hostname !== '127.0.0.1', route => route.abort())
  const page = await context.newPage()
  await page.goto(da.verification_uri_complete!)
  await page.click('button[value=lookup]')
  await page.waitForSelector('button[value=approve]')
  t.match(await page.textContent('h1'), 'Allow Living Room TV to sign in as you?')
  await page.click('button[value=approve]')

  await page.waitForSelector('#passwordForm')
  const login = new URL(page.url())
  t.equal(login.origin, loginOrigin, 'glewlwyd’s login page is where the mode puts it')
  t.equal(login.pathname, '/login.html')
  await page.fill('#username', GLEWLWYD_USER.username)
  await page.fill('#password', GLEWLWYD_USER.password)
  await page.click('#loginbut')
  await page.click('button[title="Continue to client application"]')
  await page.waitForSelector('h1.ok')
  t.equal(await page.textContent('h1'), 'Device connected')
  t.equal(new URL(page.url()).pathname, '/device/done')

  f.clock.advance(5_000)
  const tokens = await client.pollDeviceAuthorizationGrant(config, { ...da, interval: 0 })
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`))
  const { payload, protectedHeader } = await jwtVerify(tokens.id_token!, jwks, { issuer, audience: TV.client_id })
  t.equal(protectedHeader.alg, 'RS256')
  t.equal(payload.iss, issuer, 'the ID token names the path issuer')
  t.type(payload.sub, 'string')
  t.equal(tokens.claims()?.sub, payload.sub)
  t.ok(f.logs.some(l => l.includes('"event":"grant.approved"') && l.includes(`"sub":"${payload.sub}"`)), 'the sidecar approved the grant for that subject')
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, payload.sub!)
  t.equal(userinfo.sub, payload.sub, 'glewlwyd’s userinfo accepts the access token the device got')

  t.type(tokens.refresh_token, 'string', 'glewlwyd issued a refresh token')
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!)
  t.not(refreshed.refresh_token, tokens.refresh_token, 'a public client’s refresh handle is single-use')
  t.equal((await client.fetchUserInfo(config, refreshed.access_token, payload.sub!)).sub, payload.sub, 'the refreshed access token is glewlwyd’s too')

  const again = await post(`${f.url}/api/oidc/token`, { grant_type: DEVICE_GRANT, device_code: da.device_code, client_id: TV.client_id })
  t.equal(again.status, 400)
  t.strictSame(again.json, { error: 'invalid_grant', error_description: 'the device code has already been used' }, 'the tokens left once')
}

t.test('same-origin: the sidecar at glewlwyd’s external_url, its pages proxied, the path issuer kept', { skip: skip ?? false }, async t => {
  const f = await front(t, 'same-origin')
  t.equal(f.glewlwyd.issuer, `${f.url}/api/oidc`)
  await deviceLogin(t, browser!, f, `${f.url}/api/oidc`, f.url)
})

t.test('separate-origin (upstream.proxy: false): the browser signs in at glewlwyd itself', { skip: skip ?? false }, async t => {
  const f = await front(t, 'separate-origin')
  t.equal(f.glewlwyd.issuer, `${f.glewlwyd.url}/api/oidc`)
  const proxied = await fetch(`${f.url}/login.html`)
  await proxied.arrayBuffer()
  t.equal(proxied.status, 404, 'nothing of glewlwyd’s is served at the sidecar')
  await deviceLogin(t, browser!, f, `${f.glewlwyd.url}/api/oidc`, f.glewlwyd.url)
})

t.test('glewlwyd with its default PKCE off: the person is told the sign-in service cannot handle the request, not that they said no', { skip: skip ?? false }, async t => {
  const f = await front(t, 'same-origin', false)
  const da = await post(`${f.url}/device_authorization`, { client_id: TV.client_id, scope: 'openid' })
  t.equal(da.status, 200)
  const context = await browser!.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true })
  t.teardown(() => context.close())
  await context.route(url => url.hostname !== '127.0.0.1', route => route.abort())
  const page = await context.newPage()
  await page.goto(da.json.verification_uri_complete)
  await page.click('button[value=lookup]')
  await page.click('button[value=approve]')
  await page.waitForSelector('h1')
  t.equal(new URL(page.url()).pathname, '/device/callback', 'glewlwyd sent the browser back at once')
  t.equal(await page.textContent('h1'), 'The sign-in service could not handle this request')
  await page.screenshot({ path: join(process.env.SCREENSHOT_DIR ?? tmpdir(), 'idp-misconfigured-phone.png'), fullPage: true })
  const reference = await page.textContent('body')
  const error = f.logs.find(l => l.includes('"level":50') && l.includes('"idp_error":"invalid_request"'))
  t.ok(error, 'an error line with glewlwyd\'s own error')
  t.ok(reference?.includes(JSON.parse(error!).reqId as string), 'the page shows the line\'s reference')
  f.clock.advance(5_000)
  const polled = await post(`${f.url}/api/oidc/token`, { grant_type: DEVICE_GRANT, device_code: da.json.device_code, client_id: TV.client_id })
  t.strictSame(polled.json, { error: 'access_denied', error_description: 'the identity provider could not handle the sign-in request (invalid_request); its set-up for this service needs fixing' })
})
