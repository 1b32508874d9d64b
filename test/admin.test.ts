import { createHash } from 'node:crypto'
import t from 'tap'
import { redact } from '../src/ops/admin.js'
import { parseConfig } from '../src/config/load.js'
import { approveOnPhone, Browser } from './helpers/browser.js'
import { authorize, get, poll, post, type Reply } from './helpers/http.js'
import { sample, scrape } from './helpers/metrics.js'
import { ADMIN_TOKEN, startSidecar } from './helpers/sidecar.js'
import { request } from 'undici'

const idOf = (deviceCode: string): string => createHash('sha256').update(deviceCode).digest('base64url')

/** An admin API request with the test token, another token, or none (null). */
async function admin (base: string, method: string, path: string, token: string | null = ADMIN_TOKEN): Promise<Reply> {
  const res = await request(`${base}${path}`, { method: method as 'GET', headers: token === null ? {} : { authorization: `Bearer ${token}` } })
  const text = await res.body.text()
  let json: any
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: res.statusCode, headers: res.headers, text, json }
}

t.test('admin API', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  const base = sc.adminUrl!
  t.not(new URL(base).port, new URL(sc.url).port, 'a listener of its own')

  t.test('requires the bearer token: missing or wrong gets 401, audited and counted; /metrics needs none', async t => {
    for (const token of [null, 'wrong-token', `${ADMIN_TOKEN}x`]) {
      const res = await admin(base, 'GET', '/admin/grants', token)
      t.equal(res.status, 401)
      t.match(res.headers['www-authenticate'], /^Bearer/)
      t.notMatch(res.text, /grants/)
    }
    t.equal((await admin(base, 'DELETE', '/admin/grants/x', 'wrong')).status, 401)
    t.equal((await admin(base, 'GET', '/admin/config', null)).status, 401)
    const audited = sc.logs.filter(l => l.includes('"event":"admin.unauthorized"'))
    t.equal(audited.length, 5)
    t.equal(sample(await scrape(base), 'dfs_admin_requests_total{outcome=unauthorized}'), 5)
    t.equal((await get(`${base}/metrics`)).status, 200)
    t.equal((await get(`${sc.url}/metrics`)).status, 404, 'metrics are not on the public listener')
    t.equal((await get(`${sc.url}/admin/grants`)).status, 404, 'nor is the admin API')
  })

  t.test('lists live grants with what an operator needs and no code or token', async t => {
    const a = await authorize(sc, { client_id: 'tv-app', scope: 'openid' }, { 'user-agent': 'LivingRoomTV/2.1' })
    const b = await authorize(sc, { client_id: 'cli', client_secret: 'cli-secret-2', scope: 'openid' })
    const res = await admin(base, 'GET', '/admin/grants?client_id=tv-app')
    t.equal(res.status, 200)
    t.equal(res.headers['cache-control'], 'no-store')
    const listed = res.json.grants.find((g: any) => g.id === idOf(a.json.device_code))
    t.match(listed, { client_id: 'tv-app', state: 'pending', scopes: ['openid'], device_ip: '127.0.0.1', device_user_agent: 'LivingRoomTV/2.1', created_at: /^\d{4}-\d\d-\d\dT/, expires_at: /^\d{4}-/ })
    t.notOk(res.json.grants.some((g: any) => g.client_id !== 'tv-app'), 'filtered by client')
    t.notMatch(res.text, a.json.device_code)
    t.notMatch(res.text, a.json.user_code.replace('-', ''))
    t.notMatch(res.text, a.json.user_code)
    const all = await admin(base, 'GET', '/admin/grants?state=pending&limit=1000')
    t.ok(all.json.grants.some((g: any) => g.id === idOf(b.json.device_code)))
    t.equal((await admin(base, 'GET', '/admin/grants?state=sleeping')).status, 400)
    t.equal((await admin(base, 'GET', '/admin/grants?limit=0')).status, 400)
    t.equal((await admin(base, 'GET', '/admin/grants?limit=2')).json.grants.length, 2)
  })

  t.test('DELETE /admin/grants/{id} denies one grant: its device gets access_denied', async t => {
    const a = await authorize(sc)
    const other = await authorize(sc)
    const res = await admin(base, 'DELETE', `/admin/grants/${idOf(a.json.device_code)}`)
    t.equal(res.status, 200)
    t.equal(res.json.revoked, 1)
    t.equal(res.json.grant.state, 'denied')
    const polled = await poll(sc, a.json.device_code)
    t.equal(polled.json.error, 'access_denied')
    t.equal(polled.json.error_description, 'revoked by an administrator')
    t.equal((await poll(sc, other.json.device_code)).json.error, 'authorization_pending', 'other grants untouched')
    t.equal((await admin(base, 'DELETE', `/admin/grants/${idOf(a.json.device_code)}`)).status, 409, 'already denied')
    t.equal((await admin(base, 'DELETE', '/admin/grants/no-such-grant')).status, 404)
    const enter = await new Browser().get(a.json.verification_uri_complete)
    t.match((await new Browser().submit(enter)).html, /isn’t valid|expired/i, 'its user code no longer leads to a confirm page')
    t.ok(sc.logs.some(l => l.includes('"event":"admin.revoked"') && l.includes(idOf(a.json.device_code))), 'audited with the grant id')
  })

  t.test('POST /admin/clients/{id}/revoke denies every live grant of a client, approved-unredeemed included', async t => {
    const pending1 = await authorize(sc)
    const pending2 = await authorize(sc)
    const approved = await authorize(sc)
    await approveOnPhone(new Browser(), approved.json.verification_uri_complete)
    const otherClient = await authorize(sc, { client_id: 'cli', client_secret: 'cli-secret-2', scope: 'openid' })
    const res = await admin(base, 'POST', '/admin/clients/tv-app/revoke')
    t.equal(res.status, 200)
    t.ok(res.json.revoked >= 3)
    for (const dc of [pending1, pending2, approved].map(r => r.json.device_code)) t.ok(res.json.grant_ids.includes(idOf(dc)))
    sc.clock.advance(60_000)
    for (const r of [pending1, pending2, approved]) t.equal((await poll(sc, r.json.device_code)).json.error, 'access_denied')
    t.equal((await post(`${sc.url}/token`, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: otherClient.json.device_code, client_id: 'cli', client_secret: 'cli-secret-2' })).json.error, 'authorization_pending', 'another client is untouched')
    t.equal((await admin(base, 'GET', '/admin/grants?client_id=tv-app&state=pending')).json.grants.length, 0)
    t.equal((await admin(base, 'POST', '/admin/clients/tv-app/revoke')).json.revoked, 0, 'nothing left to revoke')
  })

  t.test('GET /admin/config shows the effective config with every secret redacted', async t => {
    const res = await admin(base, 'GET', '/admin/config')
    t.equal(res.status, 200)
    t.equal(res.json.server.public_url, sc.url)
    t.equal(res.json.upstream.client_secret, '[redacted]')
    t.equal(res.json.admin.token, '[redacted]')
    t.strictSame(res.json.server.cookie_keys, '[redacted]')
    t.equal(res.json.clients.find((c: any) => c.client_id === 'console').client_secret, '[redacted]')
    t.equal(res.json.clients.find((c: any) => c.client_id === 'console').token_endpoint_auth_method, 'client_secret_basic', 'a field merely named like a secret is kept')
    for (const secret of ['upstream-secret-Zq9', 'tv-upstream-secret-3', 'console-secret-1', 'cli-secret-2', ADMIN_TOKEN, sc.config.server.cookie_keys![0]!]) t.notMatch(res.text, secret)
  })

  t.test('dfs_admin_requests_total counts ok, not_found and invalid requests', async t => {
    const before = await scrape(base)
    await admin(base, 'GET', '/admin/grants')
    await admin(base, 'DELETE', '/admin/grants/no-such-grant')
    await admin(base, 'GET', '/admin/grants?state=sleeping')
    const after = await scrape(base)
    for (const outcome of ['ok', 'not_found', 'invalid']) {
      const key = `dfs_admin_requests_total{outcome=${outcome}}`
      t.equal(sample(after, key) - sample(before, key), 1, `${outcome} +1`)
    }
  })
})

t.test('redact hides passwords inside URLs too', async t => {
  const config = parseConfig(`
server: { public_url: "http://127.0.0.1:8080", cookie_keys: ["k-0123456789abcdef0123456789abcdef"] }
upstream: { url: "http://idp:8080", client_id: x, client_secret: s }
clients: [{ client_id: tv }]
store: { type: redis, encryption_key: "e-0123456789abcdef0123456789abcdef", redis: { url: "redis://user:hunter2-pass@redis:6379/0", password: p } }
`, {})
  const text = JSON.stringify(redact(config))
  t.notMatch(text, 'hunter2-pass')
  t.match(text, 'redis://user:[redacted]@redis:6379/0')
  t.notMatch(text, 'e-0123456789abcdef')
})

t.test('admin.enabled: false starts no admin listener; no admin.token serves /metrics only', async t => {
  const off = await startSidecar({ config: { admin: { enabled: false } } })
  t.teardown(off.close)
  t.equal(off.adminUrl, undefined)
  t.equal(off.app.admin, undefined)
  const noToken = await startSidecar({ config: { admin: { token: undefined } } }) // undefined: the key is left out
  t.teardown(noToken.close)
  t.equal((await get(`${noToken.adminUrl!}/metrics`)).status, 200)
  const res = await admin(noToken.adminUrl!, 'GET', '/admin/grants', 'anything')
  t.equal(res.status, 404)
  t.match(res.json.error_description, 'admin.token')
})
