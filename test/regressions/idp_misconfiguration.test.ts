/**
 * Issue 14, item 4: an IdP misconfiguration looked like a person saying no. With PKCE off at the
 * IdP (glewlwyd's default: it answers `error=invalid_request` to any code_challenge) every
 * approval ended on "Request denied", the device got access_denied "the identity provider refused
 * the sign-in", and the only trace was an info line; a code exchange the IdP refused
 * (invalid_client) was a 502 "unavailable" page that left the device waiting for nothing.
 * Now the IdP answers that mean misconfiguration are logged at error with the IdP's own error and
 * description, counted as dfs_verifications_total{outcome=idp_misconfigured}, shown to the person
 * as "the sign-in service could not handle this request" with a reference, and the device gets
 * access_denied saying so. A person's or session's answer stays a denial; an IdP that is briefly
 * down (server_error, temporarily_unavailable) leaves the device waiting.
 */
import { mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type Provider from 'oidc-provider'
import { launchChromium } from '../helpers/chromium.js'
import { Browser } from '../helpers/browser.js'
import { authorize, poll } from '../helpers/http.js'
import { scrape, sample } from '../helpers/metrics.js'
import { CLIENTS, startSidecar, type TestSidecar } from '../helpers/sidecar.js'
import { idpAnswerKind, idpErrorCode, idpErrorDescription } from '../../src/upstream/idp_answers.js'

const shots = process.env.SCREENSHOT_DIR ?? join(tmpdir(), 'dfs-screenshots')
mkdirSync(shots, { recursive: true })

const TITLE = 'The sign-in service could not handle this request'
const MISCONFIGURED = (code: string): Record<string, string> => ({ error: 'access_denied', error_description: `the identity provider could not handle the sign-in request (${code}); its set-up for this service needs fixing` })
const METRIC = (outcome: string) => `dfs_verifications_total{outcome=${outcome}}`

/** An IdP with PKCE off, as glewlwyd ships: any code_challenge is answered error=invalid_request (no description), with state and iss. */
function pkceOff (provider: Provider): void {
  provider.use(async (ctx, next) => {
    if (ctx.path !== '/auth' || ctx.query.code_challenge === undefined) return next()
    const back = new URL(String(ctx.query.redirect_uri))
    back.search = new URLSearchParams({ error: 'invalid_request', state: String(ctx.query.state), iss: provider.issuer }).toString()
    ctx.status = 302
    ctx.set('location', back.toString())
  })
}

/** A person who pressed Approve, stopped before the IdP: the login's state, and their browser. */
async function approved (sc: TestSidecar, form: Record<string, string> = { client_id: 'tv-app', scope: 'openid' }) {
  const da = await authorize(sc, form)
  const phone = new Browser()
  phone.stopBefore = url => new URL(url).pathname === '/auth'
  const confirm = await phone.submit(await phone.get(da.json.verification_uri_complete))
  const auth = new URL((await phone.submit(confirm, {}, { name: 'action', value: 'approve' })).url)
  return { deviceCode: da.json.device_code as string, phone, state: auth.searchParams.get('state')!, auth }
}

function logLines (sc: TestSidecar): Array<Record<string, unknown>> {
  return sc.logs.map(l => JSON.parse(l) as Record<string, unknown>)
}

function reference (html: string): string | undefined {
  return /Reference: ([^<\s]+)/.exec(html)?.[1]
}

t.test('an IdP with PKCE off: the person is told the service could not handle it, the operator sees why, the device hears so', async t => {
  const sc = await startSidecar({ configure: pkceOff })
  t.teardown(sc.close)
  const before = await scrape(sc.adminUrl!)
  const { deviceCode, phone, auth } = await approved(sc)
  const page = await phone.get(auth.toString())
  t.equal(new URL(page.url).pathname, '/device/callback')
  t.equal(page.status, 502)
  t.match(page.html, `<h1>${TITLE}</h1>`)
  t.notMatch(page.html, 'Request denied')
  const ref = reference(page.html)
  t.ok(ref !== undefined, 'the page quotes a reference')
  const line = logLines(sc).find(l => l.reqId === ref && l.level === 50)
  t.match(line, { level: 50, idp_error: 'invalid_request', step: 'authorization', client_id: 'tv-app', msg: 'the identity provider could not handle the sign-in request: check its set-up for this client (PKCE S256, redirect URI, grant and response types, scopes)' }, 'logged at error, with the IdP\'s own error')
  t.equal(line?.idp_error_description, undefined, 'glewlwyd gives no description, and none is made up')
  const after = await scrape(sc.adminUrl!)
  t.equal(sample(after, METRIC('idp_misconfigured')) - sample(before, METRIC('idp_misconfigured')), 1, 'counted as a misconfiguration')
  t.equal(sample(after, METRIC('idp_error')) - sample(before, METRIC('idp_error')), 0, 'not as a refusal')
  sc.clock.advance(5_000)
  const res = await poll(sc, deviceCode)
  t.equal(res.status, 400)
  t.strictSame(res.json, MISCONFIGURED('invalid_request'))
})

t.test('which IdP answers are a misconfiguration, a person\'s answer, or an IdP briefly down', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  const cases: Array<{ error: string; description?: string; kind: 'misconfigured' | 'refused' | 'unavailable' }> = [
    { error: 'invalid_request', description: 'redirect_uri did not match any of the client\'s registered redirect_uris', kind: 'misconfigured' },
    { error: 'unauthorized_client', kind: 'misconfigured' },
    { error: 'invalid_client', kind: 'misconfigured' },
    { error: 'unsupported_response_type', kind: 'misconfigured' },
    { error: 'invalid_scope', kind: 'misconfigured' },
    { error: 'access_denied', description: 'PKCE code_challenge required for this client', kind: 'misconfigured' },
    { error: 'access_denied', kind: 'refused' },
    { error: 'login_required', kind: 'refused' },
    { error: 'consent_required', kind: 'refused' },
    { error: 'interaction_required', kind: 'refused' },
    { error: 'account_selection_required', kind: 'refused' },
    { error: 'server_error', kind: 'unavailable' },
    { error: 'temporarily_unavailable', kind: 'unavailable' }
  ]
  for (const c of cases) {
    const before = await scrape(sc.adminUrl!)
    const { deviceCode, phone, state } = await approved(sc)
    const query = new URLSearchParams({ state, error: c.error, ...(c.description === undefined ? {} : { error_description: c.description }), iss: sc.url })
    const page = await phone.get(`${sc.url}/device/callback?${query.toString()}`)
    const after = await scrape(sc.adminUrl!)
    sc.clock.advance(5_000)
    const res = await poll(sc, deviceCode)
    const name = `${c.error}${c.description === undefined ? '' : ` (${c.description})`}`
    const moved = (outcome: string): number => sample(after, METRIC(outcome)) - sample(before, METRIC(outcome))
    if (c.kind === 'misconfigured') {
      t.equal(page.status, 502, `${name}: 502 page`)
      t.match(page.html, TITLE)
      const line = logLines(sc).find(l => l.reqId === reference(page.html) && l.level === 50)
      t.match(line, { idp_error: c.error, ...(c.description === undefined ? {} : { idp_error_description: c.description }) }, `${name}: logged at error`)
      t.equal(moved('idp_misconfigured'), 1)
      t.strictSame(res.json, MISCONFIGURED(c.error), `${name}: the device hears it`)
    } else if (c.kind === 'refused') {
      t.equal(page.status, 200, `${name}: a denial`)
      t.match(page.html, 'Request denied')
      t.equal(moved('idp_error'), 1)
      t.equal(moved('idp_misconfigured'), 0)
      t.strictSame(res.json, { error: 'access_denied', error_description: `the identity provider refused the sign-in: ${c.error}` })
    } else {
      t.equal(page.status, 503, `${name}: unavailable, try again`)
      t.match(page.html, 'Your device is still waiting')
      t.equal(moved('idp_error'), 1)
      t.equal(res.json.error, 'authorization_pending', `${name}: the device keeps waiting`)
    }
  }
})

t.test('a code exchange the IdP refuses (invalid_client: the registration\'s secret is wrong) is a misconfiguration', async t => {
  const clients = CLIENTS.map(c => c.client_id === 'tv-app' ? { ...c, upstream: { client_id: 'tv-app', client_secret: 'not-the-secret-the-idp-has' } } : c)
  const sc = await startSidecar({ config: { clients } })
  t.teardown(sc.close)
  const before = await scrape(sc.adminUrl!)
  const { deviceCode, phone, auth } = await approved(sc)
  phone.stopBefore = undefined
  let page = await phone.get(auth.toString())
  for (let steps = 0; steps < 5 && page.url.includes('/interaction/'); steps++) {
    page = await phone.submit(page, Browser.field(page, 'prompt') === 'login' ? { login: 'alice', password: 'any' } : {})
  }
  t.equal(new URL(page.url).pathname, '/device/callback')
  t.equal(page.status, 502)
  t.match(page.html, TITLE)
  const line = logLines(sc).find(l => l.reqId === reference(page.html) && l.level === 50)
  t.match(line, { idp_error: 'invalid_client', idp_error_description: 'client authentication failed', step: 'code_exchange', client_id: 'tv-app' })
  t.notMatch(JSON.stringify(line), /code=|"code"/, 'no authorization code in the line')
  const after = await scrape(sc.adminUrl!)
  t.equal(sample(after, METRIC('idp_misconfigured')) - sample(before, METRIC('idp_misconfigured')), 1)
  sc.clock.advance(5_000)
  t.strictSame((await poll(sc, deviceCode)).json, MISCONFIGURED('invalid_client'))
})

t.test('the classification table (src/upstream/idp_answers.ts)', async t => {
  t.equal(idpAnswerKind('invalid_grant', 'grant request is invalid'), 'refused', 'an expired or used code is the IdP\'s own no, not a set-up problem')
  t.equal(idpAnswerKind('invalid_grant', 'PKCE verification failed'), 'misconfigured')
  t.equal(idpAnswerKind('invalid_grant', 'redirect_uri mismatch'), 'misconfigured')
  t.equal(idpAnswerKind('unsupported_grant_type', undefined), 'misconfigured')
  t.equal(idpAnswerKind('something_new', undefined), 'misconfigured', 'an answer the sidecar does not know is the operator\'s to see')
  t.equal(idpAnswerKind('access_denied', 'The user said no'), 'refused')
  t.equal(idpErrorCode('invalid_request"\\\n\u00e9'), 'invalid_request', 'only RFC 6749 error characters')
  t.equal(idpErrorCode('x'.repeat(100)).length, 64)
  t.equal(idpErrorDescription('code SplxlOBeZQQYbYS6WxSbIA_0123456789 was "already" used\r\n'), 'code [redacted] was already used', 'a run that could be a code or token is never written out')
  t.equal(idpErrorDescription('y '.repeat(300))!.length, 199, 'bounded')
  t.equal(idpErrorDescription('\u0000\u0001'), undefined)
})

const { browser, skip } = await launchChromium()

t.test('the page in Chromium, on a phone and a desktop', { skip: skip ?? false }, async t => {
  if (browser === undefined) throw new Error('unreachable: skipped without a browser')
  t.teardown(() => browser.close())
  const sc = await startSidecar({ configure: pkceOff })
  t.teardown(sc.close)
  for (const [name, options] of [
    ['phone', { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }],
    ['desktop', { viewport: { width: 1280, height: 800 } }]
  ] as const) {
    const da = await authorize(sc, { client_id: 'tv-app', scope: 'openid' })
    const context = await browser.newContext(options)
    t.teardown(() => context.close())
    await context.route(url => !url.toString().startsWith(sc.url), route => route.abort())
    const page = await context.newPage()
    await page.goto(da.json.verification_uri_complete)
    await page.click('button[value=lookup]')
    await page.click('button[value=approve]')
    await page.waitForURL(url => url.pathname === '/device/callback')
    t.equal(await page.textContent('h1'), TITLE, name)
    t.match(await page.textContent('main'), /Reference: \S+/)
    await page.screenshot({ path: join(shots, `idp-misconfigured-${name}.png`), fullPage: true })
  }
})
