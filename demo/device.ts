/**
 * `npm run device`: plays a TV. Starts a device login at the sidecar with openid-client, prints
 * the code and where to enter it, and a QR code of verification_uri_complete for a phone to scan
 * (what a TV app would show from {verification_path}/qr), polls, and prints the ID token's claims.
 */
import * as client from 'openid-client'
import QRCode from 'qrcode'

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
`)
// every response of the sidecar has verification_uri_complete; another server's may not
const scan = response.verification_uri_complete ?? response.verification_uri
process.stdout.write(`
  or scan it with your phone's camera:

${(await QRCode.toString(scan, { type: 'terminal', small: true, errorCorrectionLevel: 'M' })).replace(/^/gm, '  ')}
  waiting for approval…
`)
const tokens = await client.pollDeviceAuthorizationGrant(config, response)
process.stdout.write(`\n  Signed in. ID token claims:\n${JSON.stringify(tokens.claims(), null, 2).replace(/^/gm, '    ')}\n`)
process.stdout.write(`  access token expires in ${tokens.expiresIn() ?? '?'} s; refresh token ${tokens.refresh_token === undefined ? 'not ' : ''}issued\n`)
