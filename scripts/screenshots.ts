/**
 * `npm run screenshots`: every verification page in en, de, ja and ar, on a phone and a desktop,
 * light and dark, as PNGs under docs/screenshots/ (`confirm-de-phone-dark.png`), plus the open
 * language list on a phone (`languages-ar-phone-light.png`), the branded confirm page the
 * README shows (`branded-confirm-en-phone-light.png`) and the demo TV's terminal with its QR code
 * (`demo-tv-qr.png`; `npm run screenshots -- --demo-tv` takes that one alone). The PNGs there are
 * all this script's: it removes them first. A real sidecar in front of the demo IdP, in this process
 * (test/helpers/sidecar.ts), and Debian's Chromium (test/helpers/chromium.ts); the pages load
 * nothing from outside 127.0.0.1.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import jsQRModule from 'jsqr'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { PNG } from 'pngjs'
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

/** `npm run device`, built (dist/demo/device.js). */
const DEMO_TV = fileURLToPath(new URL('../demo/device.js', import.meta.url))
/** The demo TV has printed its code and QR code within this long, or the shot fails. */
const DEMO_TV_TIMEOUT_MS = 20_000
// jsqr's types declare an ES default export; at run time the CommonJS module is the function itself
const jsQR = jsQRModule as unknown as typeof jsQRModule.default

const { browser, skip } = await launchChromium()
if (browser === undefined) throw new Error(skip)
try {
  mkdirSync(OUT, { recursive: true })
  if (!process.argv.includes('--demo-tv')) {
    for (const f of readdirSync(OUT)) if (f.endsWith('.png')) rmSync(`${OUT}${f}`)
    await everyPage(browser)
    await branded(browser)
  }
  await demoTv(browser)
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

/**
 * The demo TV against a sidecar, its terminal as a person sees it (white on black, monospace, line
 * height 1); the QR code in the shot must read back (jsQR) as the verification_uri_complete it printed.
 */
async function demoTv (browser: Browser): Promise<void> {
  const sc = await startSidecar()
  try {
    const output = await demoTvOutput(sc.url)
    const complete = /\(or open (\S+)\)/.exec(output)?.[1]
    const page = await browser.newPage({ viewport: { width: 640, height: 200 } })
    // a terminal's cell is about twice as tall as wide (DejaVu Sans Mono: 0.6 em wide, 1.2 em a line),
    // so the QR code's half-block modules are square; each coloured run fills its cells' full height
    await page.setContent(`<!doctype html><style>pre{margin:0;padding:16px 8px;color:#fff;background:#000;font:16px/1.2 'DejaVu Sans Mono',monospace}pre span{display:inline-block;height:1.2em;vertical-align:top}</style><body style="margin:0;background:#000"><pre>${terminalHtml(output)}</pre></body>`)
    const shot = await page.screenshot({ fullPage: true })
    const image = PNG.sync.read(shot)
    const read = jsQR(new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length), image.width, image.height)?.data
    if (complete === undefined || read !== complete) throw new Error(`the demo TV's QR code reads ${JSON.stringify(read)}, not ${JSON.stringify(complete)}`)
    writeFileSync(`${OUT}demo-tv-qr.png`, shot)
  } finally {
    await sc.close()
  }
}

/** What `npm run device` prints up to "waiting for approval" (then it is stopped). */
async function demoTvOutput (sidecarUrl: string): Promise<string> {
  const tv = spawn(process.execPath, [DEMO_TV], { env: { ...process.env, SIDECAR_URL: sidecarUrl }, stdio: ['ignore', 'pipe', 'inherit'] })
  let output = ''
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`the demo TV printed no code within ${DEMO_TV_TIMEOUT_MS} ms:\n${output}`)) }, DEMO_TV_TIMEOUT_MS)
      tv.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk
        if (output.includes('waiting for approval')) {
          clearTimeout(timer)
          resolve(output)
        }
      })
      tv.once('exit', code => { clearTimeout(timer); reject(new Error(`the demo TV exited (${code}):\n${output}`)) })
    })
  } finally {
    tv.kill()
  }
}

/** Terminal output as HTML: escaped, and the SGR colours the QR code uses (30–37, 40–47, 0) as spans. */
function terminalHtml (text: string): string {
  const palette = ['#000', '#c00', '#0c0', '#cc0', '#00c', '#c0c', '#0cc', '#fff']
  let fg: string | undefined
  let bg: string | undefined
  let html = ''
  for (const part of text.split(/(\x1b\[[0-9;]*m)/)) {
    const sgr = /^\x1b\[([0-9;]*)m$/.exec(part)
    if (sgr === null) {
      const escaped = part.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
      html += fg === undefined && bg === undefined ? escaped : `<span style="${fg === undefined ? '' : `color:${fg};`}${bg === undefined ? '' : `background:${bg}`}">${escaped}</span>`
      continue
    }
    for (const n of (sgr[1] === '' ? '0' : sgr[1]!).split(';').map(Number)) {
      if (n === 0) fg = bg = undefined
      else if (n >= 30 && n <= 37) fg = palette[n - 30]
      else if (n >= 40 && n <= 47) bg = palette[n - 40]
    }
  }
  return html
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
