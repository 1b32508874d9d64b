import t from 'tap'
import { approveOnPhone, Browser } from '../helpers/browser.js'
import { pythonMissing, startPythonDevice } from '../helpers/python.js'
import { startSidecar } from '../helpers/sidecar.js'

const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/
const skip = pythonMissing() ?? false

t.test('a Python device (oauthlib DeviceClient over requests) logs in, honouring pending and slow_down, then refreshes', { skip }, async t => {
  // the device sleeps for real between polls; the sidecar's TestClock runs in real time too
  const sc = await startSidecar({ config: { device_flow_settings: { device_flow_polling_interval_seconds: 1 } } })
  t.teardown(sc.close)
  const device = startPythonDevice(sc.url, ['--max-seconds', '40'])
  t.teardown(device.kill)

  const shown = await device.next()
  t.strictSame(Object.keys(shown).sort(), ['user_code', 'verification_uri_complete'])
  t.match(shown.user_code, USER_CODE)
  t.equal(shown.verification_uri_complete, `${sc.url}/device?user_code=${String(shown.user_code)}`)

  t.strictSame(await device.next(), { poll: 'authorization_pending', next_poll_in: 1 })
  // seen from the sidecar, the next poll comes 1.5 s early: it answers slow_down, the device adds 5 s
  sc.clock.advance(-1_500)
  const slowed = await device.next()
  sc.clock.advance(1_500)
  t.strictSame(slowed, { poll: 'slow_down', next_poll_in: 6 })

  const { final } = await approveOnPhone(new Browser(), String(shown.verification_uri_complete))
  t.equal(final.status, 200)
  t.match(final.html, 'Device connected')

  const keys = ['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type']
  t.strictSame(await device.next(), { token_response_keys: keys })
  // the sidecar hands a public client a new refresh token on every refresh
  t.strictSame(await device.next(), { refresh_response_keys: keys, refresh_token_rotated: true, access_token_changed: true })
  t.equal(await device.exit, 0)
  t.equal(device.stderr(), '')

  // the sidecar, not the IdP, answered the device, and knew it by its user agent
  const events = sc.logs.map(l => JSON.parse(l) as Record<string, unknown>).filter(l => typeof l.event === 'string')
  t.match(events.find(e => e.event === 'grant.redeemed'), { client_id: 'tv-app', sub: 'alice', device_user_agent: /^python-device-client\/1 oauthlib\/\S+ requests\/\S+$/ })
  t.match(events.find(e => e.event === 'token.refreshed'), { client_id: 'tv-app' })
  for (const code of [String(shown.user_code), String(shown.user_code).replace('-', '')]) {
    t.notOk(sc.logs.some(l => l.includes(code)), `no log line holds the user code as ${code}`)
  }
})

t.test('the Python device stops polling when the person says no', { skip }, async t => {
  const sc = await startSidecar({ config: { device_flow_settings: { device_flow_polling_interval_seconds: 1 } } })
  t.teardown(sc.close)
  const device = startPythonDevice(sc.url, ['--max-seconds', '40'])
  t.teardown(device.kill)

  const shown = await device.next()
  const { final } = await approveOnPhone(new Browser(), String(shown.verification_uri_complete), { choice: 'deny' })
  t.match(final.html, 'Request denied')
  // the device polls every second, so it may have polled while the person was on the pages
  let line = await device.next()
  for (let polls = 0; polls < 10 && line.poll !== undefined; polls++) {
    t.strictSame(line, { poll: 'authorization_pending', next_poll_in: 1 })
    line = await device.next()
  }
  t.strictSame(line, { error: 'access_denied', error_description: 'the user denied the authorization request' })
  t.equal(await device.exit, 1)
  t.equal(device.stderr(), '')
})
