import t from 'tap'
import { request } from 'undici'
import { basic, get, post } from './helpers/http.js'
import { sample, scrape } from './helpers/metrics.js'
import { startSidecar } from './helpers/sidecar.js'

t.test('same-origin front', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)

  t.test('publishes the IdP\'s metadata with the device endpoint, the device grant and its own token endpoint', async t => {
    const upstream = (await get(`${sc.idp.url}/.well-known/openid-configuration`, { 'x-forwarded-host': new URL(sc.url).host, 'x-forwarded-proto': 'http' })).json
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
      const res = await get(`${sc.url}${path}`)
      t.equal(res.status, 200)
      t.strictSame(res.json, {
        ...upstream,
        token_endpoint: `${sc.url}/token`,
        device_authorization_endpoint: `${sc.url}/device_authorization`,
        grant_types_supported: [...upstream.grant_types_supported, 'urn:ietf:params:oauth:grant-type:device_code']
      })
      t.equal(res.json.issuer, sc.url)
    }
  })

  t.test('proxies other paths untouched, with X-Forwarded-For/Proto/Host', async t => {
    const res = await request(`${sc.url}/echo/a%20b?x=1&x=2`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', cookie: 'idp=abc; dfs=sidecar-session', 'x-custom': 'yes', 'x-forwarded-for': '203.0.113.5' },
      body: Buffer.from([0, 1, 2, 255])
    })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['set-cookie'], 'echo=1; Path=/; HttpOnly')
    const echo = await res.body.json() as { method: string; url: string; headers: Record<string, string>; body: string }
    t.equal(echo.method, 'POST')
    t.equal(echo.url, '/echo/a%20b?x=1&x=2')
    t.equal(echo.headers.cookie, 'idp=abc', 'the IdP\'s cookies pass; the sidecar\'s session cookie does not')
    t.equal(echo.headers['x-custom'], 'yes')
    t.equal(echo.headers['x-forwarded-for'], '203.0.113.5, 127.0.0.1', 'the chain of a trusted (loopback) peer is kept')
    t.equal(echo.headers['x-forwarded-proto'], 'http')
    t.equal(echo.headers['x-forwarded-host'], new URL(sc.url).host)
    t.equal(Buffer.from(echo.body, 'utf8').length > 0, true)
  })

  t.test('passes statuses and redirects through', async t => {
    const teapot = await get(`${sc.url}/echo?status=418`)
    t.equal(teapot.status, 418)
    const redirect = await request(`${sc.url}/echo?redirect=/somewhere`)
    t.equal(redirect.statusCode, 302)
    t.equal(redirect.headers.location, '/somewhere')
    await redirect.body.text()
  })

  t.test('passes token requests of the IdP\'s own clients through', async t => {
    const res = await post(`${sc.url}/token`, { grant_type: 'client_credentials', scope: 'api' }, { authorization: basic('web-app', 'web-secret-Xy7') })
    t.equal(res.status, 200)
    t.type(res.json.access_token, 'string')
    const bad = await post(`${sc.url}/token`, { grant_type: 'client_credentials' }, { authorization: basic('web-app', 'wrong') })
    t.equal(bad.status, 401)
    t.equal(bad.json.error, 'invalid_client')
  })

  t.test('answers 504 when the IdP is slower than upstream.timeout_seconds', async t => {
    const slow = await get(`${sc.url}/echo?delay=3000`)
    t.equal(slow.status, 504)
    t.strictSame(slow.json, { error: 'temporarily_unavailable', error_description: 'the identity provider did not answer in time' })
  })

  t.test('health and readiness', async t => {
    t.strictSame((await get(`${sc.url}/healthz`)).json, { status: 'ok' })
    t.strictSame((await get(`${sc.url}/readyz`)).json, { status: 'ready' })
  })
})

t.test('trust_proxy decides whose X-Forwarded-For is believed', async t => {
  const sc = await startSidecar({ config: { server: { trust_proxy: ['192.0.2.0/24'] } } })
  t.teardown(sc.close)
  const echo = await get(`${sc.url}/echo`, { 'x-forwarded-for': '203.0.113.5' })
  t.equal(echo.json.headers['x-forwarded-for'], '127.0.0.1', 'an untrusted peer\'s chain is dropped')
  const da = await post(`${sc.url}/device_authorization`, { client_id: 'tv-app' }, { 'x-forwarded-for': '203.0.113.5' })
  const { Browser } = await import('./helpers/browser.js')
  const browser = new Browser()
  const confirm = await browser.submit(await browser.get(da.json.verification_uri_complete))
  t.match(confirm.html, '<dt>From</dt><dd><span dir="ltr">127.0.0.1</span>', 'the confirm page shows the real peer')
  t.ok(sc.logs.some(l => l.includes('"event":"device_authorization.issued"') && l.includes('"device_ip":"127.0.0.1"')), 'and so does the audit trail')
  t.notOk(sc.logs.some(l => l.includes('203.0.113.5')), 'the untrusted claim is nowhere')
})

t.test('a trusted proxy\'s X-Forwarded-For is the client address for the confirm page, the limits and the audit trail', async t => {
  // default trust_proxy: loopback, which is where the test's requests come from
  const sc = await startSidecar({ config: { limits: { device_authorization_per_ip: { max: 1 } } } })
  t.teardown(sc.close)
  const da = await post(`${sc.url}/device_authorization`, { client_id: 'tv-app' }, { 'x-forwarded-for': '198.51.100.1, 203.0.113.9' })
  t.equal(da.status, 200)
  const { Browser } = await import('./helpers/browser.js')
  const browser = new Browser()
  const confirm = await browser.submit(await browser.get(da.json.verification_uri_complete))
  t.match(confirm.html, '<dt>From</dt><dd><span dir="ltr">203.0.113.9</span>', 'the last hop before the trusted proxy')
  t.ok(sc.logs.some(l => l.includes('"event":"device_authorization.issued"') && l.includes('"device_ip":"203.0.113.9"')))
  t.equal((await post(`${sc.url}/device_authorization`, { client_id: 'tv-app' }, { 'x-forwarded-for': '203.0.113.9' })).status, 429, 'limited by the forwarded address')
  t.equal((await post(`${sc.url}/device_authorization`, { client_id: 'tv-app' }, { 'x-forwarded-for': '203.0.113.10' })).status, 200, 'another forwarded address is not')
})

t.test('separate origin (upstream.proxy: false) proxies nothing', async t => {
  const sc = await startSidecar({ config: { upstream: { proxy: false } } })
  t.teardown(sc.close)
  const res = await get(`${sc.url}/jwks`)
  t.equal(res.status, 404)
  t.equal(res.json.error, 'invalid_request')
  t.equal((await post(`${sc.url}/device_authorization`, { client_id: 'tv-app' })).status, 200)
  const m = await scrape(sc.adminUrl!)
  t.equal(sample(m, 'dfs_http_request_duration_seconds_count{method=GET,route=unmatched,status=4xx}'), 1, 'the 404 is timed under one label, not its URL')
  t.equal(sample(m, 'dfs_http_request_duration_seconds_count{method=POST,route=/device_authorization,status=2xx}'), 1)
})
