import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import t from 'tap'
import type { Browser as Chromium, BrowserContext, Page } from 'playwright-core'
import { launchChromium } from './helpers/chromium.js'
import { authorize, get } from './helpers/http.js'
import { CLIENTS, startSidecar, type TestSidecar } from './helpers/sidecar.js'

// axe-core on every verification page (src/ui/pages.ts PAGE_NAMES, enter_code also with its error)
// in every bundled locale, light and dark, in real Chromium. The rule set is every rule tagged
// WCAG 2.0/2.1/2.2 A or AA or best-practice: in axe 4.14 that is all of axe's default set, plus
// target-size (WCAG 2.2 2.5.8, which axe leaves off by default) — a phone page of buttons and
// links is exactly where target size matters. The pages' CSP allows no script, rightly: the
// context bypasses CSP to inject axe; the page itself is unchanged.

const AXE = join(dirname(createRequire(import.meta.url).resolve('axe-core')), 'axe.min.js')
const LOCALES = readdirSync(new URL('../src/ui/messages/', import.meta.url)).filter(f => f.endsWith('.json')).map(f => f.slice(0, -'.json'.length)).sort()
const SCHEMES = ['light', 'dark'] as const
const AXE_OPTIONS = { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] }, resultTypes: ['violations', 'incomplete'] }
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true }
const fixture = (name: string): string => new URL(`./fixtures/brand/${name}`, import.meta.url).pathname

interface Violation { id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[]; failureSummary?: string }> }
interface Result { violations: Violation[]; incomplete: Violation[] }

const { browser, skip } = await launchChromium()

/** A phone-sized browser with axe in every page it opens (CSP bypassed for that script alone to run). */
async function axeContext (chromium: Chromium): Promise<BrowserContext> {
  const context = await chromium.newContext({ ...PHONE, bypassCSP: true })
  await context.addInitScript({ path: AXE })
  return context
}

/**
 * axe on the page as it is now, in both colour schemes, the language list opened so its links are
 * checked too. Returns one readable line per failing node.
 */
async function audit (page: Page, where: string): Promise<string[]> {
  await page.evaluate('for (const d of document.querySelectorAll("details")) d.open = true')
  const found: string[] = []
  for (const colorScheme of SCHEMES) {
    await page.emulateMedia({ colorScheme })
    // a string, as the tests are compiled without the DOM's types
    const result = await page.evaluate(`axe.run(document, ${JSON.stringify(AXE_OPTIONS)})`) as Result
    for (const v of result.violations) {
      for (const n of v.nodes) found.push(`${where} [${colorScheme}] ${v.id} (${v.impact ?? 'n/a'}) at ${JSON.stringify(n.target)}: ${v.help}; ${(n.failureSummary ?? '').replace(/\s+/g, ' ')}`)
    }
    for (const p of await placeholders(page)) {
      const ratio = contrast(over(p.color, p.opacity, p.background), p.background)
      const needed = p.px >= 24 || (p.px >= 18.66 && p.weight >= 700) ? 3 : 4.5 // WCAG 1.4.3, large text as axe measures it
      if (ratio < needed) found.push(`${where} [${colorScheme}] placeholder-contrast (serious) at ["#${p.id}"]: a placeholder is text, its contrast is 1.4.3's too (axe does not check ::placeholder); ${ratio.toFixed(2)}:1 (${p.color} at opacity ${p.opacity} on ${p.background}), expected ${needed}:1`)
    }
    // a contrast axe could not decide is a contrast nobody checked
    for (const v of result.incomplete.filter(i => i.id === 'color-contrast')) {
      for (const n of v.nodes) found.push(`${where} [${colorScheme}] ${v.id} undecided at ${JSON.stringify(n.target)}; ${(n.failureSummary ?? '').replace(/\s+/g, ' ')}`)
    }
  }
  return found
}

type Rgba = [number, number, number, number]
interface Placeholder { id: string; color: Rgba; opacity: number; background: Rgba; px: number; weight: number }

/** Each input's placeholder as Chromium draws it: its colour and opacity, the field's background, the font. */
async function placeholders (page: Page): Promise<Placeholder[]> {
  const raw = await page.evaluate(`[...document.querySelectorAll('input[placeholder]')].map(i => {
    const ph = getComputedStyle(i, '::placeholder')
    return { id: i.id, color: ph.color, opacity: ph.opacity, background: getComputedStyle(i).backgroundColor, px: ph.fontSize, weight: ph.fontWeight }
  })`) as Array<Record<keyof Placeholder, string>>
  return raw.map(r => ({ id: r.id, color: rgba(r.color), opacity: Number(r.opacity), background: rgba(r.background), px: parseFloat(r.px), weight: Number(r.weight) }))
}

function rgba (css: string): Rgba {
  const [r = 0, g = 0, b = 0, a = 1] = (/^rgba?\(([^)]*)\)$/.exec(css)?.[1] ?? '').split(/[\s,/]+/).filter(Boolean).map(Number)
  return [r, g, b, a]
}

/** `fg` drawn at `opacity` over an opaque `bg`. */
function over (fg: Rgba, opacity: number, bg: Rgba): Rgba {
  const a = fg[3] * opacity
  return [0, 1, 2].map(i => fg[i]! * a + bg[i]! * (1 - a)).concat(1) as Rgba
}

/** WCAG 2.2 contrast ratio of two opaque colours. */
function contrast (x: Rgba, y: Rgba): number {
  const lum = (c: Rgba): number => {
    const [r, g, b] = c.slice(0, 3).map(v => { const s = v / 255; return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4 }) as [number, number, number]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
  }
  const [hi, lo] = [lum(x), lum(y)].sort((m, n) => n - m) as [number, number]
  return (hi + 0.05) / (lo + 0.05)
}

/** Every page of `sc` in every one of `locales`: one grant settled per outcome, each re-rendered per locale. */
async function auditSidecar (chromium: Chromium, sc: TestSidecar, locales: readonly string[]): Promise<{ pages: number; found: string[] }> {
  const found: string[] = []
  let pages = 0
  const contexts: BrowserContext[] = []
  const open = async (): Promise<Page> => {
    const context = await axeContext(chromium)
    contexts.push(context)
    await context.route(url => !url.toString().startsWith(sc.url), route => route.abort())
    return context.newPage()
  }
  const check = async (page: Page, name: string, locale: string, expected: string): Promise<void> => {
    const at = `${locale} ${name} (${new URL(page.url()).pathname})`
    if (await page.getAttribute('html', 'lang') !== locale) throw new Error(`${at}: the page is not in ${locale}`)
    if (await page.locator(expected).count() !== 1) throw new Error(`${at}: not the ${name} page (${expected} missing)`)
    pages++
    found.push(...await audit(page, at))
  }
  const signIn = async (page: Page, login: string, beforeLogin?: () => void): Promise<void> => {
    await page.click('button[value=approve]')
    await page.waitForSelector('input[name=login]')
    beforeLogin?.()
    await page.fill('input[name=login]', login)
    await page.fill('input[name=password]', 'any')
    await page.click('button[type=submit]')
    await page.waitForSelector('button[type=submit], h1')
    if (page.url().includes('/interaction/')) await page.click('button[type=submit]')
    await page.waitForURL(/\/device\/done$/)
  }
  const toConfirm = async (page: Page, headers: Record<string, string> = {}): Promise<{ user_code: string }> => {
    const { json: da } = await authorize(sc, undefined, headers)
    await page.goto(da.verification_uri_complete)
    await page.click('button[value=lookup]')
    await page.waitForSelector('button[value=approve]')
    return da
  }

  try {
    // one browser per outcome, each settled once; the clock is advanced last (expired)
    const enter = await open()
    const confirm = await open()
    await toConfirm(confirm, { 'x-forwarded-for': '203.0.113.5' }) // from another network: the page's warning colour
    const approved = await open()
    const approvedCode = (await toConfirm(approved)).user_code
    await signIn(approved, 'alice')
    const denied = await open()
    await toConfirm(denied)
    await denied.click('button[value=deny]')
    await denied.waitForURL(/\/device\/done$/)

    // each browser walks the locales on its own, side by side
    await Promise.all([
      each(locales, async locale => {
        await enter.goto(`${sc.url}/device?ui_locales=${locale}`)
        await check(enter, 'enter_code', locale, 'input[name=user_code]')
        await enter.fill('input[name=user_code]', 'BCDF-GHJK')
        await enter.click('button[value=lookup]')
        await enter.waitForSelector('#code_error')
        await check(enter, 'enter_code with its error', locale, '#code_error')
        await enter.goto(`${sc.url}/device/callback?state=x`)
        await check(enter, 'error', locale, 'main p.muted')
      }),
      each(locales, async locale => {
        await confirm.goto(`${sc.url}/device/confirm?ui_locales=${locale}`)
        await check(confirm, 'confirm', locale, 'dd span.bad')
        await denied.goto(`${sc.url}/device/done?ui_locales=${locale}`)
        await check(denied, 'denied', locale, 'h1:not(.ok)')
      }),
      each(locales, async locale => {
        await approved.goto(`${sc.url}/device/done?ui_locales=${locale}`)
        await check(approved, 'approved', locale, 'h1.ok')
        await approved.goto(`${sc.url}/device?ui_locales=${locale}`)
        await approved.fill('input[name=user_code]', approvedCode)
        await approved.click('button[value=lookup]')
        await approved.waitForURL(/\/device\/done$/)
        await check(approved, 'already_connected', locale, 'h1.ok')
      })
    ])

    const expired = await open()
    await toConfirm(expired)
    await signIn(expired, 'erin', () => sc.clock.advance((sc.config.device_flow_settings.device_flow_codelifetime_seconds + 1) * 1000))
    for (const locale of locales) {
      await expired.goto(`${sc.url}/device/done?ui_locales=${locale}`)
      await check(expired, 'expired', locale, 'h1:not(.ok)')
    }
  } finally {
    for (const context of contexts) await context.close()
  }
  return { pages, found }
}

async function each<T> (items: readonly T[], step: (item: T) => Promise<void>): Promise<void> {
  for (const item of items) await step(item)
}

const ATTEMPTS = { limits: { user_code_attempts: { max: 1000, window_seconds: 3600 } } }

t.test('the verification pages are accessible in every locale, light and dark (axe-core in Chromium)', { skip: skip ?? false }, async t => {
  if (browser === undefined) throw new Error('unreachable: skipped without a browser')
  t.teardown(() => browser.close())

  t.test('the check itself: an image without alt, text readable in light but not in dark, a pale placeholder, are reported with page and scheme', async t => {
    const sc = await startSidecar()
    t.teardown(sc.close)
    const context = await axeContext(browser)
    t.teardown(() => context.close())
    const page = await context.newPage()
    await page.goto(`${sc.url}/device`)
    // #59636e on the card: 6.1:1 on light's white, 2.8:1 on dark's #151b23; a #bbb placeholder on
    // the field's background: 1.8:1 in light, 9.6:1 in dark
    await page.evaluate(`document.querySelector('main').insertAdjacentHTML('beforeend', '<p id="dim" style="color:#59636e">dim</p><img id="bare" src="data:,"><style>#pale::placeholder{color:#bbb;opacity:1}</style><input type="text" id="pale" aria-label="pale" placeholder="pale">')`)
    const found = await audit(page, 'en enter_code')
    const rules = found.map(f => /^en enter_code \[(\w+)\] ([\w-]+) \((\w+)\) at (\S+):/.exec(f)?.slice(1).join(' ') ?? f)
    t.strictSame(rules, ['light image-alt critical ["#bare"]', 'light placeholder-contrast serious ["#pale"]', 'dark color-contrast serious ["#dim"]', 'dark image-alt critical ["#bare"]'], found.join('\n'))
  })

  t.test('a button\'s label is in the page\'s font and size, not the browser\'s 13.33px control font', async t => {
    const sc = await startSidecar()
    t.teardown(sc.close)
    const context = await axeContext(browser)
    t.teardown(() => context.close())
    const page = await context.newPage()
    await page.goto(`${sc.url}/device?ui_locales=ar`)
    const font = await page.evaluate(`(() => { const b = getComputedStyle(document.querySelector('button')), body = getComputedStyle(document.body); return [b.fontSize, b.fontWeight, b.fontFamily === body.fontFamily] })()`)
    t.strictSame(font, ['16px', '600', true])
  })

  t.test(`the built-in pages in ${LOCALES.length} locales`, async t => {
    const sc = await startSidecar({ config: ATTEMPTS })
    t.teardown(sc.close)
    const offered = [...(await get(`${sc.url}/device`)).text.matchAll(/hreflang="([^"]+)"/g)].map(m => m[1]).sort()
    t.strictSame(offered, LOCALES, 'the locales checked are the ones the sidecar offers')
    const { pages, found } = await auditSidecar(browser, sc, LOCALES)
    t.equal(pages, LOCALES.length * 8, 'eight pages per locale were checked')
    t.strictSame(found, [], found.length === 0 ? 'no violations' : found.join('\n'))
  })

  t.test('a branded sidecar (service name, logo, links, accent colour, the client\'s logo and links) in en and ar', async t => {
    const sc = await startSidecar({
      config: {
        ...ATTEMPTS,
        ui: { service_name: 'Example TV+', logo_file: fixture('logo.png'), accent_color: '#7a1fa2', links: { privacy: 'https://example.com/privacy', terms: 'https://example.com/terms', support: 'https://example.com/help' } },
        clients: [{ ...CLIENTS[0], logo_uri: fixture('client.svg'), client_uri: 'https://tv.example.com/', policy_uri: 'https://tv.example.com/privacy', tos_uri: 'https://tv.example.com/terms' }]
      }
    })
    t.teardown(sc.close)
    const { pages, found } = await auditSidecar(browser, sc, ['en', 'ar'])
    t.equal(pages, 2 * 8, 'eight pages per locale were checked')
    t.strictSame(found, [], found.length === 0 ? 'no violations' : found.join('\n'))
  })

  t.test('operator accent colours, light to dark, keep buttons and links readable in both schemes', async t => {
    const found: string[] = []
    for (const accent of ['#ffcc00', '#e67e22', '#000080']) {
      const sc = await startSidecar({ config: { ui: { accent_color: accent, links: { support: 'https://example.com/help' } } } })
      t.teardown(sc.close)
      const context = await axeContext(browser)
      t.teardown(() => context.close())
      const page = await context.newPage()
      await page.goto(`${sc.url}/device?ui_locales=en`)
      found.push(...await audit(page, `${accent} enter_code`))
      await page.goto(`${sc.url}/device/callback?state=x`)
      found.push(...await audit(page, `${accent} error`))
    }
    t.strictSame(found, [], found.length === 0 ? 'no violations' : found.join('\n'))
  })
})
