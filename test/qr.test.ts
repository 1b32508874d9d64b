/**
 * Issue 17: QR codes of verification_uri_complete at {verification_path}/qr (SVG and PNG), built
 * from config only — never a store lookup — and the short verification_uri an operator publishes
 * (device_flow_settings.verification_uri), which both the device authorization response and the
 * QR codes use. The images are decoded back with jsQR: the PNG as served, the SVG as Chromium draws it.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import jsQRModule from 'jsqr'
import { PNG } from 'pngjs'
import { request } from 'undici'
import { MemoryStore } from '../src/device/store_memory.js'
import type { DeviceStore } from '../src/device/store.js'
import { launchChromium } from './helpers/chromium.js'
import { configProblems } from './helpers/config.js'
import { authorize, get } from './helpers/http.js'
import { startSidecar, type TestSidecar } from './helpers/sidecar.js'
import { parseConfig } from '../src/config/load.js'

// jsqr's types declare an ES default export; at run time the CommonJS module is the function itself
const jsQR = jsQRModule as unknown as typeof jsQRModule.default
const SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

const { browser, skip } = await launchChromium()

interface Image { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

async function fetchQr (sc: TestSidecar, query: string): Promise<Image> {
  const res = await request(`${sc.url}/device/qr${query}`)
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) }
}

/** The text of the one QR code in a PNG, or undefined when none reads. */
function decodePng (png: Buffer): string | undefined {
  const image = PNG.sync.read(png)
  return jsQR(new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length), image.width, image.height)?.data
}

/** A real memory store whose user-code lookups are counted. */
function countingStore (): { store: DeviceStore; lookups: () => number } {
  const real = new MemoryStore({ maxGrants: 1000, lifetimeMs: 600_000, clock: { now: () => Date.now() } })
  let lookups = 0
  const store = new Proxy(real, {
    get (target, prop) {
      if (prop === 'findByUserCode') {
        return async (...args: Parameters<DeviceStore['findByUserCode']>) => {
          lookups++
          return target.findByUserCode(...args)
        }
      }
      const value = Reflect.get(target, prop, target) as unknown
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  return { store, lookups: () => lookups }
}

t.test('the PNG is the QR code of verification_uri_complete of a real device authorization', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  const da = await authorize(sc)
  t.equal(da.status, 200)
  t.equal(da.json.verification_uri, `${sc.url}/device`)
  t.equal(da.json.verification_uri_complete, `${sc.url}/device?user_code=${da.json.user_code as string}`)

  const png = await fetchQr(sc, `?user_code=${encodeURIComponent(da.json.user_code as string)}&format=png`)
  t.equal(png.status, 200)
  t.equal(png.headers['content-type'], 'image/png')
  t.equal(png.headers['cache-control'], 'no-store', 'the URL carries a live code')
  t.equal(png.headers['x-content-type-options'], 'nosniff')
  t.equal(png.headers['cross-origin-resource-policy'], 'cross-origin', 'a TV app on another origin may show it with <img>')
  t.equal(png.headers['access-control-allow-origin'], undefined, 'and no script elsewhere may read it')
  t.equal(decodePng(png.body), da.json.verification_uri_complete)
  const { width, height } = PNG.sync.read(png.body)
  t.equal(width, height)
  t.equal(width, (33 + 2 * 4) * 8, 'version 4 (33 modules) with a 4-module quiet zone, 8 pixels a module')

  const typedLoosely = (da.json.user_code as string).toLowerCase().replace('-', ' ')
  const loose = await fetchQr(sc, `?user_code=${encodeURIComponent(typedLoosely)}&format=png`)
  t.equal(loose.status, 200)
  t.equal(decodePng(loose.body), da.json.verification_uri_complete, 'normalised as the page does: the same code, the same link')
})

t.test('the SVG is well-formed and, drawn by Chromium, reads as verification_uri_complete', { skip: skip ?? false }, async t => {
  if (browser === undefined) throw new Error('unreachable: skipped without a browser')
  t.teardown(() => browser.close())
  const sc = await startSidecar()
  t.teardown(sc.close)
  const da = await authorize(sc)
  const qrUrl = `${sc.url}/device/qr?user_code=${encodeURIComponent(da.json.user_code as string)}`
  const svg = await fetchQr(sc, `?user_code=${encodeURIComponent(da.json.user_code as string)}`)
  t.equal(svg.status, 200)
  t.equal(svg.headers['content-type'], 'image/svg+xml', 'SVG is the default')
  t.equal(svg.headers['content-security-policy'], SVG_CSP)
  t.equal(svg.headers['cache-control'], 'no-store')
  t.equal(svg.headers['x-content-type-options'], 'nosniff')
  t.equal(svg.headers['cross-origin-resource-policy'], 'cross-origin')

  const page = await browser.newPage({ viewport: { width: 600, height: 600 } })
  const parsed = await page.evaluate(`(() => {
    const doc = new DOMParser().parseFromString(${JSON.stringify(svg.body.toString('utf8'))}, 'image/svg+xml')
    return { errors: doc.getElementsByTagName('parsererror').length, root: doc.documentElement.localName, width: doc.documentElement.getAttribute('width'), viewBox: doc.documentElement.getAttribute('viewBox') }
  })()`)
  t.strictSame(parsed, { errors: 0, root: 'svg', width: '328', viewBox: '0 0 41 41' }, 'well-formed XML, an <svg> with a size of its own')

  const opened = await page.goto(qrUrl)
  t.equal(opened?.status(), 200)
  t.equal(decodePng(await page.screenshot()), da.json.verification_uri_complete, 'opened on its own')
  // a TV app's page on another origin shows it with <img> (CORP cross-origin lets it)
  const tvApp = createServer((_req, res) => res.setHeader('content-type', 'text/html').end(`<!doctype html><body style="margin:0;background:#fff"><img src="${qrUrl}" alt="QR code"></body>`))
  await new Promise<void>(resolve => tvApp.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => tvApp.close(() => { resolve() })))
  await page.goto(`http://127.0.0.1:${(tvApp.address() as AddressInfo).port}/`)
  await page.waitForFunction('document.images[0]?.complete === true', undefined, { timeout: 5000 })
  t.equal(await page.evaluate('document.images[0].naturalWidth'), 328, 'the image loaded')
  t.equal(decodePng(await page.screenshot()), da.json.verification_uri_complete, 'as an <img> on a page of another origin')
})

t.test('a malformed or absent user_code is 400 invalid_request, and no code is ever looked up', async t => {
  const { store, lookups } = countingStore()
  const sc = await startSidecar({ store })
  t.teardown(sc.close)
  const refused = { error: 'invalid_request', error_description: 'user_code is not a user code of this service' }
  const cases: Array<[string, unknown]> = [
    ['', { error: 'invalid_request', error_description: 'user_code is required, once' }],
    ['?user_code=BCDF-GHJK&user_code=BCDF-GHJL', { error: 'invalid_request', error_description: 'user_code is required, once' }],
    ['?user_code=BCDF-GHJ', refused],
    ['?user_code=BCDF-GHJKL', refused],
    ['?user_code=AEIO-UBCD', refused], // vowels are not in BASE20
    ['?user_code=https%3A%2F%2Fevil.example%2F', refused],
    [`?user_code=${'B'.repeat(2000)}`, refused],
    ['?user_code=BCDF-GHJK&format=gif', { error: 'invalid_request', error_description: 'format must be svg or png' }]
  ]
  for (const [query, body] of cases) {
    const res = await get(`${sc.url}/device/qr${query}`)
    t.equal(res.status, 400, query.slice(0, 40))
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
    t.equal(res.headers['cache-control'], 'no-store')
    t.strictSame(res.json, body)
  }
  const da = await authorize(sc)
  for (const code of [da.json.user_code as string, 'BCDF-GHJK']) {
    const res = await fetchQr(sc, `?user_code=${code}&format=png`)
    t.equal(res.status, 200, 'a live code and an unknown one alike: nothing to tell them apart')
    t.equal(decodePng(res.body), `${sc.url}/device?user_code=${code}`)
  }
  t.equal(lookups(), 0, 'the store was never asked for a code')
  const entered = await get(`${sc.url}/device`)
  t.equal(entered.status, 200)
  t.equal(lookups(), 0)
})

t.test('renders are bounded per address with the device_authorization_per_ip allowance, in their own bucket', async t => {
  const sc = await startSidecar({ config: { limits: { device_authorization_per_ip: { max: 3, window_seconds: 60 } } } })
  t.teardown(sc.close)
  const da = await authorize(sc)
  t.equal(da.status, 200)
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) statuses.push((await fetchQr(sc, `?user_code=${da.json.user_code as string}`)).status)
  t.strictSame(statuses, [200, 200, 200, 429])
  const limited = await get(`${sc.url}/device/qr?user_code=${da.json.user_code as string}`)
  t.equal(limited.status, 429)
  t.equal(limited.headers['retry-after'], '60')
  t.strictSame(limited.json, { error: 'slow_down', error_description: 'too many requests; retry after 60 seconds' })
  const second = await authorize(sc)
  t.equal(second.status, 200, 'renders did not use up the address\'s device authorizations')
  sc.clock.advance(60_000)
  t.equal((await fetchQr(sc, `?user_code=${da.json.user_code as string}`)).status, 200, 'a new window, new renders')
})

t.test('a short verification_uri is what devices are sent, and what the QR code encodes', async t => {
  for (const [configured, complete] of [
    ['https://example.com/activate', 'https://example.com/activate?user_code='],
    ['https://example.com/activate?via=tv', 'https://example.com/activate?via=tv&user_code=']
  ] as const) {
    const sc = await startSidecar({ config: { device_flow_settings: { verification_uri: configured } } })
    t.teardown(sc.close)
    const da = await authorize(sc)
    t.equal(da.status, 200)
    t.equal(da.json.verification_uri, configured)
    t.ok(sc.logs.some(l => l.includes('"event":"server.started"') && l.includes(`"verification_uri":${JSON.stringify(configured)}`)), 'the start-up line names it')
    t.equal(da.json.verification_uri_complete, `${complete}${da.json.user_code as string}`)
    const png = await fetchQr(sc, `?user_code=${da.json.user_code as string}&format=png`)
    t.equal(decodePng(png.body), da.json.verification_uri_complete)
    const page = await get(`${sc.url}/device?user_code=${da.json.user_code as string}`)
    t.equal(page.status, 200, 'the page the short address redirects to still takes the code')
  }
})

t.test('device_flow_settings.verification_uri: checked, reported by path', async t => {
  const config = (uri: string, publicUrl = 'https://idp.example.com'): string => `server: { public_url: "${publicUrl}" }
upstream: { url: "http://keycloak:8080/realms/main", client_id: device-sidecar, client_secret: upstream-secret-for-qr-tests }
clients: [{ client_id: tv-app }]
device_flow_settings: { verification_uri: "${uri}" }`
  const at = '/device_flow_settings/verification_uri'
  t.strictSame(configProblems(config('http://example.com/activate')), [`${at}: must be https unless the host is a loopback address`])
  t.strictSame(configProblems(config('https://example.com/activate#here')), [`${at}: must have no user name, password or fragment (the code is added to its query)`])
  t.strictSame(configProblems(config('https://user:pw@example.com/activate')), [`${at}: must have no user name, password or fragment (the code is added to its query)`])
  t.strictSame(configProblems(config('https://example.com/activate?user_code=WDJB-MJHT')), [`${at}: must not have a user_code parameter (the sidecar adds the code's)`])
  t.strictSame(configProblems(config('example.com/activate')), [`${at}: must match pattern "^https?://"`, `${at}: must match format "uri"`])
  t.strictSame(configProblems(config('ftp://example.com/activate')), [`${at}: must match pattern "^https?://"`])
  t.strictSame(configProblems(config('http://127.0.0.1:3000/activate', 'http://127.0.0.1:3000')), [], 'http on loopback')
  t.equal(parseConfig(config('https://EXAMPLE.com'), {}).device_flow_settings.verification_uri, 'https://example.com/', 'normalised to its href')
  t.equal(parseConfig(config('https://example.com/activate'), {}).device_flow_settings.verification_uri, 'https://example.com/activate')
  t.equal(parseConfig(config('https://example.com/a').replace(/device_flow_settings.*/, ''), {}).device_flow_settings.verification_uri, undefined, 'unset by default')
  t.strictSame(configProblems(config('https://example.com/a').replace('verification_uri: "https://example.com/a"', 'device_authorization_path: /device/qr')), ['/device_flow_settings/device_authorization_path: must differ from the verification paths'])
})
