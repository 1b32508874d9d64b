/**
 * `npm run device`: plays a TV. Starts a device login at the sidecar with openid-client, prints
 * the code and where to enter it, polls, and prints the ID token's claims.
 */
import * as client from 'openid-client'

const base = process.env.SIDECAR_URL ?? 'http://localhost:3000'
const clientId = process.env.DEVICE_CLIENT_ID ?? 'tv-app'
const scope = process.env.DEVICE_SCOPE ?? 'openid profile email offline_access'

const config = await client.discovery(new URL(base), clientId, undefined, client.None(), {
  execute: base.startsWith('http:') ? [client.allowInsecureRequests] : []
})
const response = await client.initiateDeviceAuthorization(config, { scope })
process.stdout.write(`
  On your phone or computer, open ${response.verification_uri}
  and enter the code  ${response.user_code}

  (or open ${response.verification_uri_complete})
  waiting for approval…
`)
const tokens = await client.pollDeviceAuthorizationGrant(config, response)
process.stdout.write(`\n  Signed in. ID token claims:\n${JSON.stringify(tokens.claims(), null, 2).replace(/^/gm, '    ')}\n`)
process.stdout.write(`  access token expires in ${tokens.expiresIn() ?? '?'} s; refresh token ${tokens.refresh_token === undefined ? 'not ' : ''}issued\n`)
