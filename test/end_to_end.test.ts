import t from 'tap'
import * as client from 'openid-client'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { approveOnPhone, Browser } from './helpers/browser.js'
import { startSidecar } from './helpers/sidecar.js'

t.test('a TV logs a person in through the IdP, then refreshes', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  const config = await client.discovery(new URL(sc.url), 'tv-app', undefined, client.None(), { execute: [client.allowInsecureRequests] })
  const da = await client.initiateDeviceAuthorization(config, { scope: 'openid profile offline_access' })
  t.match(da.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/)
  t.equal(da.verification_uri, `${sc.url}/device`)

  const { confirm, final } = await approveOnPhone(new Browser(), da.verification_uri_complete!)
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
})
