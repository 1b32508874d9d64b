import t from 'tap'
import * as client from 'openid-client'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { approveOnPhone, Browser } from './helpers/browser.js'
import { ADMIN_TOKEN, startSidecar } from './helpers/sidecar.js'

t.test('a TV logs a person in through the IdP, then refreshes', async t => {
  // every log line at debug, request lines included, so the leak check below sees all there is
  const sc = await startSidecar({ config: { log: { level: 'debug', requests: true } } })
  t.teardown(sc.close)
  const config = await client.discovery(new URL(sc.url), 'tv-app', undefined, client.None(), { execute: [client.allowInsecureRequests] })
  const da = await client.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access' })
  t.match(da.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/)
  t.equal(da.verification_uri, `${sc.url}/device`)

  const browser = new Browser()
  const { confirm, final } = await approveOnPhone(browser, da.verification_uri_complete!)
  t.match(confirm.html, 'Living Room TV')
  t.match(confirm.html, da.user_code)
  t.equal(final.status, 200)
  t.match(final.html, 'Device connected')

  // the device polls with openid-client, which waits the interval itself; move the clock instead
  sc.clock.advance(5_000)
  const tokens = await client.pollDeviceAuthorizationGrant(config, { ...da, interval: 0 })
  t.type(tokens.access_token, 'string')
  t.type(tokens.refresh_token, 'string')
  t.equal(tokens.token_type.toLowerCase(), 'bearer')
  t.equal(tokens.scope, 'openid profile offline_access')
  const jwks = createRemoteJWKSet(new URL(`${sc.idp.url}/jwks`))
  const { payload } = await jwtVerify(tokens.id_token!, jwks, { issuer: sc.url, audience: 'tv-app' })
  t.equal(payload.sub, 'alice')
  t.equal(tokens.claims()?.sub, 'alice')

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!)
  t.type(refreshed.access_token, 'string')
  t.not(refreshed.access_token, tokens.access_token)
  // the rotated refresh token is bound to the same client and refreshes again
  const again = await client.refreshTokenGrant(config, refreshed.refresh_token ?? tokens.refresh_token!)
  t.type(again.access_token, 'string')

  // nothing secret reached the log: codes, tokens, the authorization code, secrets, cookies
  const callback = new URL(browser.visited.find(u => u.includes('/device/callback'))!)
  const secrets: Record<string, string> = {
    device_code: da.device_code,
    user_code: da.user_code,
    user_code_bare: da.user_code.replace('-', ''),
    authorization_code: callback.searchParams.get('code')!,
    state: callback.searchParams.get('state')!,
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token!,
    id_token: tokens.id_token!,
    refreshed_access_token: refreshed.access_token,
    upstream_secret: 'upstream-secret-Zq9',
    tv_upstream_secret: 'tv-upstream-secret-3',
    cookie: browser.cookies.get('dfs')!
  }
  // the admin API is used too, so its token is in the search
  const adminRes = await fetch(`${sc.adminUrl!}/admin/grants`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(adminRes.status, 200)
  await fetch(`${sc.adminUrl!}/admin/grants`, { headers: { authorization: 'Bearer wrong-token-value' } })
  secrets.admin_token = ADMIN_TOKEN
  t.ok(sc.logs.length > 10, `${sc.logs.length} log lines`)
  for (const [name, value] of Object.entries(secrets)) {
    t.ok(value.length >= 8, `${name} is a real value`)
    t.notOk(sc.logs.some(line => line.includes(value)), `no log line holds the ${name}`)
  }

  // the audit trail of the flow: one line per event, the grant named by its id
  const events = sc.logs.map(l => JSON.parse(l) as Record<string, unknown>).filter(l => typeof l.event === 'string')
  const byName = (name: string): Record<string, unknown> | undefined => events.find(e => e.event === name)
  const issued = byName('device_authorization.issued')
  t.match(issued, { client_id: 'tv-app', grant_id: String, device_ip: '127.0.0.1', device_user_agent: String })
  const grantId = issued?.grant_id
  for (const name of ['verification.code_ok', 'verification.approved', 'grant.approved']) {
    t.match(byName(name), { grant_id: grantId, client_id: 'tv-app', device_ip: '127.0.0.1', approver_ip: '127.0.0.1' }, `${name} names the grant, the device and the approver`)
  }
  t.match(byName('grant.approved'), { sub: 'alice' })
  t.match(byName('grant.redeemed'), { grant_id: grantId, client_id: 'tv-app', sub: 'alice', device_ip: '127.0.0.1', device_user_agent: String })
  t.match(byName('token.refreshed'), { client_id: 'tv-app' })
  t.match(byName('admin.unauthorized'), { admin_ip: '127.0.0.1', path: '/admin/grants' })
})
