/**
 * Finding 10 of the attack run: a callback without RFC 9207's `iss` was accepted although the IdP
 * advertises `authorization_response_iss_parameter_supported`. Such a response is refused now
 * (RFC 9207 §2.4): the device stays pending, the person is told to start again, and an audit line
 * says why. Driven in real Chromium through the IdP's real login; only the callback's `iss` is
 * taken out on its way back (as a mix-up attacker's response would lack it).
 */
import t from 'tap'
import * as client from 'openid-client'
import { launchChromium } from '../helpers/chromium.js'
import { startSidecar } from '../helpers/sidecar.js'

const { browser, skip } = await launchChromium()

t.test('a callback without iss from an IdP that always sends it is refused', { skip: skip ?? false }, async t => {
  if (browser === undefined) throw new Error('unreachable: skipped without a browser')
  t.teardown(() => browser.close())
  const sc = await startSidecar()
  t.teardown(sc.close)
  const meta = await (await fetch(`${sc.url}/.well-known/openid-configuration`)).json() as Record<string, unknown>
  t.equal(meta.authorization_response_iss_parameter_supported, true, 'the IdP says it sends iss')

  const config = await client.discovery(new URL(sc.url), 'tv-app', undefined, client.None(), { execute: [client.allowInsecureRequests] })
  const da = await client.initiateDeviceAuthorization(config, { scope: 'openid' })
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  t.teardown(() => context.close())
  await context.route(url => !url.toString().startsWith(sc.url), route => route.abort())
  let stripped = 0
  // the IdP's redirect to the callback is taken out of its answer on the way and sent on without
  // iss. Chromium routes no redirect's next hop, so the IdP's own redirects are turned into page
  // loads (a meta refresh, its cookies kept), which it does route.
  await context.route(url => url.toString().startsWith(sc.url) && !url.pathname.startsWith('/device'), async route => {
    const response = await route.fetch({ maxRedirects: 0 })
    const location = response.headers().location
    if (location === undefined) return route.fulfill({ response })
    const next = new URL(location, sc.url)
    if (next.pathname === '/device/callback' && next.searchParams.has('iss')) {
      stripped++
      next.searchParams.delete('iss')
      return route.fulfill({ response, headers: { ...response.headers(), location: next.toString() } })
    }
    const { location: _location, 'content-length': _length, ...headers } = response.headers()
    return route.fulfill({ status: 200, headers: { ...headers, 'content-type': 'text/html' }, body: `<meta http-equiv="refresh" content="0;url=${next.toString().replaceAll('"', '&quot;')}">` })
  })
  const page = await context.newPage()
  await page.goto(da.verification_uri_complete!)
  await page.click('button[value=lookup]')
  await page.click('button[value=approve]')
  await page.waitForSelector('input[name=login]')
  await page.fill('input[name=login]', 'mallory-victim')
  await page.fill('input[name=password]', 'whatever')
  await page.click('button[type=submit]')
  await page.waitForSelector('button[type=submit], h1')
  if (page.url().includes('/interaction/')) await page.click('button[type=submit]') // consent
  await page.waitForURL(url => url.pathname === '/device/callback' && !url.searchParams.has('iss'))
  await page.waitForSelector('h1')
  t.equal(stripped, 1, 'the IdP sent iss, and the test took it out')
  t.equal(await page.textContent('h1'), 'Sign-in can’t be used')
  t.ok(sc.logs.some(l => l.includes('"event":"verification.issuer_mismatch"') && l.includes('"iss":"missing"')), 'an audit line says why')

  sc.clock.advance(5_000)
  const res = await fetch(`${sc.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: da.device_code, client_id: 'tv-app' }) })
  t.equal(((await res.json()) as { error: string }).error, 'authorization_pending', 'the device was not approved')
})
