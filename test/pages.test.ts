import { mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import * as client from 'openid-client'
import { launchChromium } from './helpers/chromium.js'
import { authorize, poll } from './helpers/http.js'
import { startSidecar } from './helpers/sidecar.js'

// screenshots of every page land here (SCREENSHOT_DIR to keep them)
const shots = process.env.SCREENSHOT_DIR ?? join(tmpdir(), 'dfs-screenshots')
mkdirSync(shots, { recursive: true })

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }

const { browser, skip } = await launchChromium()

t.test('a person on a phone, in real Chromium, through the IdP\'s real login and consent', { skip: skip ?? false }, async t => {
  if (browser === undefined) throw new Error('unreachable: skipped without a browser')
  t.teardown(() => browser.close())
  const sc = await startSidecar()
  t.teardown(sc.close)

  t.test('approve: enter page, confirm page, IdP login and consent, success page; the device gets tokens', async t => {
    const config = await client.discovery(new URL(sc.url), 'tv-app', undefined, client.None(), { execute: [client.allowInsecureRequests] })
    const da = await client.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access' })
    const context = await browser.newContext(PHONE)
    t.teardown(() => context.close())
    const page = await context.newPage()
    // nothing leaves the machine (the IdP's dev pages ask for web fonts); the sidecar's own pages ask for nothing outside
    await context.route(url => !url.toString().startsWith(sc.url), route => route.abort())
    const outside: string[] = []
    page.on('request', req => {
      if (!req.url().startsWith(sc.url) && new URL(req.frame().url()).pathname.startsWith('/device')) outside.push(req.url())
    })

    await page.goto(da.verification_uri_complete!)
    t.equal(await page.inputValue('input[name=user_code]'), da.user_code)
    await page.screenshot({ path: join(shots, 'enter-code-phone.png'), fullPage: true })
    await page.click('button[value=lookup]')

    await page.waitForSelector('button[value=approve]')
    t.equal(await page.textContent('.code'), da.user_code)
    t.match(await page.textContent('h1'), 'Allow Living Room TV to sign in as you?')
    const approve = await page.locator('button[value=approve]').boundingBox()
    const deny = await page.locator('button[value=deny]').boundingBox()
    t.equal(Math.round(approve!.width), Math.round(deny!.width), 'Approve and Deny are the same size')
    t.equal(Math.round(approve!.height), Math.round(deny!.height))
    await page.screenshot({ path: join(shots, 'confirm-phone.png'), fullPage: true })
    await page.click('button[value=approve]')

    await page.waitForSelector('input[name=login]')
    await page.fill('input[name=login]', 'carol')
    await page.fill('input[name=password]', 'whatever')
    await page.click('button[type=submit]')
    await page.waitForSelector('button[type=submit]')
    if (page.url().includes('/interaction/')) await page.click('button[type=submit]') // consent
    await page.waitForSelector('h1.ok')
    t.match(await page.textContent('h1'), 'Device connected')
    t.equal(new URL(page.url()).pathname, '/device/done')
    await page.screenshot({ path: join(shots, 'approved-phone.png'), fullPage: true })
    t.strictSame(outside, [], 'the sidecar\'s pages load nothing from elsewhere')

    sc.clock.advance(5_000)
    const tokens = await client.pollDeviceAuthorizationGrant(config, { ...da, interval: 0 })
    t.equal(tokens.claims()?.sub, 'carol')
  })

  t.test('deny, a wrong code and the desktop layout', async t => {
    const { json: da } = await authorize(sc)
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
    t.teardown(() => context.close())
    const page = await context.newPage()
    await page.goto(`${sc.url}/device`)
    await page.fill('input[name=user_code]', 'bcdf ghjk')
    await page.click('button[value=lookup]')
    await page.waitForSelector('.error')
    t.match(await page.textContent('.error'), 'That code isn’t valid')
    await page.screenshot({ path: join(shots, 'wrong-code-desktop.png') })
    await page.fill('input[name=user_code]', da.user_code.toLowerCase())
    await page.click('button[value=lookup]')
    await page.waitForSelector('button[value=deny]')
    await page.screenshot({ path: join(shots, 'confirm-desktop.png') })
    await page.click('button[value=deny]')
    await page.waitForSelector('h1')
    t.match(await page.textContent('h1'), 'Request denied')
    await page.screenshot({ path: join(shots, 'denied-desktop.png') })
    t.equal((await poll(sc, da.device_code)).json.error, 'access_denied')
  })

  t.test('an error page on a phone', async t => {
    const context = await browser.newContext(PHONE)
    t.teardown(() => context.close())
    const page = await context.newPage()
    const res = await page.goto(`${sc.url}/device/callback?state=unknown&code=x`)
    t.equal(res?.status(), 400)
    t.match(await page.textContent('h1'), 'This sign-in can’t be used here')
    await page.screenshot({ path: join(shots, 'error-phone.png'), fullPage: true })
  })

  /** A sidecar with `limits`, and a phone whose first wrong code gets the 429 page. */
  async function throttledPhone (t: Test, limits: Record<string, unknown>) {
    const other = await startSidecar({ config: { limits } })
    t.teardown(other.close)
    const context = await browser!.newContext(PHONE)
    t.teardown(() => context.close())
    const page = await context.newPage()
    await page.goto(`${other.url}/device`)
    await page.fill('input[name=user_code]', 'BCDF-GHJK')
    const [throttled] = await Promise.all([page.waitForResponse(r => r.url() === `${other.url}/device`), page.click('button[value=lookup]')])
    t.equal(throttled.status(), 429)
    return { other, page, throttled }
  }

  t.test('the 429 page after too many wrong codes, and the 502 page when the IdP is down, on a phone', async t => {
    const { other, page } = await throttledPhone(t, { user_code_attempts: { max: 1, window_seconds: 600 } })
    t.match(await page.textContent('h1'), 'Too many attempts')
    await page.screenshot({ path: join(shots, 'throttled-phone.png'), fullPage: true })

    await other.idp.close()
    const down = await page.goto(`${other.url}/jwks`)
    t.equal(down?.status(), 502)
    t.match(await page.textContent('h1'), 'Sign-in service unavailable')
    await page.screenshot({ path: join(shots, 'idp-down-phone.png'), fullPage: true })
  })

  t.test('the 429 page when wrong codes from everyone together reach the global bound and this network has had its tries, on a phone', async t => {
    const { page, throttled } = await throttledPhone(t, { user_code_attempts_global: { max: 1, window_seconds: 600 } })
    t.match(await page.textContent('main'), 'each network gets only a limited number of tries, and yours are used up')
    t.match(throttled.headers()['retry-after'], /^\d+$/)
    await page.screenshot({ path: join(shots, 'throttled-everyone-phone.png'), fullPage: true })
  })

  t.test('a page in a frame is refused by CSP frame-ancestors', async t => {
    const context = await browser.newContext()
    t.teardown(() => context.close())
    const page = await context.newPage()
    await page.setContent(`<iframe id="f" src="${sc.url}/device"></iframe>`)
    await page.waitForTimeout(500)
    const frame = page.frames().find(f => f.url().startsWith(sc.url))
    const text = frame === undefined ? '' : await frame.evaluate<string>('document.body ? document.body.innerText : ""').catch(() => '')
    t.notMatch(text, 'Connect a device', 'the page did not render inside the frame')
  })
})
