/**
 * Issue 13, finding 12: a person already signed in at the IdP approved an attacker's user code in
 * two clicks (Continue, Approve): the IdP's session answered the authorization request silently,
 * while the confirm page promised a sign-in. Pins that, by default, Approve leads to a fresh
 * sign-in before the device is connected, that the page says what really follows, and that with
 * max_age_seconds a sign-in older than allowed approves nothing (auth_time in the ID token).
 */
import t from 'tap'
import type { Page } from 'playwright-core'
import { Browser } from '../helpers/browser.js'
import { launchChromium } from '../helpers/chromium.js'
import { authorize, basic, poll } from '../helpers/http.js'
import { CLIENTS, startSidecar } from '../helpers/sidecar.js'

const { browser, skip } = await launchChromium()

/** The demo IdP's development pages: a login form, then (for a new grant) a consent form. */
async function signInAtIdp (page: Page, login: string): Promise<void> {
  await page.fill('input[name=login]', login)
  await page.fill('input[name=password]', 'any')
  await submitAndLeave(page)
  if (page.url().includes('/interaction/')) await submitAndLeave(page)
  await page.waitForSelector('h1.ok')
}

async function submitAndLeave (page: Page): Promise<void> {
  const from = page.url()
  await Promise.all([page.waitForURL(url => url.toString() !== from), page.click('button[type=submit]')])
}

t.test('a signed-in person, in real Chromium, must sign in again before an attacker\'s code is approved', { skip: skip ?? false }, async t => {
  if (browser === undefined) throw new Error('unreachable: skipped without a browser')
  t.teardown(() => browser.close())
  const sc = await startSidecar()
  t.teardown(sc.close)
  const context = await browser.newContext()
  t.teardown(() => context.close())
  await context.route(url => !url.toString().startsWith(sc.url), route => route.abort())
  const page = await context.newPage()
  page.setDefaultTimeout(10_000)

  // 1. the person connects their own TV: an IdP session (and a grant for tv-app) now exists
  const own = await authorize(sc, { client_id: 'tv-app', scope: 'openid profile' })
  t.equal(own.status, 200)
  await page.goto(own.json.verification_uri_complete)
  await page.click('button[value=lookup]')
  await page.click('button[value=approve]')
  await page.waitForSelector('input[name=login]')
  await signInAtIdp(page, 'alice')
  t.equal(new URL(page.url()).pathname, '/device/done')
  sc.clock.advance(5_000)
  const ownTokens = await poll(sc, own.json.device_code)
  t.equal(ownTokens.status, 200)

  // 2. the attacker's code, sent to the person: Continue, Approve
  const attacker = await authorize(sc, { client_id: 'tv-app', scope: 'openid profile' })
  t.equal(attacker.status, 200)
  await page.goto(attacker.json.verification_uri_complete)
  await page.click('button[value=lookup]')
  await page.waitForSelector('button[value=approve]')
  t.equal(await page.evaluate('document.querySelector(".next")?.textContent ?? null'), `Approve takes you to ${new URL(sc.url).host} to sign in again before Living Room TV is connected.`,
    'the page says a sign-in follows, and one does')
  await page.click('button[value=approve]')
  await page.waitForSelector('input[name=login], h1.ok')

  // 3. the IdP's session does not settle it: the sign-in form is shown and the device still waits
  t.equal(await page.locator('h1.ok').count(), 0, 'Approve did not connect the device on the IdP session alone')
  t.equal(await page.locator('input[name=login]').count(), 1, 'Approve leads to the IdP\'s sign-in form')
  sc.clock.advance(5_000)
  const before = await poll(sc, attacker.json.device_code)
  t.equal(before.status, 400)
  t.equal(before.json.error, 'authorization_pending')
  if (before.status !== 400) return // the attacker holds tokens already: nothing more to show

  // a person who does sign in again connects the device, as before
  await signInAtIdp(page, 'alice')
  t.equal(new URL(page.url()).pathname, '/device/done')
  sc.clock.advance(5_000)
  const after = await poll(sc, attacker.json.device_code)
  t.equal(after.status, 200)
  t.equal(typeof after.json.access_token, 'string')
})

t.test('with max_age_seconds, a sign-in older than allowed approves nothing, and the device still waits', async t => {
  // prompt: false forces nothing, so the IdP answers from its session; the sidecar's clock runs
  // ahead of the IdP's, so that session's auth_time is older than max_age when it comes back
  const sc = await startSidecar({ config: { device_flow_settings: { prompt: false, max_age_seconds: 60 } } })
  t.teardown(sc.close)
  const phone = new Browser()

  const own = await authorize(sc, { client_id: 'tv-app', scope: 'openid' })
  const first = await phone.submit(await phone.get(own.json.verification_uri_complete))
  let page = await phone.submit(first, {}, { name: 'action', value: 'approve' })
  for (let steps = 0; steps < 5 && page.url.includes('/interaction/'); steps++) {
    page = await phone.submit(page, Browser.field(page, 'prompt') === 'login' ? { login: 'alice', password: 'any' } : {})
  }
  t.match(page.html, 'Device connected', 'a fresh sign-in is within max_age')

  sc.clock.advance(120_000)
  const attacker = await authorize(sc, { client_id: 'tv-app', scope: 'openid' })
  const confirm = await phone.submit(await phone.get(attacker.json.verification_uri_complete))
  const approve = await phone.submit(confirm, {}, { name: 'action', value: 'approve' })
  t.notOk(phone.visited.slice(-3).some(u => u.includes('/interaction/')), 'the IdP answered from its session')
  t.equal(approve.status, 403)
  t.match(approve.html, 'Sign in again')
  t.match(approve.html, 'Your device is still waiting')
  t.notMatch(approve.html, 'Device connected')
  sc.clock.advance(5_000)
  t.equal((await poll(sc, attacker.json.device_code)).json.error, 'authorization_pending', 'not approved, not denied: the person may retry')
  const line = sc.logs.map(l => JSON.parse(l) as Record<string, unknown>).find(l => l.event === 'verification.sign_in_too_old')
  t.match(line, { client_id: 'tv-app', max_age: 60, auth_age: Number })
})

t.test('prompt and max_age_seconds per client over device_flow_settings: what is sent, and what the page says', async t => {
  const sc = await startSidecar({
    config: {
      device_flow_settings: { prompt: 'select_account', max_age_seconds: 600 },
      clients: CLIENTS.map(c => c.client_id === 'tv-app' ? { ...c, prompt: false, max_age_seconds: 0 } : c.client_id === 'cli' ? { ...c, prompt: 'consent' } : c)
    }
  })
  t.teardown(sc.close)
  const host = new URL(sc.url).host

  /** Continue, then Approve: the confirm page's promise and the authorization request it leads to. */
  async function approve (form: Record<string, string>, headers: Record<string, string> = {}) {
    const da = await authorize(sc, form, headers)
    const phone = new Browser()
    phone.stopBefore = url => new URL(url).pathname === '/auth'
    const confirm = await phone.submit(await phone.get(da.json.verification_uri_complete))
    const next = /<p class="muted next">([^<]*)<\/p>/.exec(confirm.html)?.[1]
    const sent = new URL((await phone.submit(confirm, {}, { name: 'action', value: 'approve' })).url).searchParams
    return { next, prompt: sent.get('prompt'), max_age: sent.get('max_age') }
  }

  t.strictSame(await approve({ client_id: 'tv-app', scope: 'openid offline_access' }), {
    next: `Approve takes you to ${host} to sign in again before Living Room TV is connected.`,
    prompt: 'consent',
    max_age: '0'
  }, 'tv-app: nothing forced but offline_access\'s consent, and max_age 0 (a sign-in after Approve, checked)')
  t.strictSame(await approve({ client_id: 'console', scope: 'openid' }, { authorization: basic('console', 'console-secret-1') }), {
    next: `Approve takes you to ${host} to choose the account Game &lt;Console&gt; &amp; &#34;Co&#34; is connected to.`,
    prompt: 'select_account',
    max_age: '600'
  }, 'console: the defaults of device_flow_settings')
  t.strictSame(await approve({ client_id: 'cli', client_secret: 'cli-secret-2', scope: 'openid offline_access' }), {
    next: `Approve takes you to ${host}, which asks you to sign in again unless you did in the last 10 minutes.`,
    prompt: 'consent',
    max_age: '600'
  }, 'cli: consent once, even with offline_access')
})
