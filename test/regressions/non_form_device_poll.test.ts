import t, { type Test } from 'tap'
import { DEVICE_GRANT, authorize, basic, post } from '../helpers/http.js'
import { startSidecar, WEB_CLIENT } from '../helpers/sidecar.js'

// issue 14, item 6: a device_code poll whose body was not a form (JSON, text/plain) was relayed to
// the IdP, which answered as it liked (glewlwyd: 400 with an empty body), while the README promised
// invalid_request. The rule: a non-form token request is the sidecar's to refuse with
// invalid_request when it mentions the device_code grant, or names one of the sidecar's clients
// (Basic header, or client_id in a JSON object or a form-looking text body); any other non-form
// request goes to the IdP untouched.

const NOT_A_FORM = { error: 'invalid_request', error_description: 'the request body must be application/x-www-form-urlencoded' }

t.test('non-form token requests', async t => {
  const sc = await startSidecar({ idpDeviceFlow: { path: '/device_authorization' } })
  t.teardown(sc.close)
  const { json: da } = await authorize(sc)
  const token = `${sc.url}/token`
  const refused = async (t: Test, body: string | Buffer, headers: Record<string, string>, what: string) => {
    const res = await post(token, body, headers)
    t.equal(res.status, 400, what)
    t.strictSame(res.json, NOT_A_FORM, what)
    t.equal(res.headers['cache-control'], 'no-store')
    t.match(res.headers['content-type'], /^application\/json/)
  }

  t.test('a JSON device_code poll gets invalid_request from the sidecar', async t => {
    await refused(t, JSON.stringify({ grant_type: DEVICE_GRANT, device_code: da.device_code, client_id: 'tv-app' }), { 'content-type': 'application/json' }, 'JSON, client in the body')
    await refused(t, JSON.stringify({ grant_type: DEVICE_GRANT, device_code: da.device_code }), { 'content-type': 'application/json', authorization: basic('console', 'console-secret-1') }, 'JSON, client in Basic')
    await refused(t, JSON.stringify({ grant_type: DEVICE_GRANT, device_code: 'x', client_id: 'idp-own-tv' }), { 'content-type': 'application/json' }, 'JSON, a client the sidecar does not know')
  })

  t.test('a text/plain or untyped form-looking device_code poll too', async t => {
    const form = new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: da.device_code, client_id: 'tv-app' }).toString()
    await refused(t, form, { 'content-type': 'text/plain' }, 'text/plain')
    await refused(t, Buffer.from(form), {}, 'no content type')
    await refused(t, form, { 'content-type': 'application/x-www-form-urlencodedx' }, 'a look-alike type')
    await refused(t, `--b\r\ncontent-disposition: form-data; name="grant_type"\r\n\r\n${DEVICE_GRANT.toUpperCase()}\r\n--b--\r\n`, { 'content-type': 'multipart/form-data; boundary=b' }, 'multipart')
  })

  t.test('a non-form refresh of one of the sidecar\'s clients gets invalid_request', async t => {
    await refused(t, JSON.stringify({ grant_type: 'refresh_token', refresh_token: 'x' }), { 'content-type': 'application/json', authorization: basic('console', 'console-secret-1') }, 'Basic')
    await refused(t, JSON.stringify({ grant_type: 'refresh_token', refresh_token: 'x', client_id: 'tv-app' }), { 'content-type': 'application/json' }, 'JSON client_id')
    await refused(t, 'grant_type=refresh_token&refresh_token=x&client_id=cli', { 'content-type': 'text/plain' }, 'form-looking text')
  })

  t.test('the poll that was refused left the grant untouched', async t => {
    sc.clock.advance(10_000)
    const res = await post(token, { grant_type: DEVICE_GRANT, device_code: da.device_code, client_id: 'tv-app' })
    t.strictSame(res.json, { error: 'authorization_pending', error_description: 'the user has not yet completed the authorization' })
  })

  t.test('other non-form requests of clients the sidecar does not know go to the IdP untouched', async t => {
    const res = await post(token, JSON.stringify({ grant_type: 'client_credentials', scope: 'api' }), { 'content-type': 'application/json', authorization: basic(WEB_CLIENT.client_id, WEB_CLIENT.client_secret!) })
    t.equal(res.status, 400)
    t.equal(res.json?.error, 'invalid_request')
    t.not(res.json?.error_description, NOT_A_FORM.error_description, 'the IdP\'s own words')
    const none = await post(token, 'hello', { 'content-type': 'text/plain' })
    t.equal(none.status, 400)
    t.not(none.json?.error_description, NOT_A_FORM.error_description, 'no client named: the IdP\'s')
  })
})
