import type { IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import t from 'tap'
import { canonicalPath } from '../../src/http/plumbing/own_paths.js'
import { authorize, DEVICE_GRANT } from '../helpers/http.js'
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js'

/**
 * Issue 13, finding 8: `POST /token/`, `/TOKEN`, `/./token` reached the IdP's token endpoint past
 * the sidecar's refresh binding, audit and metrics. A request whose path folds (case, trailing
 * slash, dot segments, percent-encoding, `;` parameters, `\`) to one of the sidecar's own paths is
 * answered by the sidecar, redirected to the own path (GET, HEAD) or refused with 400: never
 * proxied. Requests are written on raw sockets so that the path arrives exactly as written.
 */

const PENDING = { error: 'authorization_pending', error_description: 'the user has not yet completed the authorization' }
const REFUSED = { error: 'invalid_request', error_description: 'the request path is a variant of one of the sidecar\'s own; use its exact spelling' }

interface RawReply { status: number; headers: Record<string, string>; body: string; json: unknown }

/** One request on a fresh connection, target and headers exactly as given; resolves once the answer is complete. */
async function raw (sc: TestSidecar, method: string, target: string, headers: Record<string, string> = {}, body = ''): Promise<RawReply> {
  const { port } = new URL(sc.url)
  const socket = connect(Number(port), '127.0.0.1')
  const lines = [`${method} ${target} HTTP/1.1`, `host: 127.0.0.1:${port}`, `content-length: ${Buffer.byteLength(body)}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)]
  socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`)
  let text = ''
  let reply: RawReply | undefined
  for await (const chunk of socket) {
    text += (chunk as Buffer).toString('latin1')
    reply = parsed(text, method === 'HEAD')
    if (reply !== undefined) break
  }
  socket.destroy()
  if (reply === undefined) throw new Error(`no complete answer to ${method} ${target}: ${text.slice(0, 200)}`)
  return reply
}

/** The answer in `text` once it is complete (by Content-Length or the last chunk). */
function parsed (text: string, head: boolean): RawReply | undefined {
  const end = text.indexOf('\r\n\r\n')
  if (end === -1) return undefined
  const [statusLine, ...fields] = text.slice(0, end).split('\r\n')
  const headers: Record<string, string> = {}
  for (const f of fields) headers[f.slice(0, f.indexOf(':')).toLowerCase()] = f.slice(f.indexOf(':') + 1).trim()
  let payload = text.slice(end + 4)
  if (head) payload = ''
  else if (headers['transfer-encoding'] === 'chunked') {
    if (!payload.endsWith('0\r\n\r\n')) return undefined
    payload = unchunk(payload)
  } else if (payload.length < Number(headers['content-length'] ?? 0)) return undefined
  let json: unknown
  try { json = JSON.parse(payload) } catch { json = undefined }
  return { status: Number(statusLine!.split(' ')[1]), headers, body: payload, json }
}

function unchunk (s: string): string {
  let out = ''
  let i = 0
  for (let n = 0; n < 1000; n++) {
    const eol = s.indexOf('\r\n', i)
    const size = parseInt(s.slice(i, eol), 16)
    if (!(size > 0)) break
    out += s.slice(eol + 2, eol + 2 + size)
    i = eol + 2 + size + 2
  }
  return out
}

/** The URLs of the requests the proxy or the token pass-through sent to the IdP (they carry X-Forwarded-For; the back channel's own calls do not). */
function proxiedToIdp (sc: TestSidecar): string[] {
  const seen: string[] = []
  sc.idp.server.on('request', (req: IncomingMessage) => { if (req.headers['x-forwarded-for'] !== undefined) seen.push(`${req.method!} ${req.url!}`) })
  return seen
}

const form = (deviceCode: string): string => new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: 'tv-app' }).toString()
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

t.test('canonicalPath folds every spelling a server on the way may take for the same path', async t => {
  const realm = '/realms/main/protocol/openid-connect/token'
  for (const variant of [
    realm, `${realm}/`, `${realm}?x=1`, `${realm}#f`, '/REALMS/Main/protocol/openid-connect/TOKEN', '/realms//main///protocol/openid-connect/token//',
    '/realms/./main/protocol/openid-connect/./token', '/realms/x/../main/protocol/y/z/../../openid-connect/token', '/realms/main/protocol/openid-connect/%74oken',
    '/realms%2Fmain%2fprotocol/openid-connect/token', '/realms/main/protocol/openid-connect/%2574oken', '/realms;a=b/main/protocol;x/openid-connect/token;jsessionid=1',
    '\\realms\\main\\protocol\\openid-connect\\token', '/realms/main/protocol/openid-connect/%2e/token', '/realms/main/protocol/openid-connect/..;/openid-connect/token',
    '/realms/main/protocol/openid-connect/token.', '/realms/main/protocol/openid-connect/\u017Fomething/../token', '/realms/main/protocol/openid-connect/to%C4%B0ken/../token'
  ]) t.equal(canonicalPath(variant), realm, variant)
  t.equal(canonicalPath('/'), '/')
  t.equal(canonicalPath('/../..'), '/')
  t.equal(canonicalPath('/tok\u212Aen'), '/tokken', 'the Kelvin sign folds to k')
  t.equal(canonicalPath('/%C5%BFtoken'), '/stoken', 'long s folds to s')
  t.equal(canonicalPath('/%zz/token'), '/%zz/token', 'a malformed escape stays as written')
  t.equal(canonicalPath('/%E0%A4%A/token'), '/%e0%a4%a/token', 'so does a truncated UTF-8 sequence')
  t.equal(canonicalPath('/%25252574oken'), '/%74oken', 'three rounds of decoding at most')
  t.not(canonicalPath('/tokens'), '/token')
  t.not(canonicalPath('/token/x'), '/token')
})

t.test('paths that fold to the sidecar\'s own are the sidecar\'s, never proxied', async t => {
  const sc = await startSidecar({ config: { limits: { enabled: false } } })
  t.teardown(sc.close)
  const seen = proxiedToIdp(sc)

  t.test('the token path: each variant is answered like /token or refused with 400', async t => {
    const answeredHere = ['/token', '/token?', '/token?x=1', '/%74oken', '/to%6Ben', '/token#frag']
    const refused = ['/TOKEN', '/Token', '/token/', '/token//', '/./token', '/a/../token', '//token', '/token%2f', '/token%2F', '/token;x', '/token;jsessionid=1',
      '/%2e/token', '/token/.', '/token\\', '/%2574oken', '/.//token//', '/tok%65n%3bx', '/%5ctoken', '/token%00', '/to%C4%B8en/../token/', '/tok%C3%A9n/../token',
      '/device/callback/../../token']
    for (const path of [...answeredHere, ...refused]) {
      const da = await authorize(sc)
      const res = await raw(sc, 'POST', path, FORM, form(da.json.device_code))
      t.equal(res.status, 400, path)
      t.strictSame(res.json, answeredHere.includes(path) ? PENDING : REFUSED, path)
      t.equal(res.headers['cache-control'], 'no-store', path)
    }
    t.strictSame(seen, [], 'nothing reached the IdP')
  })

  t.test('an IdP client gets no token from the IdP through a variant of the token path', async t => {
    seen.length = 0
    const body = new URLSearchParams({ grant_type: 'client_credentials', scope: 'api' }).toString()
    const auth = { ...FORM, authorization: `Basic ${Buffer.from('web-app:web-secret-Xy7').toString('base64')}` }
    for (const path of ['/TOKEN', '/token/', '/./token', '/token;x']) {
      const res = await raw(sc, 'POST', path, auth, body)
      t.equal(res.status, 400, path)
      t.strictSame(res.json, REFUSED, path)
    }
    t.strictSame(seen, [])
    const canonical = await raw(sc, 'POST', '/token', auth, body)
    t.equal(canonical.status, 200, 'the exact path still passes the IdP\'s own clients through')
    t.strictSame(seen, ['POST /token'])
  })

  t.test('the device authorization path: each variant is answered like it or refused with 400', async t => {
    seen.length = 0
    const body = new URLSearchParams({ client_id: 'tv-app', scope: 'openid' }).toString()
    for (const path of ['/device_authorization', '/device%5Fauthorization', '/device_authorization?']) {
      const res = await raw(sc, 'POST', path, FORM, body)
      t.equal(res.status, 200, path)
      t.match(res.json, { device_code: /^[\w-]{43}$/, user_code: /^[A-Z]{4}-[A-Z]{4}$/ }, path)
    }
    for (const path of ['/DEVICE_AUTHORIZATION', '/device_authorization/', '/./device_authorization', '//device_authorization', '/device_authorization;x', '/x/../device_authorization', '/Device%5fAuthorization/']) {
      const res = await raw(sc, 'POST', path, FORM, body)
      t.equal(res.status, 400, path)
      t.strictSame(res.json, REFUSED, path)
    }
    t.strictSame(seen, [])
  })

  t.test('the pages, the callback and discovery: GET variants are redirected to the own path, other methods refused', async t => {
    seen.length = 0
    const redirects: Array<[string, string]> = [
      ['/DEVICE', '/device'],
      ['/Device?user_code=BCDF-GHJK', '/device?user_code=BCDF-GHJK'],
      ['/device/', '/device'],
      ['/./device;x?user_code=BCDF', '/device?user_code=BCDF'],
      ['/device/callback/?code=abc&state=xyz', '/device/callback?code=abc&state=xyz'],
      ['/DEVICE/Callback?error=access_denied', '/device/callback?error=access_denied'],
      ['/.well-known/openid-configuration/', '/.well-known/openid-configuration'],
      ['/.WELL-KNOWN/oauth-authorization-server', '/.well-known/oauth-authorization-server'],
      ['/healthz/', '/healthz'],
      ['/ReadyZ', '/readyz']
    ]
    for (const [path, location] of redirects) {
      const res = await raw(sc, 'GET', path)
      t.equal(res.status, 308, path)
      t.equal(res.headers.location, location, path)
      t.equal(res.headers['cache-control'], 'no-store', path)
    }
    const head = await raw(sc, 'HEAD', '/Device')
    t.equal(head.status, 308)
    t.equal(head.headers.location, '/device')
    const post = await raw(sc, 'POST', '/DEVICE', FORM, 'user_code=BCDF-GHJK')
    t.equal(post.status, 400)
    t.strictSame(post.json, REFUSED)
    const put = await raw(sc, 'PUT', '/device/callback/', FORM, 'x=1')
    t.equal(put.status, 400)
    t.strictSame(put.json, REFUSED)
    t.strictSame(seen, [])
  })

  t.test('every other path is still proxied as written, odd spellings included', async t => {
    seen.length = 0
    for (const path of ['/echo/TOKEN', '/echo/a%2Fb;c', '/echo/%74oken/', '/echo/./x', '/echo/Device?user_code=x']) {
      const res = await raw(sc, 'GET', path)
      t.equal(res.status, 200, path)
      t.equal((res.json as { url: string }).url, path.replace('/./', '/'), `${path}: the IdP saw the path as the proxy's URL parser left it`)
    }
    const tokens = await raw(sc, 'GET', '/tokens')
    t.equal(tokens.status, 404, 'a longer path is the IdP\'s')
    t.strictSame(seen, ['GET /echo/TOKEN', 'GET /echo/a%2Fb;c', 'GET /echo/%74oken/', 'GET /echo/x', 'GET /echo/Device?user_code=x', 'GET /tokens'])
  })

  t.test('an absolute-form target naming a variant is not proxied either', async t => {
    seen.length = 0
    const da = await authorize(sc)
    const res = await raw(sc, 'POST', `${sc.url}/TOKEN`, FORM, form(da.json.device_code))
    t.ok(res.status >= 400 && res.status < 500, `answered ${res.status}`)
    t.strictSame(seen, [])
  })
})

t.test('separate origin (upstream.proxy: false): variants are not found, as before', async t => {
  const sc = await startSidecar({ config: { upstream: { proxy: false } } })
  t.teardown(sc.close)
  const seen = proxiedToIdp(sc)
  const da = await authorize(sc)
  const res = await raw(sc, 'POST', '/TOKEN', FORM, form(da.json.device_code))
  t.equal(res.status, 404)
  t.strictSame(res.json, { error: 'invalid_request', error_description: 'no such endpoint' })
  t.strictSame(seen, [])
})
