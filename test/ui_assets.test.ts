import { createHash } from 'node:crypto'
import { readFileSync, mkdtempSync, copyFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import t from 'tap'
import { parseConfig } from '../src/config/load.js'
import { SidecarError } from '../src/errors.js'
import { assetRoutes } from '../src/http/endpoints/asset_routes.js'
import { Assets, FAVICON_SVG } from '../src/ui/assets.js'
import { launchChromium } from './helpers/chromium.js'
import { CLIENTS, startSidecar } from './helpers/sidecar.js'

// issue 16, Brand: the favicon and the logos are served by the sidecar itself, at paths that name
// their content (the pages' CSP is img-src 'self'). Fixtures in test/fixtures/brand/: logo.png (a
// 24×24 PNG written with node's zlib), client.svg (an SVG behind a BOM, an XML declaration, a
// comment and a doctype), scripted.svg (an SVG with a <script>).

const BRAND = fileURLToPath(new URL('./fixtures/brand/', import.meta.url))
const PNG = readFileSync(join(BRAND, 'logo.png'))
const CLIENT_SVG = readFileSync(join(BRAND, 'client.svg'))
const SCRIPTED_SVG = readFileSync(join(BRAND, 'scripted.svg'))
const hash = (body: Buffer | string): string => createHash('sha256').update(body).digest('hex').slice(0, 12)

const FOREVER = 'public, max-age=31536000, immutable'
const SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
const svgHeaders = (body: Buffer | string): Record<string, string> => ({
  'content-type': 'image/svg+xml',
  'cache-control': FOREVER,
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'same-origin',
  'content-security-policy': SVG_CSP,
  'content-length': String(Buffer.byteLength(body))
})
const pngHeaders = (body: Buffer): Record<string, string> => ({
  'content-type': 'image/png',
  'cache-control': FOREVER,
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'same-origin',
  'content-length': String(body.length)
})

/** The response's headers but those of the connection (date, keep-alive). */
function headersOf (res: Response): Record<string, string> {
  const out: Record<string, string> = {}
  res.headers.forEach((value, name) => { if (!['date', 'connection', 'keep-alive'].includes(name)) out[name] = value })
  return out
}

const brandClients = [
  { ...CLIENTS[0], logo_uri: join(BRAND, 'client.svg'), client_uri: 'https://tv.example.com/' },
  { ...CLIENTS[1], logo_uri: join(BRAND, 'logo.png') },
  { ...CLIENTS[2], client_id: 'cli', logo_uri: join(BRAND, 'scripted.svg') },
  ...CLIENTS.slice(3)
]

t.test('a branded sidecar serves its favicon, the operator\'s logo and each client\'s logo at versioned paths, byte for byte', async t => {
  const seen: string[] = []
  const sc = await startSidecar({
    config: { ui: { service_name: 'Example TV+', logo_file: join(BRAND, 'logo.png') }, clients: brandClients },
    configure: provider => { provider.use(async (ctx, next) => { seen.push(ctx.path); return next() }) }
  })
  t.teardown(sc.close)
  const assets = Assets.load(sc.config)
  const expected = {
    favicon: `/device/assets/${hash(FAVICON_SVG)}/favicon.svg`,
    logo: `/device/assets/${hash(PNG)}/logo.png`,
    tv: `/device/assets/${hash(CLIENT_SVG)}/client-tv-app.svg`,
    console: `/device/assets/${hash(PNG)}/client-console.png`,
    cli: `/device/assets/${hash(SCRIPTED_SVG)}/client-cli.svg`
  }
  t.strictSame([assets.url('favicon'), assets.url('logo'), assets.clientLogoUrl('tv-app'), assets.clientLogoUrl('console'), assets.clientLogoUrl('cli')],
    [expected.favicon, expected.logo, expected.tv, expected.console, expected.cli], 'each at {verification_path}/assets/<12 hex of sha256>/<name>')
  t.equal(assets.clientLogoUrl('old-tv'), undefined, 'a client without logo_uri has none')
  t.equal(assets.url('stylesheet'), undefined)

  for (const [path, body, headers] of [
    [expected.favicon, Buffer.from(FAVICON_SVG), svgHeaders(FAVICON_SVG)],
    [expected.logo, PNG, pngHeaders(PNG)],
    [expected.tv, CLIENT_SVG, svgHeaders(CLIENT_SVG)],
    [expected.console, PNG, pngHeaders(PNG)],
    [expected.cli, SCRIPTED_SVG, svgHeaders(SCRIPTED_SVG)]
  ] as const) {
    const res = await fetch(`${sc.url}${path}`)
    t.equal(res.status, 200, path)
    t.strictSame(headersOf(res), headers, `${path}: exact headers`)
    t.ok(Buffer.from(await res.arrayBuffer()).equals(body), `${path}: the file's bytes`)

    const head = await fetch(`${sc.url}${path}`, { method: 'HEAD' })
    t.equal(head.status, 200, `HEAD ${path}`)
    t.strictSame(headersOf(head), headers, `HEAD ${path}: the same headers`)
    t.equal((await head.arrayBuffer()).byteLength, 0, `HEAD ${path}: no body`)
  }
  t.strictSame(seen.filter(p => p.includes('assets')), [], 'the IdP saw none of them')
})

t.test('without ui.logo_file or client logos, only the favicon is served', async t => {
  const sc = await startSidecar()
  t.teardown(sc.close)
  const assets = Assets.load(sc.config)
  t.equal(assets.url('logo'), undefined)
  t.equal(assets.clientLogoUrl('tv-app'), undefined)
  const res = await fetch(`${sc.url}${assets.url('favicon')!}`)
  t.equal(res.status, 200)
  t.equal(await res.text(), FAVICON_SVG)
  t.equal((await fetch(`${sc.url}/device/assets/${hash(PNG)}/logo.png`)).status, 404)
})

t.test('a wrong hash, an unknown name or another method is a plain 404, answered by the sidecar and never sent to the IdP', async t => {
  const seen: string[] = []
  const sc = await startSidecar({
    config: { ui: { logo_file: join(BRAND, 'logo.png') } },
    configure: provider => { provider.use(async (ctx, next) => { seen.push(`${ctx.method} ${ctx.path}`); return next() }) }
  })
  t.teardown(sc.close)
  seen.length = 0 // the sidecar's own discovery fetch at start-up
  const logo = Assets.load(sc.config).url('logo')!
  const wrong: Array<[string, string]> = [
    ['GET', logo.replace(hash(PNG), '000000000000')],
    ['GET', logo.replace(hash(PNG), hash(CLIENT_SVG))],
    ['GET', logo.replace('logo.png', 'logo.svg')],
    ['GET', `${logo}/more`],
    ['GET', '/device/assets/'],
    ['GET', '/device/assets'],
    ['HEAD', logo.replace(hash(PNG), 'ffffffffffff')],
    ['POST', logo],
    ['DELETE', '/device/assets/x']
  ]
  for (const [method, path] of wrong) {
    const res = await fetch(`${sc.url}${path}`, { method, ...(method === 'POST' ? { body: 'x' } : {}) })
    t.equal(res.status, 404, `${method} ${path}`)
    t.strictSame(headersOf(res), { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...(method === 'HEAD' ? {} : { 'content-length': '0' }) }, `${method} ${path}: no page`)
    t.equal(await res.text(), '')
  }
  const variant = await fetch(`${sc.url}${logo.toUpperCase().replace('/DEVICE', '/Device')}`, { redirect: 'manual' })
  t.equal(variant.status, 308, 'a variant spelling of an asset path is redirected to the asset, as every own path is')
  t.equal(variant.headers.get('location'), logo)
  t.strictSame(seen, [], 'the IdP saw none of them')
  await fetch(`${sc.url}/static/app.js`)
  t.strictSame(seen, ['GET /static/app.js'], 'while a path of the IdP\'s own is passed on, and seen')
})

const { browser, skip } = await launchChromium()

t.test('an SVG with a script, opened directly in Chromium, does not run it (the asset\'s sandbox CSP)', { skip: skip ?? false }, async t => {
  if (browser === undefined) throw new Error('unreachable: skipped without a browser')
  t.teardown(() => browser.close())
  const sc = await startSidecar({ config: { clients: brandClients } })
  t.teardown(sc.close)
  // the same file from a server without the CSP: proof that the probe sees a script that runs
  const bare = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'image/svg+xml' }).end(SCRIPTED_SVG) })
  await new Promise<void>(resolve => bare.listen(0, '127.0.0.1', resolve))
  t.teardown(() => bare.close())
  const page = await browser.newPage()
  const ran = async (url: string): Promise<string | null> => {
    await page.goto(url)
    return page.locator(':root').getAttribute('data-ran')
  }
  t.equal(await ran(`http://127.0.0.1:${(bare.address() as { port: number }).port}/scripted.svg`), 'yes', 'without the CSP the script runs')
  t.equal(await ran(`${sc.url}${Assets.load(sc.config).clientLogoUrl('cli')!}`), null, 'served by the sidecar it does not')
})

t.test('assets are added before their routes: add() then url(), and add() after registration throws', async t => {
  const config = parseConfig(JSON.stringify({
    server: { public_url: 'https://idp.example.com' },
    upstream: { url: 'http://idp', client_id: 's', client_secret: 'x' },
    device_flow_settings: { verification_path: '/activate' },
    clients: [{ client_id: 'Tv App/2 ✓', logo_uri: join(BRAND, 'logo.png') }, { client_id: '✓✓', logo_uri: join(BRAND, 'client.svg') }]
  }), {})
  const assets = Assets.load(config)
  t.equal(assets.clientLogoUrl('Tv App/2 ✓'), `/activate/assets/${hash(PNG)}/client-tv-app-2.png`, 'a client_id made a safe file name')
  t.equal(assets.clientLogoUrl('✓✓'), `/activate/assets/${hash(CLIENT_SVG)}/client-1.svg`, 'nothing left of it: the client\'s index')
  const css = 'main{color:#123}'
  assets.add('style.css', 'text/css; charset=utf-8', css)
  t.equal(assets.url('style.css'), `/activate/assets/${hash(css)}/style.css`)
  assets.add('badge.png', 'image/png', PNG)
  t.equal(assets.url('badge.png'), `/activate/assets/${hash(PNG)}/badge.png`, 'bytes as well as text')
  t.throws(() => { assets.add('style.css', 'text/css', 'x') }, { message: 'asset "style.css" is already there' })
  t.throws(() => { assets.add('logo', 'image/png', PNG) }, { message: 'asset "logo" is already there' }, 'the built-in names are taken')
  t.throws(() => { assets.add('../x', 'text/plain', 'x') }, { message: 'asset name "../x" is not a plain file name' })

  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(assetRoutes, { assets })
  await app.ready()
  t.throws(() => { assets.add('late.css', 'text/css', 'x') }, { message: 'assets are added before their routes are registered' })
  t.equal(assets.url('late.css'), undefined)
  const res = await app.inject({ url: assets.url('style.css')! })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/css; charset=utf-8', 'an added asset has the content type it was added with')
  t.equal(res.headers['content-security-policy'], undefined, 'the sandbox CSP is for SVGs')
  t.equal(res.body, css)
})

t.test('a logo that changed on disk after the config was loaded stops start-up with its setting named', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-assets-'))
  copyFileSync(join(BRAND, 'logo.png'), join(dir, 'logo.png'))
  const config = parseConfig(JSON.stringify({
    server: { public_url: 'https://idp.example.com' },
    upstream: { url: 'http://idp', client_id: 's', client_secret: 'x' },
    clients: [{ client_id: 'tv' }],
    ui: { logo_file: 'logo.png' }
  }), {}, dir)
  rmSync(join(dir, 'logo.png'))
  t.throws(() => Assets.load(config), new SidecarError('ERR_CONFIG_INVALID', `ui.logo_file: ${join(dir, 'logo.png')} cannot be read (ENOENT)`))
})
