import type { Provider } from 'oidc-provider'
import { readFileSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { parseConfig } from '../src/config/load.js'
import { launchChromium, signInAtIdp } from './helpers/chromium.js'
import { Browser } from './helpers/browser.js'
import { redisMissing, startRedis } from './helpers/redis.js'
import { authorize, get, poll } from './helpers/http.js'
import { startSidecar, type TestSidecar } from './helpers/sidecar.js'

// The JSON verification API (issue 17) for a custom front end: the same decisions as the pages,
// behind their throttle, CSRF and confirm-before-approve rule; its answers checked against the
// OpenAPI document kept in schemas/; ui.frontend_url as devices and the callback use it; and a
// small front end (a static page with a script) driving it in Chromium to a device's tokens.

const DOC = JSON.parse(readFileSync(new URL('../schemas/verification-api.openapi.json', import.meta.url), 'utf8')) as { paths: Record<string, unknown>; servers: unknown }
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void
const ajv = new Ajv2020({ strict: false, allErrors: true })
addFormats(ajv)
ajv.addSchema(DOC, 'api')
const WRONG = { error: 'invalid_user_code', error_description: 'the code is wrong, expired or already used' }
const FRONTEND = '/app/activate'
const words = (tag: string, key: string): string => (JSON.parse(readFileSync(new URL(`../src/ui/messages/${tag}.json`, import.meta.url), 'utf8')) as Record<string, string>)[key]!

/** The front end an operator might write: looks the code up, shows who asks for what, decides, follows redirect_to. */
const FRONTEND_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Activate your device</title></head>
<body><main>
<p id="status">loading</p><h1 id="client"></h1><p id="code"></p><ul id="scopes"></ul>
<button id="approve">Approve</button> <button id="deny">Deny</button>
</main>
<script>
const query = new URLSearchParams(location.search)
const status = document.getElementById('status')
if (query.has('result')) {
  status.textContent = 'result:' + query.get('result')
} else {
  fetch('/device/api/request?user_code=' + encodeURIComponent(query.get('user_code') || '')).then(async res => {
    const req = await res.json()
    if (!res.ok) { status.textContent = 'error:' + req.error; return }
    document.getElementById('client').textContent = req.client.client_name
    document.getElementById('code').textContent = req.user_code
    for (const scope of req.scopes) {
      const li = document.createElement('li')
      li.textContent = scope.description
      document.getElementById('scopes').append(li)
    }
    const decide = async decision => {
      const answer = await fetch('/device/api/decision', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_code: req.user_code, decision, csrf_token: req.csrf_token }) })
      const body = await answer.json()
      if (body.redirect_to) location.assign(body.redirect_to)
      else status.textContent = 'result:' + (body.status || body.error)
    }
    document.getElementById('approve').onclick = () => decide('approve')
    document.getElementById('deny').onclick = () => decide('deny')
    status.textContent = 'ready'
  })
}
</script></body></html>`

/** A browser's side of the API: its cookie and address. */
class ApiSession {
  cookie: string | undefined
  readonly ip: string
  constructor (ip: string) { this.ip = ip }

  async call (sc: TestSidecar, method: string, path: string, options: { body?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: any; text: string }> {
    const res = await request(`${sc.url}/device/api${path}`, {
      method: method as 'GET',
      headers: { 'x-forwarded-for': this.ip, ...(this.cookie === undefined ? {} : { cookie: this.cookie }), ...options.headers },
      ...(options.body === undefined ? {} : { body: options.body })
    })
    const setCookie = res.headers['set-cookie']
    if (typeof setCookie === 'string') this.cookie = setCookie.split(';')[0]
    const text = await res.body.text()
    let json: unknown
    try { json = JSON.parse(text) } catch { json = undefined }
    return { status: res.statusCode, headers: res.headers, json, text }
  }

  lookUp (sc: TestSidecar, code: string, headers: Record<string, string> = {}) {
    return this.call(sc, 'GET', `/request?user_code=${encodeURIComponent(code)}`, { headers })
  }

  decide (sc: TestSidecar, body: unknown, headers: Record<string, string> = {}) {
    return this.call(sc, 'POST', '/decision', { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } })
  }
}

/** The answer is one the OpenAPI document declares for this operation and status, and its body validates against the declared schema. */
function conforms (t: Test, path: string, method: string, answer: { status: number; json: unknown; headers: Record<string, unknown> }): void {
  const pointer = `api#/paths/${path.replaceAll('/', '~1')}/${method}/responses/${answer.status}/content/application~1json/schema`
  const validate = ajv.getSchema(pointer)
  if (validate === undefined) {
    t.fail(`the document declares no ${answer.status} for ${method.toUpperCase()} ${path}`)
    return
  }
  t.ok(validate(answer.json), `${method.toUpperCase()} ${path} ${answer.status} matches the document${validate.errors == null ? '' : `: ${ajv.errorsText(validate.errors)}`}`)
  t.equal(answer.headers['cache-control'], 'no-store')
  t.match(answer.headers['content-type'], /^application\/json/)
}

function noCors (t: Test, headers: Record<string, unknown>): void {
  t.strictSame(Object.keys(headers).filter(h => h.startsWith('access-control-')), [], 'no Access-Control-* header')
}

let address = 0
/** The custom front end, served on the sidecar's origin by the test IdP (the sidecar proxies its path). */
function serveFrontend (provider: Provider): void {
  provider.use(async (ctx, next) => {
    if (ctx.path !== FRONTEND) return next()
    ctx.type = 'text/html; charset=utf-8'
    ctx.body = FRONTEND_HTML
  })
}

/** A fresh client address per session: each has its own allowance. */
const nextIp = (): string => `198.51.100.${++address}`

t.test('the JSON verification API', async t => {
  const sc = await startSidecar({
    config: url => ({ ui: { frontend_url: `${url}${FRONTEND}` }, limits: { user_code_attempts: { max: 3, window_seconds: 3600 } } }),
    configure: serveFrontend
  })
  t.teardown(sc.close)

  t.test('devices are sent to ui.frontend_url, with user_code appended for verification_uri_complete', async t => {
    const { json: da } = await authorize(sc)
    t.equal(da.verification_uri, `${sc.url}${FRONTEND}`)
    t.equal(da.verification_uri_complete, `${sc.url}${FRONTEND}?user_code=${da.user_code}`)
  })

  t.test('GET /request answers who asks for what in the negotiated language, with the session cookie and its csrf_token', async t => {
    const { json: da } = await authorize(sc, { scope: 'openid offline_access' }, { authorization: 'Basic ' + Buffer.from('console:console-secret-1').toString('base64'), 'x-forwarded-for': '203.0.113.9', 'user-agent': 'ConsoleOS/2' })
    const s = new ApiSession('203.0.113.77')
    const res = await s.lookUp(sc, da.user_code.toLowerCase().replace('-', ' '), { 'accept-language': 'de-DE,de;q=0.9', origin: 'https://evil.example' })
    t.equal(res.status, 200)
    conforms(t, '/request', 'get', res)
    noCors(t, res.headers)
    t.equal(res.headers['content-language'], 'de')
    t.match(res.headers['set-cookie'], /^dfs=[^;]+; Path=\/; Max-Age=4200; HttpOnly; SameSite=Lax$/)
    const { requested_at: requestedAt, expires_at: expiresAt, csrf_token: csrf, ...rest } = res.json
    t.strictSame(rest, {
      user_code: da.user_code,
      client: { client_id: 'console', client_name: 'Game <Console> & "Co"' },
      scopes: [
        { name: 'openid', description: words('de', 'scope.openid') },
        { name: 'offline_access', description: words('de', 'scope.offline_access') }
      ],
      device: { ip: '203.0.113.9', user_agent: 'ConsoleOS/2', same_network: true }
    })
    t.equal(Date.parse(expiresAt) - Date.parse(requestedAt), 600_000)
    t.match(csrf, /^[A-Za-z0-9_-]{43}$/)
    const other = await new ApiSession('192.0.2.1').lookUp(sc, da.user_code)
    t.equal(other.json.device.same_network, false, 'a browser on another network is told so')
    t.equal(other.json.scopes[0].description, words('en', 'scope.openid'), 'English without Accept-Language')
  })

  t.test('a wrong, malformed, expired or used code gets one and the same 404', async t => {
    const answers = []
    answers.push(await new ApiSession(nextIp()).lookUp(sc, 'BCDF-GHJK'))
    answers.push(await new ApiSession(nextIp()).lookUp(sc, 'not a code at all'))
    const used = await authorize(sc)
    const s = new ApiSession(nextIp())
    const looked = await s.lookUp(sc, used.json.user_code)
    t.equal((await s.decide(sc, { user_code: used.json.user_code, decision: 'deny', csrf_token: looked.json.csrf_token })).status, 200)
    answers.push(await new ApiSession(nextIp()).lookUp(sc, used.json.user_code))
    const expiring = await authorize(sc)
    sc.clock.advance(601_000)
    answers.push(await new ApiSession(nextIp()).lookUp(sc, expiring.json.user_code))
    for (const a of answers) {
      t.equal(a.status, 404)
      t.strictSame(a.json, WRONG)
      t.equal(a.headers['set-cookie'], undefined)
      conforms(t, '/request', 'get', a)
    }
    const missing = await new ApiSession(nextIp()).call(sc, 'GET', '/request')
    t.equal(missing.status, 400)
    t.strictSame(missing.json, { error: 'invalid_request', error_description: 'request querystring must have required property \'user_code\'' })
    conforms(t, '/request', 'get', missing)
  })

  t.test('the page and the API share one allowance per address (429 with Retry-After)', async t => {
    const ip = nextIp()
    const { json: da } = await authorize(sc)
    const page = new Browser(ip)
    for (let i = 0; i < 2; i++) {
      const wrong = await page.submit(await page.get(`${sc.url}/device`), { user_code: 'BCDF-GHJK' })
      t.equal(wrong.status, 200, 'the page says the code is wrong')
    }
    const s = new ApiSession(ip)
    const third = await s.lookUp(sc, 'BCDF-GHJK')
    t.equal(third.status, 429, 'the third wrong code of the address, through the API, uses up its allowance')
    t.strictSame(third.json, { error: 'slow_down', error_description: 'too many requests; retry after 3600 seconds' })
    t.equal(third.headers['retry-after'], '3600')
    conforms(t, '/request', 'get', third)
    const right = await s.lookUp(sc, da.user_code)
    t.equal(right.status, 429, 'even a right code waits out the window')
    t.equal(right.headers['retry-after'], '3600')
    const onPage = await page.submit(await page.get(`${sc.url}/device`), { user_code: da.user_code })
    t.equal(onPage.status, 429, 'and so does the page')
    t.equal((await new ApiSession(nextIp()).lookUp(sc, da.user_code)).status, 200, 'another address is not throttled')
  })

  t.test('a decision needs the session\'s CSRF token: 403 invalid_csrf_token, and the request keeps waiting', async t => {
    const { json: da } = await authorize(sc)
    const s = new ApiSession(nextIp())
    const looked = await s.lookUp(sc, da.user_code)
    const wrong = await s.decide(sc, { user_code: da.user_code, decision: 'approve', csrf_token: 'x'.repeat(43) }, { origin: 'https://evil.example' })
    t.equal(wrong.status, 403)
    t.strictSame(wrong.json, { error: 'invalid_csrf_token', error_description: 'csrf_token is not the one GET /api/request gave this session (with its cookie)' })
    conforms(t, '/decision', 'post', wrong)
    noCors(t, wrong.headers)
    const cookieless = new ApiSession(s.ip)
    const noCookie = await cookieless.decide(sc, { user_code: da.user_code, decision: 'approve', csrf_token: looked.json.csrf_token })
    t.equal(noCookie.status, 403)
    t.equal(noCookie.json.error, 'invalid_csrf_token')
    sc.clock.advance(5_000)
    t.strictSame((await poll(sc, da.device_code)).json.error, 'authorization_pending')
  })

  t.test('no CORS header on GET, POST or a preflight from another origin', async t => {
    const s = new ApiSession(nextIp())
    const evil = { origin: 'https://evil.example' }
    noCors(t, (await s.lookUp(sc, 'BCDF-GHJK', evil)).headers)
    noCors(t, (await s.decide(sc, {}, evil)).headers)
    for (const path of ['/request', '/decision']) {
      const preflight = await s.call(sc, 'OPTIONS', path, { headers: { ...evil, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
      t.equal(preflight.status, 405, `OPTIONS ${path}`)
      noCors(t, preflight.headers)
      t.equal(preflight.json.error, 'invalid_request')
      conforms(t, path, path === '/request' ? 'get' : 'post', preflight)
    }
  })

  t.test('a decision for a code this session did not look up is refused (confirm before approve)', async t => {
    const { json: a } = await authorize(sc)
    const { json: b } = await authorize(sc)
    const s = new ApiSession(nextIp())
    // a session (the enter page's cookie and its CSRF token) that never looked a code up
    const enter = await request(`${sc.url}/device`, { headers: { 'x-forwarded-for': s.ip } })
    s.cookie = String(enter.headers['set-cookie']).split(';')[0]
    const csrf = Browser.field({ url: '', status: 200, headers: {}, html: await enter.body.text() }, 'csrf')!
    const bare = await s.decide(sc, { user_code: a.user_code, decision: 'approve', csrf_token: csrf })
    t.equal(bare.status, 403)
    t.strictSame(bare.json, { error: 'confirmation_required', error_description: 'look the code up with GET /api/request in this session before deciding on it' })
    conforms(t, '/decision', 'post', bare)
    const looked = await s.lookUp(sc, a.user_code)
    t.equal(looked.json.csrf_token, csrf, 'the session keeps its token')
    const other = await s.decide(sc, { user_code: b.user_code, decision: 'approve', csrf_token: csrf })
    t.equal(other.status, 403, 'another code than the one looked up')
    t.equal(other.json.error, 'confirmation_required')
    sc.clock.advance(5_000)
    t.equal((await poll(sc, a.device_code)).json.error, 'authorization_pending')
    t.equal((await poll(sc, b.device_code)).json.error, 'authorization_pending')
  })

  t.test('Deny settles access_denied for the device, audited as by the person; the session cannot decide again', async t => {
    const { json: da } = await authorize(sc)
    const s = new ApiSession(nextIp())
    const looked = await s.lookUp(sc, da.user_code)
    const denied = await s.decide(sc, { user_code: da.user_code, decision: 'deny', csrf_token: looked.json.csrf_token })
    t.equal(denied.status, 200)
    t.strictSame(denied.json, { status: 'denied' })
    conforms(t, '/decision', 'post', denied)
    sc.clock.advance(5_000)
    t.strictSame((await poll(sc, da.device_code)).json, { error: 'access_denied', error_description: 'the user denied the authorization request' })
    const line = sc.logs.map(l => JSON.parse(l) as Record<string, unknown>).find(l => l.event === 'grant.denied' && l.device_ip === '127.0.0.1' && l.approver_ip === s.ip)
    t.equal(line?.by, 'person')
    t.equal(line?.msg, 'denied through the JSON API')
    const again = await s.decide(sc, { user_code: da.user_code, decision: 'approve', csrf_token: looked.json.csrf_token })
    t.equal(again.status, 403)
    t.equal(again.json.error, 'confirmation_required')
  })

  t.test('a malformed decision is a 4xx JSON invalid_request: 400 bad JSON, 415 not JSON, 413 too large', async t => {
    const { json: da } = await authorize(sc)
    const s = new ApiSession(nextIp())
    const { json: looked } = await s.lookUp(sc, da.user_code)
    const cases: Array<[string, { body: string; type?: string }, number, string]> = [
      ['not JSON', { body: '{"user_code":' }, 400, 'the body is not valid JSON'],
      ['an array', { body: '[]' }, 400, 'the body must be a JSON object'],
      ['null', { body: 'null' }, 400, 'the body must be a JSON object'],
      ['no decision', { body: JSON.stringify({ user_code: da.user_code, csrf_token: looked.csrf_token }) }, 400, 'decision must be "approve" or "deny"'],
      ['another decision', { body: JSON.stringify({ user_code: da.user_code, decision: 'maybe', csrf_token: looked.csrf_token }) }, 400, 'decision must be "approve" or "deny"'],
      ['a number for user_code', { body: JSON.stringify({ user_code: 1, decision: 'deny', csrf_token: looked.csrf_token }) }, 400, 'user_code must be a string'],
      ['no csrf_token', { body: JSON.stringify({ user_code: da.user_code, decision: 'deny' }) }, 400, 'csrf_token must be a string'],
      ['a form', { body: `user_code=${da.user_code}&decision=deny&csrf_token=${looked.csrf_token}`, type: 'application/x-www-form-urlencoded' }, 415, 'the body must be application/json'],
      ['text/plain (a CORS-simple type)', { body: JSON.stringify({ user_code: da.user_code, decision: 'deny', csrf_token: looked.csrf_token }), type: 'text/plain' }, 415, 'the body must be application/json'],
      ['too large', { body: JSON.stringify({ user_code: da.user_code, decision: 'deny', csrf_token: looked.csrf_token, pad: 'x'.repeat(70_000) }) }, 413, 'the request body is too large']
    ]
    for (const [name, c, status, description] of cases) {
      const res = await s.call(sc, 'POST', '/decision', { body: c.body, headers: { 'content-type': c.type ?? 'application/json' } })
      t.equal(res.status, status, name)
      t.strictSame(res.json, { error: 'invalid_request', error_description: description }, name)
      conforms(t, '/decision', 'post', res)
    }
    const bodiless = await s.call(sc, 'POST', '/decision')
    t.equal(bodiless.status, 415, 'no body and no type')
    t.equal(bodiless.json.error, 'invalid_request')
    sc.clock.advance(5_000)
    t.equal((await poll(sc, da.device_code)).json.error, 'authorization_pending', 'nothing was decided')
  })

  t.test('Approve answers the IdP authorization URL; the callback\'s outcomes go to ui.frontend_url with ?result=', async t => {
    const approveOne = async (): Promise<{ s: ApiSession; location: URL; deviceCode: string }> => {
      const { json: da } = await authorize(sc, { client_id: 'tv-app', scope: 'openid' })
      const s = new ApiSession(nextIp())
      const looked = await s.lookUp(sc, da.user_code)
      const approved = await s.decide(sc, { user_code: da.user_code, decision: 'approve', csrf_token: looked.json.csrf_token })
      t.equal(approved.status, 200)
      conforms(t, '/decision', 'post', approved)
      t.strictSame(Object.keys(approved.json), ['redirect_to'])
      return { s, location: new URL(approved.json.redirect_to), deviceCode: da.device_code }
    }
    const callback = (s: ApiSession, query: string) => get(`${sc.url}/device/callback?${query}&iss=${encodeURIComponent(sc.url)}`, { cookie: s.cookie!, 'x-forwarded-for': s.ip })

    const one = await approveOne()
    t.equal(`${one.location.origin}${one.location.pathname}`, `${sc.url}/auth`)
    t.equal(one.location.searchParams.get('code_challenge_method'), 'S256')
    t.equal(one.location.searchParams.get('redirect_uri'), `${sc.url}/device/callback`)
    const denied = await callback(one.s, `state=${one.location.searchParams.get('state')}&error=access_denied`)
    t.equal(denied.status, 303)
    t.equal(denied.headers.location, `${sc.url}${FRONTEND}?result=denied`)

    const two = await approveOne()
    sc.clock.advance(601_000)
    const expired = await callback(two.s, `state=${two.location.searchParams.get('state')}&code=whatever`)
    t.equal(expired.status, 303)
    t.equal(expired.headers.location, `${sc.url}${FRONTEND}?result=expired`)

    const three = await approveOne()
    const forged = await callback(three.s, 'state=forged&code=whatever')
    t.equal(forged.status, 303)
    const target = new URL(String(forged.headers.location))
    t.equal(`${target.origin}${target.pathname}`, `${sc.url}${FRONTEND}`)
    t.equal(target.searchParams.get('result'), 'error')
    const reference = target.searchParams.get('reference')
    const line = sc.logs.map(l => JSON.parse(l) as Record<string, unknown>).find(l => l.reqId === reference && l.msg === 'error page')
    t.equal(line?.page, 'other_browser', 'the reference finds the error page log line')
  })

  t.test('the OpenAPI document is served at /api/openapi.json, naming this sidecar', async t => {
    const res = await get(`${sc.url}/device/api/openapi.json`)
    t.equal(res.status, 200)
    t.match(res.headers['content-type'], /^application\/json/)
    t.strictSame(res.json, { ...DOC, servers: [{ url: `${sc.url}/device/api`, description: 'this sidecar' }] })
  })
})

t.test('ui.frontend_url must be https (http on loopback), without a fragment or credentials', async t => {
  const base = { server: { public_url: 'https://idp.example.com', cookie_keys: ['k'.repeat(32)] }, upstream: { url: 'http://idp:8080', client_id: 'sidecar', client_secret: 's'.repeat(20) }, clients: [{ client_id: 'tv', token_endpoint_auth_method: 'none', scopes: ['openid'] }] }
  const problems = (frontend: string): string => {
    try {
      parseConfig(JSON.stringify({ ...base, ui: { frontend_url: frontend } }), {})
      return ''
    } catch (err) {
      return (err as Error).message
    }
  }
  t.equal(problems('https://tv.example.com/activate'), '')
  t.equal(problems('http://127.0.0.1:3000/activate'), '')
  t.match(problems('http://tv.example.com/activate'), '/ui/frontend_url: must be https unless the host is a loopback address')
  t.match(problems('https://tv.example.com/activate#x'), '/ui/frontend_url: must not have a fragment')
  t.match(problems('https://me:pw@tv.example.com/activate'), '/ui/frontend_url: must not carry a user name or password')
  t.match(problems('tv.example.com/activate'), '/ui/frontend_url: must match')
})

t.test('outages are JSON: the store down is 503, the IdP down at the callback sends the person to the front end with result=error', { skip: redisMissing() ?? false }, async t => {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const sc = await startSidecar({
    config: url => ({ ui: { frontend_url: `${url}${FRONTEND}?from=sidecar` }, store: { type: 'redis', encryption_key: 'api-test-encryption-key-0123456789abcdef', redis: { url: redis.url, command_timeout_ms: 300, connect_timeout_ms: 300 } } })
  })
  t.teardown(sc.close)
  const { json: da } = await authorize(sc, { client_id: 'cli', client_secret: 'cli-secret-2', scope: 'openid' })
  t.equal(da.verification_uri_complete, `${sc.url}${FRONTEND}?from=sidecar&user_code=${da.user_code}`, 'user_code joins a query the front end has')
  const s = new ApiSession(nextIp())
  const looked = await s.lookUp(sc, da.user_code)
  const approved = await s.decide(sc, { user_code: da.user_code, decision: 'approve', csrf_token: looked.json.csrf_token })
  t.equal(approved.status, 200)

  // the person signs in at the IdP; it dies before the sidecar exchanges the code
  const browser = new Browser(s.ip)
  const [name, value] = s.cookie!.split('=') as [string, string]
  browser.cookies.set(name, value)
  browser.stopBefore = url => url.includes('/device/callback')
  let page = await browser.get(approved.json.redirect_to)
  for (let steps = 0; steps < 5 && page.url.includes('/interaction/'); steps++) {
    page = await browser.submit(page, Browser.field(page, 'prompt') === 'login' ? { login: 'gina', password: 'any' } : {})
  }
  t.match(page.url, /\/device\/callback\?code=/)
  await sc.idp.close()
  browser.stopBefore = url => url.includes(FRONTEND)
  const back = await browser.get(page.url)
  const target = new URL(back.url)
  t.equal(`${target.origin}${target.pathname}`, `${sc.url}${FRONTEND}`)
  t.equal(target.searchParams.get('from'), 'sidecar')
  t.equal(target.searchParams.get('result'), 'error')
  const line = sc.logs.map(l => JSON.parse(l) as Record<string, unknown>).find(l => l.reqId === target.searchParams.get('reference') && l.msg === 'error page')
  t.equal(line?.status, 502, 'the reference finds the error page line')

  await redis.stop()
  const down = await new ApiSession(nextIp()).lookUp(sc, da.user_code)
  t.equal(down.status, 503)
  t.strictSame(down.json, { error: 'temporarily_unavailable', error_description: 'the grant store is not answering' })
  conforms(t, '/request', 'get', down)
})

const { browser, skip } = await launchChromium()

t.test('in Chromium: a custom front end drives the API to approval and the device gets its tokens', { skip: skip ?? false }, async t => {
  if (browser === undefined) throw new Error('unreachable: skipped without a browser')
  t.teardown(() => browser.close())
  const sc = await startSidecar({
    config: url => ({ ui: { frontend_url: `${url}${FRONTEND}` } }),
    configure: serveFrontend
  })
  t.teardown(sc.close)
  const { json: da } = await authorize(sc, { client_id: 'tv-app', scope: 'openid profile' })
  const context = await browser.newContext({ locale: 'fr-FR' })
  t.teardown(() => context.close())
  await context.route(url => !url.toString().startsWith(sc.url), route => route.abort())
  const page = await context.newPage()
  await page.goto(da.verification_uri_complete)
  t.equal(new URL(page.url()).pathname, FRONTEND, 'the device\'s link opens the operator\'s front end')
  await page.waitForSelector('#status:text("ready")')
  t.equal(await page.textContent('#client'), 'Living Room TV')
  t.equal(await page.textContent('#code'), da.user_code)
  t.strictSame(await page.$$eval('#scopes li', lis => lis.map(li => li.textContent)), [words('fr', 'scope.openid'), words('fr', 'scope.profile')], 'the scopes in the browser\'s language')
  await page.click('#approve')
  await page.waitForSelector('input[name=login]')
  await signInAtIdp(page, 'frank', url => url.pathname === FRONTEND)
  t.equal(new URL(page.url()).search, '?result=approved')
  await page.waitForSelector('#status:text("result:approved")')
  sc.clock.advance(5_000)
  const tokens = await poll(sc, da.device_code)
  t.equal(tokens.status, 200)
  t.equal(tokens.json.token_type, 'Bearer')
  t.type(tokens.json.id_token, 'string')
})
