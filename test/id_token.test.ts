import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { BackChannel } from '../src/upstream/client.js'
import { IdTokenVerifier, signedInRecently, signInAge } from '../src/upstream/id_token.js'
import { SidecarError } from '../src/errors.js'
import { TestClock } from './helpers/clock.js'

t.test('ID tokens are checked for signature, iss, aud, exp and nonce (OIDC Core §3.1.3.7)', async t => {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const other = await generateKeyPair('ES256')
  const jwks = JSON.stringify({ keys: [{ ...await exportJWK(publicKey), kid: 'k1', alg: 'ES256', use: 'sig' }] })
  const server = createServer((_req, res) => { res.setHeader('content-type', 'application/json'); res.end(jwks) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => server.close(() => resolve())))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const back = new BackChannel({ internalUrl: base, publicUrl: base, timeoutMs: 2000 })
  t.teardown(() => back.close())
  const clock = new TestClock()
  const verifier = new IdTokenVerifier(back, { clock })
  const expected = { issuer: 'https://idp.example.com', jwksUri: `${base}/jwks`, nonce: 'n-1', audience: 'tv-app' }
  const sign = (claims: Record<string, unknown>, key = privateKey, exp = '1h') =>
    new SignJWT({ nonce: 'n-1', ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://idp.example.com').setAudience('tv-app').setSubject('alice').setIssuedAt().setExpirationTime(exp).sign(key)

  t.equal((await verifier.verify(await sign({}), expected)).sub, 'alice')

  const cases: Array<[string, Promise<string>]> = [
    ['another nonce', sign({ nonce: 'n-2' })],
    ['no nonce', new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://idp.example.com').setAudience('tv-app').setSubject('alice').setIssuedAt().setExpirationTime('1h').sign(privateKey)],
    ['another audience', new SignJWT({ nonce: 'n-1' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://idp.example.com').setAudience('other').setSubject('alice').setIssuedAt().setExpirationTime('1h').sign(privateKey)],
    ['another issuer', new SignJWT({ nonce: 'n-1' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://evil.example.com').setAudience('tv-app').setSubject('alice').setIssuedAt().setExpirationTime('1h').sign(privateKey)],
    ['a foreign key', sign({}, other.privateKey)],
    ['several audiences without azp', new SignJWT({ nonce: 'n-1' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://idp.example.com').setAudience(['tv-app', 'other']).setSubject('alice').setIssuedAt().setExpirationTime('1h').sign(privateKey)]
  ]
  for (const [what, token] of cases) {
    await t.rejects(verifier.verify(await token, expected), { name: 'SidecarError', code: 'ERR_ID_TOKEN_INVALID' }, `refuses ${what}`)
  }
  const token = await sign({}, privateKey, '2m')
  clock.advance(10 * 60_000) // the sidecar's clock says the token has expired
  await t.rejects(verifier.verify(token, expected), { code: 'ERR_ID_TOKEN_INVALID' }, 'refuses an expired token')

  await new Promise<void>(resolve => server.close(() => resolve()))
  server.closeAllConnections()
  const fresh = new IdTokenVerifier(back, { clock: new TestClock() })
  const err = await fresh.verify(await sign({}), expected).catch((e: unknown) => e)
  t.ok(err instanceof SidecarError && err.code.startsWith('ERR_UPSTREAM_'), `an unreachable JWKS is an upstream error (${(err as SidecarError).code})`)
})

t.test('auth_time against max_age (OIDC Core §3.1.2.1): measured back from when the login started, 30 s tolerance, unknown fails', async t => {
  const started = 1_800_000_000_000
  t.equal(signInAge({ auth_time: 1_800_000_000 - 100 }, started), 100)
  t.equal(signInAge({ auth_time: 1_800_000_000 + 5 }, started), -5, 'a sign-in after Approve')
  t.equal(signInAge({ sub: 'alice' }, started), undefined, 'no auth_time')
  t.equal(signInAge({ auth_time: '1800000000' as unknown as number }, started), undefined, 'auth_time not a number')
  t.equal(signInAge(undefined, started), undefined, 'no ID token')
  t.equal(signedInRecently(-5, 0), true)
  t.equal(signedInRecently(30, 0), true, 'within the clock tolerance')
  t.equal(signedInRecently(31, 0), false)
  t.equal(signedInRecently(330, 300), true)
  t.equal(signedInRecently(331, 300), false)
  t.equal(signedInRecently(undefined, 300), false)
})
