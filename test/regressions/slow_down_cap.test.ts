import t, { type Test } from 'tap'
import { parseConfig } from '../../src/config/load.js'
import { grantId } from '../../src/device/codes.js'
import { DEVICE_GRANT, authorize, get, post } from '../helpers/http.js'
import { redisMissing, startRedis } from '../helpers/redis.js'
import { ADMIN_TOKEN, startSidecar, type TestSidecar } from '../helpers/sidecar.js'

// issue 14, item 5: a device that kept polling too fast was told to wait 884 570 s, for a code
// that lives 600 s. A slow_down grows the interval by 5 s up to 60 s (MAX_SLOW_DOWN_INTERVAL), and
// never asks for more than the code's remaining lifetime.

const LIFETIME_S = 600
const skipRedis = redisMissing()

async function fastPolls (sc: TestSidecar, deviceCode: string, n: number): Promise<number[]> {
  const intervals: number[] = []
  for (let i = 0; i < n; i++) {
    const res = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: 'tv-app' })
    if (res.json?.error === 'slow_down') intervals.push(res.json.interval)
    else intervals.push(-res.status)
  }
  return intervals
}

/** The grant's expires_at (epoch ms), from the admin API. */
async function expiresAt (sc: TestSidecar, deviceCode: string): Promise<number> {
  const { json } = await get(`${sc.adminUrl}/admin/grants?client_id=tv-app&limit=1000`, { authorization: `Bearer ${ADMIN_TOKEN}` })
  return Date.parse((json.grants as Array<{ id: string; expires_at: string }>).find(g => g.id === grantId(deviceCode))!.expires_at)
}

function capSuite (store: () => Promise<{ config: Record<string, unknown>; stop?: () => Promise<void> }>) {
  return async (t: Test) => {
    const { config, stop } = await store()
    if (stop !== undefined) t.teardown(stop)
    const sc = await startSidecar({ config: { device_flow_settings: { device_flow_polling_interval_seconds: 5, device_flow_codelifetime_seconds: LIFETIME_S }, ...config } })
    t.teardown(sc.close)

    t.test('the interval grows by 5 s per slow_down up to 60 s, and stays there', async t => {
      const { json: da } = await authorize(sc)
      const intervals = await fastPolls(sc, da.device_code, 30)
      t.equal(intervals[0], -400, 'the first poll is pending')
      t.strictSame(intervals.slice(1, 13), [10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 60])
      t.equal(Math.max(...intervals), 60, 'never above 60 s')
      t.strictSame(intervals.slice(13), Array(17).fill(60))
      sc.clock.advance(60_000)
      const after = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: da.device_code, client_id: 'tv-app' })
      t.strictSame(after.json, { error: 'authorization_pending', error_description: 'the user has not yet completed the authorization' }, 'a device that waits the capped interval is answered')
    })

    t.test('never asks a device to wait longer than its code has left to live', async t => {
      const { json: da } = await authorize(sc)
      t.equal(da.expires_in, LIFETIME_S)
      await fastPolls(sc, da.device_code, 20)
      // 6.5 s of the lifetime left, less the real time the request takes (well under half a second)
      sc.clock.advance(await expiresAt(sc, da.device_code) - 6_500 - sc.clock.now())
      const [pending, late] = await fastPolls(sc, da.device_code, 2)
      t.equal(pending, -400, 'a poll after a long wait is answered')
      t.equal(late, 7, 'the remaining lifetime, rounded up to whole seconds')
      sc.clock.advance(6_000)
      const [last] = await fastPolls(sc, da.device_code, 1)
      t.equal(last, 1)
      sc.clock.advance(500)
      const expired = await post(`${sc.url}/token`, { grant_type: DEVICE_GRANT, device_code: da.device_code, client_id: 'tv-app' })
      t.equal(expired.json.error, 'expired_token')
    })

    t.test('a configured interval above the ceiling is kept, never grown', async t => {
      const slow = await startSidecar({ config: { device_flow_settings: { device_flow_polling_interval_seconds: 90, device_flow_codelifetime_seconds: LIFETIME_S }, ...config } })
      t.teardown(slow.close)
      const { json: da } = await authorize(slow)
      t.equal(da.interval, 90)
      t.strictSame(await fastPolls(slow, da.device_code, 4), [-400, 90, 90, 90])
    })
  }
}

t.test('memory store', capSuite(async () => ({ config: {} })))

t.test('redis store', { skip: skipRedis ?? false }, capSuite(async () => {
  const redis = await startRedis()
  return { config: { store: { type: 'redis', encryption_key: 'an-encryption-key-of-at-least-32-characters', redis: { url: redis.url, key_prefix: 'cap:' } } }, stop: () => redis.stop() }
}))

t.test('a polling interval as long as the code lifetime is refused at start-up', async t => {
  const yaml = (interval: number) => `server: { public_url: "http://127.0.0.1:1" }
upstream: { url: "http://127.0.0.1:2", client_id: x, client_secret: y }
device_flow_settings: { device_flow_polling_interval_seconds: ${interval}, device_flow_codelifetime_seconds: 60 }
clients: [{ client_id: tv }]
`
  t.throws(() => parseConfig(yaml(60), {}), { message: 'invalid configuration:\n  /device_flow_settings/device_flow_polling_interval_seconds: must be shorter than device_flow_codelifetime_seconds' })
  t.equal(parseConfig(yaml(59), {}).device_flow_settings.device_flow_polling_interval_seconds, 59)
})
