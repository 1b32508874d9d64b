import t from 'tap'
import { approveOnPhone, Browser } from './helpers/browser.js'
import { authorize, basic, get, poll, post } from './helpers/http.js'
import { startSidecar } from './helpers/sidecar.js'

const WRONG = 'That code isn’t valid. Check the code on your device and try again; codes expire after a few minutes.'

t.test('verification pages', async t => {
  const sc = await startSidecar({ config: { limits: { user_code_attempts: { max: 4, window_seconds: 3600 } } } })
  t.teardown(sc.close)

  t.test('pre-fills the code from verification_uri_complete and sets page security headers', async t => {
    const { json: da } = await authorize(sc)
    const page = await new Browser().get(da.verification_uri_complete)
    t.equal(page.status, 200)
    t.equal(Browser.field(page, 'user_code'), da.user_code)
    t.match(page.headers['content-security-policy'], /^default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'.*; frame-ancestors 'none'; base-uri 'none'$/)
    t.equal(page.headers['referrer-policy'], 'no-referrer')
    t.equal(page.headers['x-frame-options'], 'DENY')
    t.equal(page.headers['cache-control'], 'no-store')
    // the cookie outlives the code by an hour, so a code that expires during the IdP's login is still told apart
    t.match(page.headers['set-cookie'], /^dfs=[^;]+; Path=\/; Max-Age=4200; HttpOnly; SameSite=Lax$/)
    t.notMatch(page.html, /<script/)
    const loads = [...page.html.matchAll(/<(?:link|img)[^>]+(?:href|src)="([^"]+)"/g)].map(m => m[1]!)
    t.strictSame(loads.filter(u => !u.startsWith('/device/assets/')), [], 'the page loads only the sidecar\'s own assets')
    t.equal(loads.length, 2, 'the favicon and the stylesheet')
  })

  t.test('shows the sidecar\'s own confirm page with client, scopes in words, code, time and address, escaped', async t => {
    const { json: da } = await authorize(sc, { scope: 'openid offline_access' }, { authorization: basic('console', 'console-secret-1'), 'x-forwarded-for': '203.0.113.9' })
    const browser = new Browser()
    const enter = await browser.get(`${sc.url}/device`)
    const confirm = await browser.submit(enter, { user_code: ` ${da.user_code.toLowerCase().replace('-', ' - ')} ` })
    t.equal(confirm.status, 200)
    t.match(confirm.html, 'Game &lt;Console&gt; &amp; &#34;Co&#34;')
    t.notMatch(confirm.html, '<Console>')
    t.match(confirm.html, da.user_code)
    t.match(confirm.html, 'Know who you are')
    t.match(confirm.html, 'Stay signed in')
    t.match(confirm.html, '203.0.113.9')
    t.match(confirm.html, /<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z">(now|\d+ seconds? ago)<\/time>/)
    t.match(confirm.html, /<button type="submit" name="action" value="deny">Deny<\/button>\s*<button type="submit" name="action" value="approve">Approve<\/button>/)
  })

  t.test('sends Approve to the IdP with state, PKCE S256, nonce, and prompt=login (the default) with consent for offline_access', async t => {
    const { json: da } = await authorize(sc, { client_id: 'tv-app', scope: 'openid offline_access' })
    const browser = new Browser()
    const confirm = await browser.submit(await browser.get(da.verification_uri_complete))
    const csrf = Browser.field(confirm, 'csrf')!
    const res = await post(`${sc.url}/device`, { csrf, user_code: da.user_code, action: 'approve' }, { cookie: [...browser.cookies].map(([k, v]) => `${k}=${v}`).join('; ') })
    t.equal(res.status, 303)
    const location = new URL(res.headers.location as string)
    t.equal(`${location.origin}${location.pathname}`, `${sc.url}/auth`)
    t.equal(location.searchParams.get('client_id'), 'tv-app')
    t.equal(location.searchParams.get('redirect_uri'), `${sc.url}/device/callback`)
    t.equal(location.searchParams.get('code_challenge_method'), 'S256')
    t.match(location.searchParams.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/)
    t.match(location.searchParams.get('state'), /^[A-Za-z0-9_-]{43}$/)
    t.match(location.searchParams.get('nonce'), /^[A-Za-z0-9_-]{43}$/)
    t.equal(location.searchParams.get('prompt'), 'login consent')
    t.equal(location.searchParams.get('max_age'), null)
    t.equal(location.searchParams.get('scope'), 'openid offline_access')
    t.match(res.headers['set-cookie'], /HttpOnly; SameSite=Lax/)
  })

  t.test('a decision counts only for the request this browser was shown: Approve or Deny with another code shows its confirm page first (RFC 8628 §5.4)', async t => {
    const shown = await authorize(sc, { client_id: 'tv-app', scope: 'openid' })
    const other = await authorize(sc, { client_id: 'tv-app', scope: 'openid' })
    const browser = new Browser()
    const confirm = await browser.submit(await browser.get(shown.json.verification_uri_complete))
    const csrf = Browser.field(confirm, 'csrf')!
    const cookie = [...browser.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    for (const action of ['approve', 'deny']) {
      const res = await post(`${sc.url}/device`, { csrf, user_code: other.json.user_code, action }, { cookie })
      t.equal(res.status, 303, action)
      t.equal(res.headers.location, '/device/confirm', `${action} of a code not shown: its confirm page, not the IdP`)
    }
    t.equal((await poll(sc, other.json.device_code)).json.error, 'authorization_pending', 'nothing was decided for it')
  })

  t.test('shows the confirm page, and the IdP asks for a sign-in again even with a session (RFC 8628 §5.4, prompt=login)', async t => {
    const browser = new Browser()
    const first = await authorize(sc, { client_id: 'tv-app', scope: 'openid' })
    await approveOnPhone(browser, first.json.verification_uri_complete)
    const second = await authorize(sc, { client_id: 'tv-app', scope: 'openid' })
    const enter = await browser.get(second.json.verification_uri_complete)
    const confirm = await browser.submit(enter)
    t.match(confirm.html, '<h1>Allow Living Room TV to sign in as you?</h1>')
    const signIn = await browser.submit(confirm, {}, { name: 'action', value: 'approve' })
    t.match(signIn.url, '/interaction/')
    t.equal(Browser.field(signIn, 'prompt'), 'login', 'the IdP\'s session alone does not approve')
    const final = await browser.submit(signIn, { login: 'alice', password: 'any' })
    t.match(final.html, 'Device connected')
  })

  t.test('settles the grant as denied when the IdP answers error= on the callback', async t => {
    const { json: da } = await authorize(sc, { client_id: 'tv-app', scope: 'openid' })
    const browser = new Browser()
    const confirm = await browser.submit(await browser.get(da.verification_uri_complete))
    const csrf = Browser.field(confirm, 'csrf')!
    const cookie = () => [...browser.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    const res = await post(`${sc.url}/device`, { csrf, user_code: da.user_code, action: 'approve' }, { cookie: cookie() })
    const setCookie = String(res.headers['set-cookie']).split(';')[0]!
    const state = new URL(res.headers.location as string).searchParams.get('state')!
    const forged = await get(`${sc.url}/device/callback?state=forged&error=access_denied`, { cookie: setCookie, accept: 'text/html' })
    t.equal(forged.status, 400)
    t.equal((await poll(sc, da.device_code)).json.error, 'authorization_pending', 'a forged state settles nothing')
    // RFC 9207 §2: error responses carry iss too (test/adversarial/missing_iss.test.ts)
    const cb = await get(`${sc.url}/device/callback?state=${state}&error=access_denied&error_description=nope&iss=${encodeURIComponent(sc.url)}`, { cookie: setCookie })
    t.equal(cb.status, 303)
    t.equal(cb.headers.location, '/device/done')
    const done = await get(`${sc.url}/device/done`, { cookie: String(cb.headers['set-cookie']).split(';')[0]! })
    t.equal(done.status, 200)
    t.match(done.text, '<h1>Request denied</h1>')
    sc.clock.advance(5_000)
    t.strictSame((await poll(sc, da.device_code)).json, { error: 'access_denied', error_description: 'the identity provider refused the sign-in: access_denied' })
  })

  t.test('answers a body it cannot read with a page, and logs the reference it shows', async t => {
    const res = await fetch(`${sc.url}/device`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'user_code=x' })
    t.equal(res.status, 400)
    const text = await res.text()
    t.match(text, 'The form could not be read')
    const reference = /Reference: ([^<\s]+)/.exec(text)?.[1]
    const line = sc.logs.map(l => JSON.parse(l) as Record<string, unknown>).find(l => l.reqId === reference && l.msg === 'error page')
    t.match(line, { status: 400, page: 'bad_form', error: 'invalid_request' })
  })

  t.test('refuses a POST without the CSRF token or cookie', async t => {
    const { json: da } = await authorize(sc)
    const noCookie = await post(`${sc.url}/device`, { csrf: 'x', user_code: da.user_code, action: 'deny' })
    t.equal(noCookie.status, 403)
    const browser = new Browser()
    await browser.get(`${sc.url}/device`)
    const cookie = [...browser.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    const badToken = await post(`${sc.url}/device`, { csrf: 'wrong', user_code: da.user_code, action: 'deny' }, { cookie })
    t.equal(badToken.status, 403)
    t.match(badToken.text, 'This page has expired')
    // the reference the page shows finds the request's line in the log
    const reference = /Reference: ([^<\s]+)/.exec(badToken.text)?.[1]
    t.ok(reference !== undefined, 'the page quotes a reference')
    const line = sc.logs.map(l => JSON.parse(l) as Record<string, unknown>).find(l => l.reqId === reference && l.msg === 'error page')
    t.match(line, { status: 403, page: 'csrf' })
    t.equal((await poll(sc, da.device_code)).json.error, 'authorization_pending', 'nothing was denied')
  })

  t.test('gives wrong, expired and used codes one message, and throttles an address (429) without a reset on success', async t => {
    const browser = new Browser('198.51.100.7')
    const enter = await browser.get(`${sc.url}/device`)
    const wrong = await browser.submit(enter, { user_code: 'BCDF-GHJK' })
    t.equal(wrong.status, 200, 'answered with a 303 to the enter page, which shows the error once')
    t.equal(wrong.url, `${sc.url}/device`)
    t.equal(Browser.field(wrong, 'user_code'), 'BCDF-GHJK', 'what was typed is there to correct')
    t.match(wrong.html, WRONG)

    const used = await authorize(sc)
    await approveOnPhone(new Browser(), used.json.verification_uri_complete, { choice: 'deny' })
    const usedPage = await browser.submit(enter, { user_code: used.json.user_code })
    t.match(usedPage.html, WRONG)

    const expired = await authorize(sc)
    const good = await authorize(sc)
    sc.clock.advance(600_000)
    const expiredPage = await browser.submit(enter, { user_code: expired.json.user_code })
    t.match(expiredPage.html, WRONG)

    const fresh = await authorize(sc)
    const ok = await browser.submit(enter, { user_code: fresh.json.user_code })
    t.equal(ok.status, 200, 'a right code still works under the limit')
    t.match(ok.html, 'Approve')
    const fourth = await browser.submit(enter, { user_code: 'garbage' })
    t.equal(fourth.status, 429, 'the right code did not reset the count')
    t.match(fourth.headers['retry-after'], /^\d+$/)
    t.match(fourth.html, 'Too many attempts')
    const after = await browser.submit(enter, { user_code: fresh.json.user_code })
    t.equal(after.status, 429, 'even a right code waits out the window')
    t.notOk(good.json === undefined)
    const other = await new Browser('198.51.100.8').get(`${sc.url}/device`)
    t.equal(other.status, 200, 'another address is not throttled')
  })
})
