/**
 * Finding 1 of the attack run: a 59 KB body of 10 000 value-less names (`p0&p1&…`) cost the
 * event loop 0.45–0.9 s in parseForm (an array scan per name), before any limit or CSRF check, on
 * the token path, the device authorization endpoint and the verification form. The parser is now
 * linear and refuses more than MAX_FORM_PARAMETERS parameters with invalid_request, on the fast
 * path (Content-Length bodies) and in fastify (chunked bodies) alike.
 */
import { Readable } from 'node:stream'
import t from 'tap'
import { request } from 'undici'
import { MAX_FORM_PARAMETERS, parseForm } from '../../src/oauth/form.js'
import { authorize, DEVICE_GRANT, poll } from '../helpers/http.js'
import { startSidecar } from '../helpers/sidecar.js'

const FORM = 'application/x-www-form-urlencoded'
const names = (n: number): string => Array.from({ length: n }, (_, i) => `p${i}`).join('&')
const FLOOD = names(10_000)
const TOO_MANY = { error: 'invalid_request', error_description: `the request has more than ${MAX_FORM_PARAMETERS} parameters` }

t.test('parseForm: a parameter cap, repeats still found among value-less names', async t => {
  t.equal(MAX_FORM_PARAMETERS, 64)
  const atCap = parseForm(FORM, names(MAX_FORM_PARAMETERS))
  t.strictSame(Object.keys(atCap), [], 'value-less names count as omitted')
  t.throws(() => parseForm(FORM, names(MAX_FORM_PARAMETERS + 1)), { error: 'invalid_request', message: TOO_MANY.error_description })
  t.throws(() => parseForm(FORM, FLOOD), { error: 'invalid_request', message: TOO_MANY.error_description })
  t.throws(() => parseForm(FORM, `${names(40)}&p7`), { error: 'invalid_request', message: 'parameter "p7" must not be repeated' })
  t.throws(() => parseForm(FORM, 'p7&a=1&p7=2'), { message: 'parameter "p7" must not be repeated' })
  t.strictSame({ ...parseForm(FORM, `${'&'.repeat(5000)}client_id=tv-app${'&'.repeat(5000)}`) }, { client_id: 'tv-app' }, 'empty segments are not parameters')
})

t.test('a flood of parameter names is refused on every form endpoint, fast path and fastify alike', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  const da = await authorize(sc)
  t.equal(da.status, 200)
  const targets: Array<[string, string]> = [
    ['/token', `grant_type=${encodeURIComponent(DEVICE_GRANT)}&client_id=tv-app&device_code=${da.json.device_code}&${FLOOD}`],
    ['/token', `grant_type=refresh_token&client_id=tv-app&${FLOOD}`],
    ['/device_authorization', `client_id=tv-app&${FLOOD}`]
  ]
  for (const [path, body] of targets) {
    for (const chunked of [false, true]) {
      // a stream body has no Content-Length: undici sends it chunked, and the fast path passes it to fastify
      const res = await request(`${sc.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': FORM },
        body: chunked ? Readable.from([Buffer.from(body)]) : body
      })
      t.equal(res.statusCode, 400, `${path} ${chunked ? 'chunked' : 'Content-Length'}`)
      t.strictSame(await res.body.json(), TOO_MANY)
      t.equal(res.headers['cache-control'], 'no-store')
    }
  }
  const page = await request(`${sc.url}/device`, { method: 'POST', headers: { 'content-type': FORM }, body: `user_code=BCDF-GHJK&${FLOOD}` })
  t.equal(page.statusCode, 400, 'the verification form refuses it before its CSRF check')
  t.match(await page.body.text(), 'The form could not be read')
  sc.clock.advance(5_000)
  const after = await poll(sc, da.json.device_code)
  t.equal(after.json.error, 'authorization_pending', 'the pending grant is still pollable')
})
