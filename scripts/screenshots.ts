/**
 * `npm run screenshots`: every verification page in en, de, ja and ar, on a phone and a desktop,
 * light and dark, as PNGs under docs/screenshots/ (`confirm-de-phone-dark.png`), plus the open
 * language list on a phone (`languages-ar-phone-light.png`) and the branded confirm page the
 * README shows (`branded-confirm-en-phone-light.png`). The PNGs there are all this script's: it
 * removes them first. A real sidecar in front of the demo IdP, in this process
 * (test/helpers/sidecar.ts), and Debian's Chromium (test/helpers/chromium.ts); the pages load
 * nothing from outside 127.0.0.1.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { launchChromium } from '../test/helpers/chromium.js'
import { authorize } from '../test/helpers/http.js'
import { startSidecar, type TestSidecar } from '../test/helpers/sidecar.js'

const OUT = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url))
const BRAND = fileURLToPath(new URL('../../test/fixtures/brand/', import.meta.url))
const LOCALES = ['en', 'de', 'ja', 'ar'] as const
const DEVICES = { phone: { width: 390, height: 844 }, desktop: { width: 1280, height: 800 } } as const
const SCHEMES = ['light', 'dark'] as const
/** Where the device asked from, and the person's browser: the same /24, so the confirm page says "your network". */
const DEVICE_IP = '198.51.100.7'
const PERSON_IP = '198.51.100.23'
/** A second address for the 429 page, so its wrong codes do not throttle the others. */
const THROTTLED_IP = '203.0.113.50'
/** The code lifetime in the test config (device_flow_codelifetime_seconds), in ms. */
const CODE_LIFETIME_MS = 600_000

type Device = keyof typeof DEVICES
type Scheme = typeof SCHEMES[number]

const { browser, skip } = await launchChromium()
if (browser === undefined) throw new Error(skip)
try {
  mkdirSync(OUT, { recursive: true })
  for (const f of readdirSync(OUT)) if (f.endsWith('.png')) rmSync(`${OUT}${f}`)
  await everyPage(browser)
  await branded(browser)
  process.stderr.write(`${readdirSync(OUT).filter(f => f.endsWith('.png')).length} screenshots in ${OUT}\n`)
} finally {
  await browser.close()
}

async function everyPage (browser: Browser): Promise<void> {
  const sc = await startSidecar({ config: { ui: { links: { privacy: 'https://example.com/privacy', support: 'https://example.com/help' } } } })
  try {
    const enter = await open(browser, sc)
    for (const locale of LOCALES) {
      await enter.goto(`${sc.url}/device?ui_locales=${locale}`)
      await shoot(enter, 'enter_code', locale)
      await enter.$eval('footer details', d => { d.setAttribute('open', '') })
      await shoot(enter, 'languages', locale, ['phone'])
      await wrongCode(enter)
      await enter.waitForSelector('.error')
      await shoot(enter, 'enter_code-wrong', locale)
    }

    const confirm = await open(browser, sc)
    await lookUp(confirm, sc, await newCode(sc))
    sc.clock.advance(40_000)
    for (const locale of LOCALES) {
      await confirm.goto(`${sc.url}/device/confirm?ui_locales=${locale}`)
      await shoot(confirm, 'confirm', locale)
    }

    const approved = await open(browser, sc)
    const approvedCode = await newCode(sc)
    await lookUp(approved, sc, approvedCode)
    await approved.click('button[value=approve]')
    await signIn(approved)
    await approved.waitForSelector('h1.ok')
    for (const locale of LOCALES) {
      await approved.goto(`${sc.url}/device/done?ui_locales=${locale}`)
      await shoot(approved, 'approved', locale)
    }
    for (const locale of LOCALES) {
      await approved.goto(`${sc.url}/device?ui_locales=${locale}`)
      await approved.fill('input[name=user_code]', approvedCode)
      await approved.click('button[value=lookup]')
      await approved.waitForURL(/\/device\/done/)
      await shoot(approved, 'already_connected', locale)
    }

    const denied = await open(browser, sc)
    await lookUp(denied, sc, await newCode(sc))
    await denied.click('button[value=deny]')
    await denied.waitForURL(/\/device\/done/)
    for (const locale of LOCALES) {
      await denied.goto(`${sc.url}/device/done?ui_locales=${locale}`)
      await shoot(denied, 'denied', locale)
    }

    const error = await open(browser, sc)
    for (const locale of LOCALES) {
      await error.goto(`${sc.url}/device?ui_locales=${locale}`)
      await error.goto(`${sc.url}/device/callback?state=x`)
      await shoot(error, 'error', locale)
    }

    const throttled = await open(browser, sc, THROTTLED_IP)
    for (let i = 0; ; i++) {
      if (i === 50) throw new Error('50 wrong codes and no 429')
      await throttled.goto(`${sc.url}/device`)
      if (await wrongCode(throttled) === 429) break
    }
    for (const locale of LOCALES) {
      await throttled.goto(`${sc.url}/device?ui_locales=${locale}`)
      const status = await wrongCode(throttled)
      if (status !== 429) throw new Error(`expected the 429 page, got ${status}`)
      await shoot(throttled, 'throttled', locale)
    }

    // last: the clock jumps past every code's lifetime
    const expired = await open(browser, sc)
    await lookUp(expired, sc, await newCode(sc))
    await expired.click('button[value=approve]')
    await expired.waitForSelector('input[name=login]')
    sc.clock.advance(CODE_LIFETIME_MS + 1_000)
    await signIn(expired)
    await expired.waitForSelector('h1:not(.ok)')
    for (const locale of LOCALES) {
      await expired.goto(`${sc.url}/device/done?ui_locales=${locale}`)
      await shoot(expired, 'expired', locale)
    }
  } finally {
    await sc.close()
  }
}

async function branded (browser: Browser): Promise<void> {
  const sc = await startSidecar({
    config: {
      ui: { service_name: 'Example TV+', logo_file: `${BRAND}example-tv.svg`, accent_color: '#6d28d9', links: { privacy: 'https://example.com/privacy', terms: 'https://example.com/terms', support: 'https://example.com/help' } },
      clients: [{ client_id: 'tv-app', client_name: 'Living Room TV', token_endpoint_auth_method: 'none', scopes: ['openid', 'profile', 'email', 'offline_access'], upstream: { client_id: 'tv-app', client_secret: 'tv-upstream-secret-3' }, client_uri: 'https://tv.example.com/', policy_uri: 'https://tv.example.com/privacy', tos_uri: 'https://tv.example.com/terms' }]
    }
  })
  try {
    const page = await open(browser, sc)
    await lookUp(page, sc, await newCode(sc, 'openid profile email offline_access'))
    sc.clock.advance(20_000)
    for (const [locale, scheme] of [['en', 'light'], ['de', 'dark']] as const) {
      await page.goto(`${sc.url}/device/confirm?ui_locales=${locale}`)
      await page.setViewportSize(DEVICES.phone)
      await page.emulateMedia({ colorScheme: scheme })
      await page.screenshot({ path: `${OUT}branded-confirm-${locale}-phone-${scheme}.png`, fullPage: true })
    }
  } finally {
    await sc.close()
  }
}

/** A browser of its own (its own page cookie), that reaches 127.0.0.1 only, from `ip`. */
async function open (browser: Browser, sc: TestSidecar, ip = PERSON_IP): Promise<Page> {
  const context: BrowserContext = await browser.newContext({ viewport: DEVICES.phone, extraHTTPHeaders: { 'x-forwarded-for': ip } })
  await context.route(url => !url.toString().startsWith(sc.url), route => route.abort())
  return context.newPage()
}

async function newCode (sc: TestSidecar, scope = 'openid offline_access'): Promise<string> {
  const { json } = await authorize(sc, { client_id: 'tv-app', scope }, { 'x-forwarded-for': DEVICE_IP })
  return (json as { user_code: string }).user_code
}

async function lookUp (page: Page, sc: TestSidecar, code: string): Promise<void> {
  await page.goto(`${sc.url}/device?user_code=${code}`)
  await page.click('button[value=lookup]')
  await page.waitForSelector('button[value=approve]')
}

/** Enters a code no grant has, from the page's form; the POST's status (303 to the enter page, or 429). */
async function wrongCode (page: Page): Promise<number> {
  await page.fill('input[name=user_code]', 'WDJB-MJHX')
  const [answer] = await Promise.all([page.waitForResponse(r => r.request().method() === 'POST'), page.click('button[value=lookup]')])
  await page.waitForLoadState()
  return answer.status()
}

/** The demo IdP's login (any login, any password), and its consent when it asks. */
async function signIn (page: Page): Promise<void> {
  await page.waitForSelector('input[name=login]')
  await page.fill('input[name=login]', 'alice@example.com')
  await page.fill('input[name=password]', 'any')
  await page.click('button[type=submit]')
  await page.waitForSelector('button[type=submit], h1')
  if (page.url().includes('/interaction/')) await page.click('button[type=submit]')
}

async function shoot (page: Page, name: string, locale: string, devices = Object.keys(DEVICES) as Device[]): Promise<void> {
  for (const device of devices) {
    await page.setViewportSize(DEVICES[device])
    for (const scheme of SCHEMES as readonly Scheme[]) {
      await page.emulateMedia({ colorScheme: scheme })
      await page.screenshot({ path: `${OUT}${name}-${locale}-${device}-${scheme}.png`, fullPage: true })
    }
  }
}
