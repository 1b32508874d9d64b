import t from 'tap'
import { request } from 'undici'
import { startSidecar } from './helpers/sidecar.js'

const FORM = 'application/x-www-form-urlencoded'
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code'
const huge = `client_id=tv-app&pad=${'a'.repeat(200_000)}`

/** [what, method, path, content-type, body, expected status, expected error] */
type Row = [string, 'GET' | 'POST' | 'PUT' | 'DELETE', string, string | undefined, string | undefined, number, string]

const rows: Row[] = [
  ['repeated client_id', 'POST', '/device_authorization', FORM, 'client_id=tv-app&client_id=tv-app', 400, 'invalid_request'],
  ['repeated scope', 'POST', '/device_authorization', FORM, 'client_id=tv-app&scope=openid&scope=email', 400, 'invalid_request'],
  ['JSON body', 'POST', '/device_authorization', 'application/json', '{"client_id":"tv-app"}', 400, 'invalid_request'],
  ['text body', 'POST', '/device_authorization', 'text/plain', 'client_id=tv-app', 400, 'invalid_request'],
  ['no content type', 'POST', '/device_authorization', undefined, 'client_id=tv-app', 400, 'invalid_request'],
  ['no body', 'POST', '/device_authorization', FORM, undefined, 400, 'invalid_request'],
  ['huge body', 'POST', '/device_authorization', FORM, huge, 400, 'invalid_request'],
  ['bad percent-encoding', 'POST', '/device_authorization', FORM, 'client_id=%zz', 400, 'invalid_request'],
  ['truncated percent-encoding', 'POST', '/device_authorization', FORM, 'client_id=tv%2', 400, 'invalid_request'],
  ['invalid UTF-8 escape', 'POST', '/device_authorization', FORM, 'client_id=%C3%28', 400, 'invalid_request'],
  ['missing client_id', 'POST', '/device_authorization', FORM, 'scope=openid', 400, 'invalid_request'],
  ['empty client_id', 'POST', '/device_authorization', FORM, 'client_id=', 400, 'invalid_request'],
  ['GET', 'GET', '/device_authorization', undefined, undefined, 405, 'invalid_request'],
  ['PUT', 'PUT', '/device_authorization', FORM, 'client_id=tv-app', 405, 'invalid_request'],
  ['repeated grant_type', 'POST', '/token', FORM, `grant_type=${DEVICE}&grant_type=${DEVICE}&client_id=tv-app&device_code=x`, 400, 'invalid_request'],
  ['repeated device_code', 'POST', '/token', FORM, `grant_type=${encodeURIComponent(DEVICE)}&client_id=tv-app&device_code=a&device_code=b`, 400, 'invalid_request'],
  ['missing device_code', 'POST', '/token', FORM, `grant_type=${encodeURIComponent(DEVICE)}&client_id=tv-app`, 400, 'invalid_request'],
  ['bad percent-encoding', 'POST', '/token', FORM, `grant_type=${encodeURIComponent(DEVICE)}&client_id=tv-app&device_code=%G1`, 400, 'invalid_request'],
  ['huge body', 'POST', '/token', FORM, `grant_type=${encodeURIComponent(DEVICE)}&device_code=${'x'.repeat(200_000)}`, 400, 'invalid_request'],
  ['missing grant_type', 'POST', '/token', FORM, 'client_id=tv-app', 400, 'invalid_request'],
  ['another grant_type from a device client', 'POST', '/token', FORM, 'grant_type=password&client_id=tv-app', 400, 'unsupported_grant_type'],
  ['unknown grant_type (IdP answers)', 'POST', '/token', FORM, 'grant_type=password&client_id=web-app&client_secret=web-secret-Xy7', 400, 'unsupported_grant_type'],
  ['JSON body (IdP answers)', 'POST', '/token', 'application/json', '{"grant_type":"refresh_token"}', 400, 'invalid_request'],
  ['device grant without client', 'POST', '/token', FORM, `grant_type=${encodeURIComponent(DEVICE)}&device_code=x`, 400, 'invalid_request'],
  ['malformed Basic credentials', 'POST', '/token', FORM, `grant_type=${encodeURIComponent(DEVICE)}&device_code=x`, 401, 'invalid_client']
]

t.test('malformed requests get a 4xx with an RFC 6749 §5.2 body, never a 5xx', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  for (const [what, method, path, type, body, status, error] of rows) {
    t.test(`${method} ${path}: ${what} → ${status} ${error}`, async t => {
      const headers: Record<string, string> = {}
      if (type !== undefined) headers['content-type'] = type
      if (what === 'malformed Basic credentials') headers.authorization = 'Basic !!!notbase64'
      const res = await request(`${sc.url}${path}`, { method, headers, body })
      const text = await res.body.text()
      t.equal(res.statusCode, status)
      const json = JSON.parse(text)
      t.equal(json.error, error)
      t.type(json.error_description ?? '', 'string')
      t.equal(res.headers['cache-control'], 'no-store')
    })
  }

  const pages: Array<[string, 'GET' | 'POST', string, string | undefined, string | undefined, number]> = [
    ['no CSRF cookie', 'POST', '/device', FORM, 'user_code=BCDF-GHJK&csrf=x', 403],
    ['JSON body', 'POST', '/device', 'application/json', '{"user_code":"x"}', 400],
    ['repeated user_code', 'POST', '/device', FORM, 'user_code=a&user_code=b', 400],
    ['bad percent-encoding', 'POST', '/device', FORM, 'user_code=%zz', 400],
    ['huge body', 'POST', '/device', FORM, huge, 400],
    ['callback without state', 'GET', '/device/callback?code=abc', undefined, undefined, 400],
    ['callback with a state and no cookie', 'GET', '/device/callback?state=abc&code=x', undefined, undefined, 400],
    ['callback with bad percent-encoding', 'GET', '/device/callback?state=%zz&code=%', undefined, undefined, 400],
    ['verification page with repeated user_code', 'GET', '/device?user_code=A&user_code=B', undefined, undefined, 400]
  ]
  for (const [what, method, path, type, body, status] of pages) {
    t.test(`${method} ${path}: ${what} → ${status} page`, async t => {
      const res = await request(`${sc.url}${path}`, { method, headers: type === undefined ? {} : { 'content-type': type }, body })
      const text = await res.body.text()
      t.equal(res.statusCode, status)
      t.match(res.headers['content-type'], /^text\/html/)
      t.match(text, /<h1>[^<]+<\/h1>/)
      t.notMatch(text, /at .+\.(ts|js):\d+/, 'no stack trace')
    })
  }

  t.test('a malformed URL gets 400 invalid_request', async t => {
    const res = await request(`${sc.url}/device_authorization%E0%A4%A`, { method: 'POST' })
    t.ok(res.statusCode >= 400 && res.statusCode < 500, `status ${res.statusCode}`)
    await res.body.text()
  })
})
