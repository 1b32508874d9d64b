/**
 * Issue 17: the sidecar signs in to the IdP with a key (private_key_jwt, RFC 7523 §2.2, OpenID
 * Connect Core §9) instead of a shared secret, as itself (upstream) and as a device client's own
 * IdP client (clients[].upstream). Against the in-process oidc-provider with the clients
 * registered by their JWKS: every call the sidecar makes as a client (code exchange, refresh,
 * revocation) carries a fresh assertion; a key the IdP does not know is a misconfiguration, told
 * to the person and the operator as a wrong secret is; a key that cannot be used stops the config
 * by path; neither the key nor an assertion reaches a log line.
 */
import { spawnSync } from 'node:child_process'
import { createHash, createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JWK } from 'jose'
import type { ClientMetadata } from 'oidc-provider'
import type Provider from 'oidc-provider'
import { approveOnPhone, Browser } from './helpers/browser.js'
import { authorize, basic, DEVICE_GRANT, get, poll, post } from './helpers/http.js'
import { CLIENTS, startSidecar, UPSTREAM_CLIENT, type TestSidecar } from './helpers/sidecar.js'
import { parseConfig } from '../src/config/load.js'
import { ConfigError } from '../src/errors.js'
import { redact } from '../src/ops/admin.js'

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const MISCONFIGURED_TITLE = 'The sign-in service could not handle this request'

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
const ed = generateKeyPairSync('ed25519').privateKey
const rsaPem = rsa.export({ format: 'pem', type: 'pkcs8' }) as string
const ecJwk = { ...ec.export({ format: 'jwk' }), kid: 'ec-key-1' } as Record<string, unknown>
const edJwkText = JSON.stringify(ed.export({ format: 'jwk' }))
const dir = mkdtempSync(join(tmpdir(), 'dfs-pkjwt-'))
const edFile = join(dir, 'ed25519.jwk')
writeFileSync(edFile, `${edJwkText}\n`)
const rsaFile = join(dir, 'rsa.pem')
writeFileSync(rsaFile, rsaPem)

/** A self-signed certificate for a key file, by the openssl command line (node makes none). */
function certificateFor (keyFile: string, name: string): string {
  const out = join(dir, `${name}.crt`)
  const r = spawnSync('openssl', ['req', '-x509', '-new', '-key', keyFile, '-subj', `/CN=${name}`, '-days', '2', '-out', out], { encoding: 'utf8', timeout: 30_000 })
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`)
  return out
}
const rsaCertFile = certificateFor(rsaFile, 'device-sidecar')
const rsaCert = new X509Certificate(readFileSync(rsaCertFile))

/** The public JWK the IdP is given for a private key. */
function publicJwk (key: KeyObject, kid: string, alg: string): JWK {
  return { ...createPublicKey(key).export({ format: 'jwk' }), kid, alg, use: 'sig' } as JWK
}

/** The RFC 7638 thumbprint, by jose (the sidecar's default kid is computed apart from jose). */
async function thumbprintOf (key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(createPublicKey(key).export({ format: 'jwk' }) as JWK, 'sha256')
}

/** A device client signing in as its own IdP client with a key, and that registration at the IdP. */
function keyClient (id: string, privateKey: unknown, jwk: JWK, extra: Record<string, unknown> = {}): { device: Record<string, unknown>; idp: (url: string) => ClientMetadata } {
  return {
    device: { client_id: id, token_endpoint_auth_method: 'none', scopes: ['openid', 'offline_access'], upstream: { client_id: `${id}-at-idp`, token_endpoint_auth_method: 'private_key_jwt', private_key: privateKey, ...extra } },
    idp: url => ({ client_id: `${id}-at-idp`, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] }, redirect_uris: [`${url}/device/callback`], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] } as ClientMetadata)
  }
}

interface Seen { path: string; status: number; params: Record<string, unknown> }

/** Records what every request that authenticated a client carried, after the IdP answered it. */
function recordClientAuth (seen: Seen[]): (provider: Provider) => void {
  return provider => {
    provider.use(async (ctx, next) => {
      await next()
      const params = (ctx as { oidc?: { params?: Record<string, unknown> } }).oidc?.params
      if (params?.client_assertion !== undefined || params?.client_secret !== undefined) seen.push({ path: ctx.path, status: ctx.status, params: { ...params } })
    })
  }
}

/** A full device flow for `clientId` (public, or confidential with `auth`): the device's tokens. */
async function deviceLogin (sc: TestSidecar, clientId: string, auth?: string): Promise<Record<string, any>> {
  const headers: Record<string, string> = auth === undefined ? {} : { authorization: auth }
  const da = await authorize(sc, auth === undefined ? { client_id: clientId, scope: 'openid offline_access' } : { scope: 'openid offline_access' }, headers)
  const { final } = await approveOnPhone(new Browser(), da.json.verification_uri_complete)
  if (new URL(final.url).pathname !== '/device/done') throw new Error(`not approved: ${final.status} ${final.url}`)
  sc.clock.advance(5_000)
  const res = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: da.json.device_code, ...(auth === undefined ? { client_id: clientId } : {}) }, headers)
  if (res.status !== 200) throw new Error(`no tokens: ${res.status} ${res.text}`)
  return res.json
}

function checkAssertion (t: Test, seen: Seen, expected: { client_id: string; aud: string; kid: string; alg: string; typ: string }): void {
  t.equal(seen.params.client_assertion_type, JWT_BEARER, `${seen.path}: client_assertion_type`)
  t.equal(seen.params.client_secret, undefined, `${seen.path}: no secret`)
  const assertion = String(seen.params.client_assertion)
  const header = decodeProtectedHeader(assertion)
  const claims = decodeJwt(assertion)
  t.strictSame(header, { alg: expected.alg, typ: expected.typ, kid: expected.kid }, `${seen.path}: header`)
  t.equal(claims.iss, expected.client_id)
  t.equal(claims.sub, expected.client_id)
  t.equal(claims.aud, expected.aud, 'aud: one string')
  t.equal(claims.exp! - claims.iat!, 60, 'lives 60 s')
  t.match(claims.jti, /^[0-9a-f-]{36}$/, 'a random jti')
  t.strictSame(Object.keys(claims).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'sub'])
}

t.test('the sidecar signs in with an RSA key (PEM): a device is approved and gets tokens, refreshes, revokes; each call carries a fresh assertion', async t => {
  const kid = await thumbprintOf(rsa)
  const seen: Seen[] = []
  const sc = await startSidecar({
    upstreamJwks: { keys: [publicJwk(rsa, kid, 'RS256') as Record<string, unknown>] },
    config: { upstream: { client_secret: undefined, token_endpoint_auth_method: 'private_key_jwt', private_key: rsaPem } },
    configure: recordClientAuth(seen)
  })
  t.teardown(sc.close)
  t.equal(sc.config.upstream.token_endpoint_auth_signing_alg, 'RS256', 'alg from the key type')
  t.equal(sc.config.upstream.private_key_kid, kid, 'kid: the RFC 7638 thumbprint')
  const console = basic('console', 'console-secret-1')
  const tokens = await deviceLogin(sc, 'console', console)
  t.type(tokens.access_token, 'string')
  t.type(tokens.refresh_token, 'string')
  const refreshed = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { authorization: console })
  t.equal(refreshed.status, 200, 'refresh works')
  t.type(refreshed.json.access_token, 'string')
  const revocationEndpoint = new URL((await get(`${sc.url}/.well-known/openid-configuration`)).json.revocation_endpoint as string).pathname
  const revoked = await post(`${sc.url}${revocationEndpoint}`, { token: refreshed.json.refresh_token ?? tokens.refresh_token, token_type_hint: 'refresh_token' }, { authorization: console })
  t.equal(revoked.status, 200, 'revocation works')

  t.strictSame(seen.map(s => [s.path, s.status]), [['/token', 200], ['/token', 200], ['/token/revocation', 200]], 'code exchange, refresh, revocation: each authenticated by assertion')
  for (const s of seen) checkAssertion(t, s, { client_id: UPSTREAM_CLIENT.client_id, aud: sc.url, kid, alg: 'RS256', typ: 'client-authentication+jwt' })
  t.equal(new Set(seen.map(s => decodeJwt(String(s.params.client_assertion)).jti)).size, 3, 'never the same jti twice')

  const logs = sc.logs.join('\n')
  const pemBody = rsaPem.split('\n')[1]!
  t.notOk(logs.includes(pemBody), 'the key is never logged')
  for (const s of seen) t.notOk(logs.includes(String(s.params.client_assertion).split('.')[2]!), 'no assertion is logged')
  t.equal((redact(sc.config) as { upstream: Record<string, unknown> }).upstream.private_key, '[redacted]', 'the admin API shows the key redacted')
})

t.test('a device client signs in as its own IdP client: an EC key (JWK, its kid) and an Ed25519 key (JWK text from a file)', async t => {
  const ecClient = keyClient('ec-tv', ecJwk, publicJwk(ec, 'ec-key-1', 'ES256'))
  const edKid = await thumbprintOf(ed)
  const edClient = keyClient('ed-tv', { file: edFile }, publicJwk(ed, edKid, 'EdDSA'))
  const seen: Seen[] = []
  const sc = await startSidecar({
    config: { clients: [...CLIENTS, ecClient.device, edClient.device] },
    extraClients: url => [ecClient.idp(url), edClient.idp(url)],
    configure: recordClientAuth(seen)
  })
  t.teardown(sc.close)
  for (const [id, kid, alg] of [['ec-tv', 'ec-key-1', 'ES256'], ['ed-tv', edKid, 'EdDSA']] as const) {
    seen.length = 0
    const tokens = await deviceLogin(sc, id)
    t.type(tokens.access_token, 'string', `${id}: the device gets tokens`)
    t.type(tokens.id_token, 'string')
    t.equal(decodeJwt(tokens.id_token).aud, `${id}-at-idp`, `${id}: signed in as its own IdP client`)
    const refreshed = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: id })
    t.equal(refreshed.status, 200, `${id}: refresh works`)
    t.strictSame(seen.map(s => [s.path, s.status]), [['/token', 200], ['/token', 200]])
    for (const s of seen) checkAssertion(t, s, { client_id: `${id}-at-idp`, aud: sc.url, kid, alg, typ: 'client-authentication+jwt' })
  }
})

t.test('a reload rotates the key: the next call is signed with the new one, no restart', async t => {
  const next = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  const seen: Seen[] = []
  const sc = await startSidecar({
    upstreamJwks: { keys: [publicJwk(rsa, 'old', 'RS256'), publicJwk(next, 'new', 'ES256')] as Array<Record<string, unknown>> },
    config: { upstream: { client_secret: undefined, token_endpoint_auth_method: 'private_key_jwt', private_key: rsaPem, private_key_kid: 'old' } },
    configure: recordClientAuth(seen)
  })
  t.teardown(sc.close)
  const console = basic('console', 'console-secret-1')
  const tokens = await deviceLogin(sc, 'console', console)
  const { token_endpoint_auth_signing_alg: _alg, ...upstream } = sc.config.upstream
  const plan = sc.app.reload(parseConfig(JSON.stringify({ ...sc.config, upstream: { ...upstream, private_key: next.export({ format: 'pem', type: 'pkcs8' }), private_key_kid: 'new' } }), {}))
  t.strictSame(plan.applied, ['/upstream/private_key', '/upstream/private_key_kid', '/upstream/token_endpoint_auth_signing_alg'])
  const refreshed = await post(`${sc.url}/token`, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { authorization: console })
  t.equal(refreshed.status, 200)
  t.strictSame(seen.map(s => decodeProtectedHeader(String(s.params.client_assertion))), [
    { alg: 'RS256', typ: 'client-authentication+jwt', kid: 'old' },
    { alg: 'ES256', typ: 'client-authentication+jwt', kid: 'new' }
  ], 'the code exchange with the old key, the refresh after the reload with the new one')
})

t.test('client_assertion_audience: token_endpoint addresses the assertion to the token endpoint, typ JWT (RFC 7523 as first deployed)', async t => {
  const client = keyClient('ec-tv', ecJwk, publicJwk(ec, 'ec-key-1', 'ES256'), { client_assertion_audience: 'token_endpoint' })
  const seen: Seen[] = []
  const sc = await startSidecar({ config: { clients: [...CLIENTS, client.device] }, extraClients: url => [client.idp(url)], configure: recordClientAuth(seen) })
  t.teardown(sc.close)
  await deviceLogin(sc, 'ec-tv')
  t.equal(seen.length, 1)
  checkAssertion(t, seen[0]!, { client_id: 'ec-tv-at-idp', aud: `${sc.url}/token`, kid: 'ec-key-1', alg: 'ES256', typ: 'JWT' })
})

t.test('with its certificate (as Entra ID finds keys), the header carries the certificate\'s thumbprints, x5t and x5t#S256', async t => {
  const kid = await thumbprintOf(rsa)
  const seen: Seen[] = []
  const sc = await startSidecar({
    upstreamJwks: { keys: [publicJwk(rsa, kid, 'PS256') as Record<string, unknown>] },
    config: { upstream: { client_secret: undefined, token_endpoint_auth_method: 'private_key_jwt', private_key: { file: rsaFile }, certificate: { file: rsaCertFile }, token_endpoint_auth_signing_alg: 'PS256', client_assertion_audience: 'token_endpoint' } },
    configure: recordClientAuth(seen)
  })
  t.teardown(sc.close)
  await deviceLogin(sc, 'console', basic('console', 'console-secret-1'))
  t.equal(seen.length, 1)
  t.strictSame(decodeProtectedHeader(String(seen[0]!.params.client_assertion)), {
    alg: 'PS256',
    typ: 'JWT',
    kid,
    x5t: createHash('sha1').update(rsaCert.raw).digest('base64url'),
    'x5t#S256': createHash('sha256').update(rsaCert.raw).digest('base64url')
  })
  t.equal(decodeJwt(String(seen[0]!.params.client_assertion)).aud, `${sc.url}/token`)
})

t.test('a key the IdP does not hold (invalid_client) is a misconfiguration: the person is told, the operator sees why, the device hears so', async t => {
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  const client = keyClient('ec-tv', ecJwk, publicJwk(other, 'ec-key-1', 'ES256'))
  const sc = await startSidecar({ config: { clients: [...CLIENTS, client.device] }, extraClients: url => [client.idp(url)] })
  t.teardown(sc.close)
  const da = await authorize(sc, { client_id: 'ec-tv', scope: 'openid' })
  const { final } = await approveOnPhone(new Browser(), da.json.verification_uri_complete)
  t.equal(new URL(final.url).pathname, '/device/callback')
  t.equal(final.status, 502)
  t.match(final.html, `<h1>${MISCONFIGURED_TITLE}</h1>`)
  const ref = /Reference: ([^<\s]+)/.exec(final.html)?.[1]
  const line = sc.logs.map(l => JSON.parse(l) as Record<string, unknown>).find(l => l.reqId === ref && l.level === 50)
  t.match(line, { idp_error: 'invalid_client', idp_error_description: 'client authentication failed', step: 'code_exchange', client_id: 'ec-tv' }, 'an error line for the operator')
  sc.clock.advance(5_000)
  t.strictSame((await poll(sc, da.json.device_code, 'ec-tv')).json, { error: 'access_denied', error_description: 'the identity provider could not handle the sign-in request (invalid_client); its set-up for this service needs fixing' })
  t.notOk(sc.logs.join('\n').includes(String(ecJwk.d)), 'the key is never logged')
})

/** The problem lines a config gives, or [] when it loads. */
function problems (upstream: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, clientUpstream?: Record<string, unknown>): string[] {
  const doc = {
    server: { public_url: 'http://127.0.0.1:8080' },
    upstream: { url: 'http://127.0.0.1:3001', client_id: 'sidecar', ...upstream },
    clients: [{ client_id: 'tv', ...(clientUpstream === undefined ? {} : { upstream: { client_id: 'tv-at-idp', ...clientUpstream } }) }]
  }
  try {
    parseConfig(JSON.stringify(doc), env)
    return []
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    return err.message.split('\n').slice(1).map(l => l.trim())
  }
}

t.test('config: every problem with a key is reported by path, and none quotes the key', async t => {
  const pkjwt = { token_endpoint_auth_method: 'private_key_jwt' }
  const rsaPublicPem = createPublicKey(rsa).export({ format: 'pem', type: 'spki' }) as string
  const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
  const secp256k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
  const { d: _d, ...ecPublicJwk } = ecJwk
  t.strictSame(problems({ ...pkjwt }), ['/upstream/private_key: is required for private_key_jwt'])
  t.strictSame(problems({ ...pkjwt, private_key: rsaPem, client_secret: 'a-secret-of-my-own-42' }), ['/upstream/client_secret: is set, but token_endpoint_auth_method is private_key_jwt (which sends no secret)'])
  t.strictSame(problems({ client_secret: 'a-secret-of-my-own-42', private_key: rsaPem, private_key_kid: 'k' }), [
    '/upstream/private_key: is set, but token_endpoint_auth_method is client_secret_basic (set it to private_key_jwt to sign in with the key)',
    '/upstream/private_key_kid: is set, but token_endpoint_auth_method is client_secret_basic (set it to private_key_jwt to sign in with the key)'
  ])
  t.strictSame(problems({ ...pkjwt, private_key: 'not a key' }), ['/upstream/private_key: is not a PEM private key (-----BEGIN PRIVATE KEY-----, PKCS#8) or a JWK'])
  t.strictSame(problems({ ...pkjwt, private_key: '{"kty": "EC",' }), ['/upstream/private_key: is neither a PEM private key nor a JWK (its JSON does not parse)'])
  t.strictSame(problems({ ...pkjwt, private_key: rsaPublicPem }), ['/upstream/private_key: is a public key; give the private key here, and its public half to the IdP'])
  t.strictSame(problems({ ...pkjwt, private_key: ecPublicJwk }), ['/upstream/private_key: is a public JWK (it has no "d"); give the private key here, and its public half to the IdP'])
  t.strictSame(problems({ ...pkjwt, private_key: { kty: 'oct', k: 'c2VjcmV0' } }), ['/upstream/private_key: must be a PEM private key, or a private JWK (a mapping with kty and d, or its JSON text)'], 'a member no JWK of ours has: the schema refuses it')
  t.strictSame(problems({ ...pkjwt, private_key: '{"kty":"oct","k":"c2VjcmV0"}' }), ['/upstream/private_key: is a symmetric key (kty oct); private_key_jwt signs with an RSA, EC or Ed25519 private key'])
  t.strictSame(problems({ ...pkjwt, private_key: short }), ['/upstream/private_key: is an RSA key shorter than 2048 bits'])
  t.strictSame(problems({ ...pkjwt, private_key: secp256k1 }), ['/upstream/private_key: is an EC key on a curve JWS does not sign with; use P-256, P-384 or P-521'])
  t.strictSame(problems({ ...pkjwt, private_key: { kty: 'RSA', n: 'AQAB', e: 'AQAB', d: 'AQAB' } }), ['/upstream/private_key: is not a usable private JWK'], 'an RSA JWK without its primes')
  const x25519 = generateKeyPairSync('x25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
  t.strictSame(problems({ ...pkjwt, private_key: x25519 }), ['/upstream/private_key: is a x25519 key; private_key_jwt here signs with an RSA, EC (P-256, P-384, P-521) or Ed25519 key'], 'a key that cannot sign')
  const p384 = parseConfig(JSON.stringify({ server: { public_url: 'http://127.0.0.1:8080' }, upstream: { url: 'http://127.0.0.1:3001', client_id: 'sidecar', ...pkjwt, private_key: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ format: 'jwk' }) }, clients: [{ client_id: 'tv' }] }), {})
  t.equal(p384.upstream.token_endpoint_auth_signing_alg, 'ES384', 'the alg of the curve')
  t.strictSame(problems({ ...pkjwt, private_key: rsaPem, token_endpoint_auth_signing_alg: 'ES256' }), ['/upstream/token_endpoint_auth_signing_alg: ES256 does not fit the private_key, an RSA key (it signs with RS256 or another RS/PS alg)'])
  t.strictSame(problems({ ...pkjwt, private_key: ecJwk, token_endpoint_auth_signing_alg: 'ES384' }), ['/upstream/token_endpoint_auth_signing_alg: ES384 does not fit the private_key, an EC P-256 key (it signs with ES256)'])
  t.strictSame(problems({ ...pkjwt, private_key: edJwkText, token_endpoint_auth_signing_alg: 'RS256' }), ['/upstream/token_endpoint_auth_signing_alg: RS256 does not fit the private_key, an Ed25519 key (it signs with EdDSA or Ed25519)'])
  t.strictSame(problems({ ...pkjwt, private_key: rsaPem, token_endpoint_auth_signing_alg: 'HS256' }), ['/upstream/token_endpoint_auth_signing_alg: must be one of "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"'])
  t.strictSame(problems({ client_secret: 'a-secret-of-my-own-42' }, {}, { ...pkjwt, private_key: 'not a key' }), ['/clients/0/upstream/private_key: is not a PEM private key (-----BEGIN PRIVATE KEY-----, PKCS#8) or a JWK'], 'the same in a client\'s upstream block')
  t.strictSame(problems({ client_secret: 'a-secret-of-my-own-42' }, {}, { ...pkjwt }), ['/clients/0/upstream/private_key: is required for private_key_jwt'])
  t.strictSame(problems({ ...pkjwt, private_key: rsaPem, certificate: rsaPem }), ['/upstream/certificate: is not a PEM X.509 certificate (-----BEGIN CERTIFICATE-----)'])
  t.strictSame(problems({ ...pkjwt, private_key: ecJwk, certificate: { file: rsaCertFile } }), ['/upstream/certificate: certifies another key than private_key'])
  t.strictSame(problems({ client_secret: 'a-secret-of-my-own-42', certificate: { file: rsaCertFile } }), ['/upstream/certificate: is set, but token_endpoint_auth_method is client_secret_basic (set it to private_key_jwt to sign in with the key)'])
  t.strictSame(problems({ ...pkjwt, private_key: { file: join(dir, 'missing.pem') } }), [`/upstream/private_key/file: ${join(dir, 'missing.pem')} cannot be read (ENOENT)`])
  t.strictSame(problems({ ...pkjwt, private_key: '${SIDECAR_KEY}' }), ['/upstream/private_key: environment variable SIDECAR_KEY is not set'])
  const cut = rsaPem.split('\n').filter((_, i) => i !== 3).join('\n')
  t.strictSame(problems({ ...pkjwt, private_key: cut }), ['/upstream/private_key: is not a PEM private key (-----BEGIN PRIVATE KEY-----, PKCS#8) or a JWK'], 'a damaged PEM: the key is not quoted')
  t.strictSame(problems({ ...pkjwt, private_key: { ...ecJwk, d: 'AAAA' } }), ['/upstream/private_key: does not hold together: what it signs does not verify with its own public part (a JWK\'s "d" that does not belong to its x, y or n?)'], 'a damaged JWK: the key is not quoted')

  const loaded = parseConfig(JSON.stringify({
    server: { public_url: 'http://127.0.0.1:8080' },
    upstream: { url: 'http://127.0.0.1:3001', client_id: 'sidecar', ...pkjwt, private_key: '${SIDECAR_KEY}', token_endpoint_auth_signing_alg: 'PS256', private_key_kid: 'mine' },
    clients: [{ client_id: 'tv', upstream: { client_id: 'tv-at-idp', ...pkjwt, private_key: { file: edFile } } }]
  }), { SIDECAR_KEY: rsaPem })
  t.equal(loaded.upstream.private_key, rsaPem, '${VAR} gives the PEM')
  t.equal(loaded.upstream.token_endpoint_auth_signing_alg, 'PS256', 'a configured alg that fits is kept')
  t.equal(loaded.upstream.private_key_kid, 'mine')
  t.equal(loaded.upstream.client_assertion_audience, 'issuer', 'the issuer by default')
  t.equal(loaded.clients[0]!.upstream!.private_key, edJwkText, '{ file } gives the JWK text, trailing newline trimmed')
  t.equal(loaded.clients[0]!.upstream!.token_endpoint_auth_signing_alg, 'EdDSA')
  t.equal(loaded.clients[0]!.upstream!.private_key_kid, await thumbprintOf(ed), 'the thumbprint, as jose computes it')
  const shown = redact(loaded) as { upstream: Record<string, unknown>; clients: Array<{ upstream: Record<string, unknown> }> }
  t.equal(shown.upstream.private_key, '[redacted]')
  t.equal(shown.clients[0]!.upstream.private_key, '[redacted]')
})

t.test('--print-jwks prints the JWK Set each IdP client is registered with: public keys, the kid and alg the sidecar sends', async t => {
  const pemFile = join(dir, 'sidecar.pem')
  writeFileSync(pemFile, rsaPem)
  const file = join(dir, 'sidecar.yaml')
  writeFileSync(file, [
    'server: { public_url: "http://127.0.0.1:8080" }',
    `upstream: { url: "http://127.0.0.1:3001", client_id: sidecar, token_endpoint_auth_method: private_key_jwt, private_key: { file: ${JSON.stringify(pemFile)} }, certificate: { file: ${JSON.stringify(rsaCertFile)} } }`,
    `clients: [{ client_id: tv, upstream: { client_id: tv-at-idp, token_endpoint_auth_method: private_key_jwt, private_key: ${JSON.stringify(JSON.stringify(ecJwk))} } }, { client_id: cli, token_endpoint_auth_method: client_secret_post, client_secret: "a-secret-of-my-own-42" }]`
  ].join('\n'))
  const run = (...args: string[]) => spawnSync(process.execPath, ['dist/src/main.js', ...args], { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '' } })
  const r = run('--config', file, '--print-jwks')
  t.equal(r.stderr, '')
  t.equal(r.status, 0)
  t.strictSame(JSON.parse(r.stdout), {
    sidecar: { keys: [{ ...publicJwk(rsa, await thumbprintOf(rsa), 'RS256'), x5c: [rsaCert.raw.toString('base64')], 'x5t#S256': createHash('sha256').update(rsaCert.raw).digest('base64url') }] },
    'tv-at-idp': { keys: [publicJwk(ec, 'ec-key-1', 'ES256')] }
  })
  t.notOk(/"(d|p|q|dp|dq|qi)"/.test(r.stdout), 'no private member')

  writeFileSync(file, 'server: { public_url: "http://127.0.0.1:8080" }\nupstream: { url: "http://127.0.0.1:3001", client_id: sidecar, client_secret: "a-secret-of-my-own-42" }\nclients: [{ client_id: tv }]\n')
  const none = run('--config', file, '--print-jwks')
  t.equal(none.status, 1)
  t.equal(none.stdout, '')
  t.equal(none.stderr, 'no IdP client signs in with a key: set token_endpoint_auth_method: private_key_jwt and private_key in upstream or a client\'s upstream\n')
})
