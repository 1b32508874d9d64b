import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { IntlMessageFormat } from 'intl-messageformat'
import type { BrowserContextOptions, Page } from 'playwright-core'
import { launchChromium, signInAtIdp } from './helpers/chromium.js'
import { approveOnPhone, Browser } from './helpers/browser.js'
import { authorize, get, poll } from './helpers/http.js'
import { startSidecar } from './helpers/sidecar.js'

// The verification pages as a person meets them (issue 16): their language, the operator's brand
// and templates, whose account, the network, and the ordinary moments (an expiry at the IdP,
// Back after Deny, a code already used) — in real Chromium where a browser's behaviour is the
// point, with the cookie-jar walker elsewhere.

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }
const catalogue = (tag: string): Record<string, string> => JSON.parse(readFileSync(new URL(`../src/ui/messages/${tag}.json`, import.meta.url), 'utf8')) as Record<string, string>
/** A message as the pages show it (in a right-to-left locale, string values are bidi-isolated). */
const words = (tag: string, key: string, values?: Record<string, string | number>): string => {
  const rtl = tag === 'ar'
  const shown = values === undefined || !rtl ? values : Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof v === 'string' ? `\u2068${v}\u2069` : v]))
  return String(new IntlMessageFormat(catalogue(tag)[key]!, tag, undefined, { ignoreTag: true }).format(shown))
}
const fixture = (name: string): string => new URL(`./fixtures/brand/${name}`, import.meta.url).pathname

const { browser, skip } = await launchChromium()

t.test('in Chromium', { skip: skip ?? false }, async t => {
  if (browser === undefined) throw new Error('unreachable: skipped without a browser')
  t.teardown(() => browser.close())
  const asked: Array<string | undefined> = []
  const sc = await startSidecar({
    configure: provider => {
      provider.use(async (ctx, next) => {
        if (ctx.path === '/auth') asked.push(ctx.query.ui_locales as string | undefined)
        await next()
      })
    }
  })
  t.teardown(sc.close)
  /** A page on a phone (with `options`) that loads nothing from outside the sidecar, closed with the test. */
  const phonePage = async (t: Test, options: BrowserContextOptions = {}): Promise<Page> => {
    const context = await browser.newContext({ ...PHONE, ...options })
    t.teardown(() => context.close())
    await context.route(url => !url.toString().startsWith(sc.url), route => route.abort())
    return context.newPage()
  }

  t.test('a German browser gets German pages, the IdP is asked for ui_locales=de, and the done page names the account', async t => {
    const { json: da } = await authorize(sc, { client_id: 'tv-app', scope: 'openid profile email' })
    const page = await phonePage(t, { locale: 'de-DE' })
    await page.goto(da.verification_uri_complete)
    t.equal(await page.getAttribute('html', 'lang'), 'de')
    t.equal(await page.getAttribute('html', 'dir'), 'ltr')
    t.equal(await page.textContent('h1'), words('de', 'enter.title'))
    t.equal(await page.textContent('button[value=lookup]'), words('de', 'enter.submit'))
    await page.click('button[value=lookup]')
    await page.waitForSelector('button[value=approve]')
    t.equal(await page.textContent('h1'), words('de', 'confirm.heading', { client: 'Living Room TV' }))
    t.equal(await page.textContent('button[value=deny]'), words('de', 'confirm.deny'))
    t.match(await page.textContent('time'), /^vor \d+ Sekunden?$|^jetzt$/, 'the time is relative, in German')
    await page.click('button[value=approve]')
    await page.waitForSelector('input[name=login]')
    t.equal(asked.at(-1), 'de', 'the IdP was asked to speak German')
    await signInAtIdp(page, 'dora')
    t.equal(new URL(page.url()).pathname, '/device/done')
    t.equal(await page.textContent('h1'), words('de', 'approved.title'))
    t.equal(await page.textContent('main p'), words('de', 'approved.body_account', { client: 'Living Room TV', account: 'dora@example.com' }), 'the ID token\'s email')
    sc.clock.advance(5_000)
    t.equal((await poll(sc, da.device_code)).status, 200)
  })

  t.test('?ui_locales=ar gives a right-to-left page; the language links switch without script and the choice holds across the form', async t => {
    const { json: da } = await authorize(sc)
    const page = await phonePage(t, { javaScriptEnabled: false })
    await page.goto(`${sc.url}/device?ui_locales=ar`)
    t.equal(await page.getAttribute('html', 'lang'), 'ar')
    t.equal(await page.getAttribute('html', 'dir'), 'rtl')
    t.equal(await page.textContent('h1'), words('ar', 'enter.title'))
    t.equal(await page.getAttribute('input[name=user_code]', 'dir'), 'ltr', 'the code itself stays left to right')
    const links = await page.$$eval('footer nav a', as => as.map(a => ({ lang: a.getAttribute('hreflang'), text: a.textContent })))
    t.ok(links.length >= 12, `${links.length} languages offered`)
    t.ok(links.some(l => l.lang === 'ja' && l.text === '日本語'), 'each language by its own name')
    await page.click('footer summary')
    await page.click('footer a[hreflang=ja]')
    t.equal(await page.getAttribute('html', 'lang'), 'ja')
    t.equal(await page.getAttribute('html', 'dir'), 'ltr')
    await page.fill('input[name=user_code]', da.user_code)
    await page.click('button[value=lookup]')
    await page.waitForSelector('button[value=approve]')
    t.equal(await page.getAttribute('html', 'lang'), 'ja', 'the choice is kept by the page cookie')
    t.equal(await page.textContent('button[value=approve]'), words('ja', 'confirm.approve'))
  })

  t.test('Back and reload after Deny show the result again and send nothing', async t => {
    const { json: da } = await authorize(sc)
    const page = await phonePage(t)
    const posts: string[] = []
    page.on('request', req => { if (req.method() === 'POST') posts.push(req.url()) })
    await page.goto(da.verification_uri_complete)
    await page.click('button[value=lookup]')
    await page.waitForSelector('button[value=deny]')
    await page.click('button[value=deny]')
    await page.waitForSelector('h1')
    t.equal(await page.textContent('h1'), 'Request denied')
    t.equal(new URL(page.url()).pathname, '/device/done')
    t.equal(posts.length, 2, 'the lookup and the deny')
    await page.reload()
    t.equal(await page.textContent('h1'), 'Request denied', 'reload shows the result')
    await page.goBack()
    t.equal(await page.textContent('h1'), 'Request denied', 'Back to the confirm page of a settled request shows its result')
    t.equal(posts.length, 2, 'nothing was sent again')
    t.equal((await poll(sc, da.device_code)).json.error, 'access_denied')
  })

  t.test('a code that expires while the person is at the IdP comes back as expired, not as another browser\'s sign-in', async t => {
    const { json: da } = await authorize(sc)
    const page = await phonePage(t)
    await page.goto(da.verification_uri_complete)
    await page.click('button[value=lookup]')
    await page.waitForSelector('button[value=approve]')
    await page.click('button[value=approve]')
    await page.waitForSelector('input[name=login]')
    sc.clock.advance(601_000) // past the code's 600 s
    await signInAtIdp(page, 'erin')
    t.equal(await page.textContent('h1'), 'This request expired')
    t.equal(await page.textContent('main p'), words('en', 'expired.body'))
  })
})

t.test('a branded sidecar: service name, logo, favicon and links, the client\'s own links and logo', async t => {
  const sc = await startSidecar({
    config: {
      ui: { service_name: 'Example TV+', logo_file: fixture('logo.png'), accent_color: '#7a1fa2', links: { privacy: 'https://example.com/privacy', terms: 'https://example.com/terms', support: 'https://example.com/help' } },
      clients: [{ client_id: 'tv-app', client_name: 'Living Room TV', token_endpoint_auth_method: 'none', scopes: ['openid', 'profile', 'email', 'offline_access'], upstream: { client_id: 'tv-app', client_secret: 'tv-upstream-secret-3' }, logo_uri: fixture('client.svg'), client_uri: 'https://tv.example.com/', policy_uri: 'https://tv.example.com/privacy', tos_uri: 'https://tv.example.com/terms' }]
    }
  })
  t.teardown(sc.close)
  const { json: da } = await authorize(sc)
  const walker = new Browser()
  const enter = await walker.get(da.verification_uri_complete)
  t.match(enter.html, '<title>Connect a device · Example TV+</title>')
  t.match(enter.html, '<h1>Sign in to Example TV+</h1>')
  for (const [href, label] of [['https://example.com/privacy', 'Privacy'], ['https://example.com/terms', 'Terms'], ['https://example.com/help', 'Help']]) {
    t.match(enter.html, `<a href="${href}">${label}</a>`)
  }
  const logo = /<div class="brand"><img src="([^"]+)" alt=""><span>Example TV\+<\/span><\/div>/.exec(enter.html)
  t.ok(logo, 'the logo beside the service name')
  const png = await fetch(`${sc.url}${logo![1]!}`)
  t.equal(png.status, 200)
  t.equal(png.headers.get('content-type'), 'image/png')
  t.same(Buffer.from(await png.arrayBuffer()), readFileSync(fixture('logo.png')), 'the operator\'s file, byte for byte')
  const favicon = /<link rel="icon" href="([^"]+)"/.exec(enter.html)![1]!
  t.equal((await get(`${sc.url}${favicon}`)).headers['content-type'], 'image/svg+xml')
  const css = /<link rel="stylesheet" href="([^"]+)"/.exec(enter.html)![1]!
  const sheet = await get(`${sc.url}${css}`)
  t.equal(sheet.headers['content-type'], 'text/css; charset=utf-8')
  t.match(sheet.text, '--accent:#7a1fa2', 'the accent colour')
  t.match(enter.headers['content-security-policy'], "style-src 'self'; img-src 'self'")

  const confirm = await walker.submit(enter)
  t.match(confirm.html, '<h1>Allow Living Room TV to sign in to Example TV+ as you?</h1>')
  t.match(confirm.html, '<a href="https://tv.example.com/" rel="noopener noreferrer">Home page</a>')
  t.match(confirm.html, '<a href="https://tv.example.com/privacy" rel="noopener noreferrer">Privacy policy</a>')
  t.match(confirm.html, '<a href="https://tv.example.com/terms" rel="noopener noreferrer">Terms of service</a>')
  const clientLogo = /<img class="client-logo" src="([^"]+)"/.exec(confirm.html)![1]!
  t.equal((await get(`${sc.url}${clientLogo}`)).headers['content-type'], 'image/svg+xml')
})

t.test('an operator template replaces the confirm page; a value it prints is still escaped', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-templates-'))
  writeFileSync(join(dir, 'confirm.liquid'), `{% layout 'layout' %}{% block content %}<h1 id="own">{{ client.name }} · {{ 'confirm.approve' | t }}</h1>
<form method="post" action="{{ form.action }}"><input type="hidden" name="csrf" value="{{ form.csrf }}"><input type="hidden" name="user_code" value="{{ user_code }}">
<button name="action" value="approve">{{ 'confirm.approve' | t }}</button></form>{% endblock %}`)
  const sc = await startSidecar({ config: { ui: { templates_dir: dir } } })
  t.teardown(sc.close)
  const { json: da } = await authorize(sc, { client_id: 'console', scope: 'openid' }, { authorization: `Basic ${Buffer.from('console:console-secret-1').toString('base64')}` })
  const walker = new Browser()
  const confirm = await walker.submit(await walker.get(da.verification_uri_complete))
  t.match(confirm.html, '<h1 id="own">Game &lt;Console&gt; &amp; &#34;Co&#34; · Approve</h1>', 'the client name <Console> & "Co" is escaped by the engine')
  t.notMatch(confirm.html, '<Console>')
  t.match(confirm.html, '<html lang="en" dir="ltr">', 'the built-in layout still wraps it')
})

t.test('a code already used: the browser that approved it is told so; any other browser gets the one answer for wrong codes', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  const { json: da } = await authorize(sc)
  const phone = new Browser()
  const { final } = await approveOnPhone(phone, da.verification_uri_complete, { login: 'alice' })
  t.match(final.html, 'Living Room TV is now signed in as alice.')
  const again = await phone.submit(await phone.get(`${sc.url}/device`), { user_code: da.user_code })
  t.equal(again.status, 200)
  t.match(again.html, '<h1 class="ok">This device is already connected</h1>')
  const stranger = new Browser()
  const wrong = await stranger.submit(await stranger.get(`${sc.url}/device`), { user_code: da.user_code })
  t.match(wrong.html, words('en', 'enter.wrong_code'))
  t.notMatch(wrong.html, 'already')
})

t.test('the confirm page says whether the device asked from the browser\'s network (IPv4 /24, IPv6 /64)', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  for (const [device, person, same] of [
    ['198.51.100.7', '198.51.100.200', true],
    ['198.51.100.7', '203.0.113.5', false],
    ['2001:db8:1:2::7', '2001:db8:1:2:aaaa::1', true],
    ['2001:db8:1:2::7', '2001:db8:1:3::1', false]
  ] as const) {
    const { json: da } = await authorize(sc, undefined, { 'x-forwarded-for': device })
    const walker = new Browser(person)
    const confirm = await walker.submit(await walker.get(da.verification_uri_complete))
    t.match(confirm.html, `<span dir="ltr">${device}</span>`)
    t.match(confirm.html, same ? words('en', 'confirm.network_same') : words('en', 'confirm.network_other'), `${device} and ${person}`)
    t.match(confirm.html, same ? '<span class="ok">' : '<span class="bad">')
  }
})

t.test('scopes in words per locale: configured words, the built-in OpenID ones, and a clear line for the rest', async t => {
  const sc = await startSidecar({ config: { ui: { scope_descriptions: { tv: { en: 'Watch your TV channels', de: 'Ihre Fernsehsender ansehen' } } } } })
  t.teardown(sc.close)
  const cli = { authorization: `Basic ${Buffer.from('cli:cli-secret-2').toString('base64')}` }
  const { json: da } = await post(sc, { client_id: 'cli', client_secret: 'cli-secret-2', scope: 'openid tv offline_access' })
  void cli
  for (const [tag, tv, openid] of [['en', 'Watch your TV channels', words('en', 'scope.openid')], ['de', 'Ihre Fernsehsender ansehen', words('de', 'scope.openid')], ['fr', 'Watch your TV channels', words('fr', 'scope.openid')]] as const) {
    const walker = new Browser()
    const confirm = await walker.submit(await walker.get(`${da.verification_uri_complete}&ui_locales=${tag}`))
    t.match(confirm.html, `<li>${tv}</li>`, `${tag}: configured words (else the default locale's)`)
    t.match(confirm.html, `<li>${openid}</li>`, `${tag}: the catalogue's OpenID words`)
  }
  const other = await startSidecar({ config: { clients: [{ client_id: 'cli', token_endpoint_auth_method: 'client_secret_post', client_secret: 'cli-secret-2', scopes: ['openid', 'tv'] }] } })
  t.teardown(other.close)
  const { json: db } = await post(other, { client_id: 'cli', client_secret: 'cli-secret-2', scope: 'openid tv' })
  const walker = new Browser()
  const confirm = await walker.submit(await walker.get(`${db.verification_uri_complete}&ui_locales=de`))
  t.match(confirm.html, `<li>${words('de', 'scope.unknown', { scope: 'tv' })}</li>`)

  async function post (s: typeof sc, form: Record<string, string>): Promise<{ json: { verification_uri_complete: string } }> {
    const r = await authorize(s, form)
    return r as unknown as { json: { verification_uri_complete: string } }
  }
})

t.test('the code field follows the configured format: digits get a numeric keyboard and a digit placeholder', async t => {
  const sc = await startSidecar({ config: { device_flow_settings: { device_flow_usercode_charset: 'NUMERIC', device_flow_usercode_length: 9 } } })
  t.teardown(sc.close)
  const page = await get(`${sc.url}/device`)
  t.match(page.text, 'placeholder="000-000-000" inputmode="numeric"')
  t.match(page.text, 'The code is 9 digits long.')
  const letters = await startSidecar()
  t.teardown(letters.close)
  const other = await get(`${letters.url}/device`)
  t.match(other.text, 'placeholder="XXXX-XXXX" inputmode="text"')
  t.match(other.text, 'The code is 8 characters long.')
})
