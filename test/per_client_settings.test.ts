import t, { type Test } from 'tap'
import { parseConfig } from '../src/config/load.js'
import { candidateUserCodes } from '../src/device/codes.js'
import { CodeFormats } from '../src/http/plumbing/code_formats.js'
import { Browser, approveOnPhone } from './helpers/browser.js'
import { configProblems } from './helpers/config.js'
import { authorize, poll, type Reply } from './helpers/http.js'
import { redisMissing, startRedis } from './helpers/redis.js'
import { CLIENTS, startSidecar, type TestSidecar } from './helpers/sidecar.js'

// issue 17, per-client flow settings: clients[].device_flow_settings gives one client its own
// interval, lifetime and user-code format (and no verification_uri_complete), its codes living
// beside everyone else's in one store; the verification page takes each code in its own format.

const BASE20 = 'BCDFGHJKLMNPQRSTVWXZ'
/** A set-top box: digits (9, shown 123-456-789), 5 minutes, polls every 2 s. */
const BOX = { client_id: 'set-top-box', token_endpoint_auth_method: 'none', scopes: ['openid'], device_flow_settings: { device_flow_usercode_charset: 'NUMERIC', device_flow_usercode_length: 9, device_flow_polling_interval_seconds: 2, device_flow_codelifetime_seconds: 300 } }
/** A CLI: letters (BASE20, 8 as everyone else), 15 minutes, polls every 5 s. */
const CLI = { client_id: 'letters-cli', token_endpoint_auth_method: 'none', scopes: ['openid'], device_flow_settings: { device_flow_usercode_charset: 'BASE20', device_flow_polling_interval_seconds: 5, device_flow_codelifetime_seconds: 900 } }
/** A device that must not offer a one-tap link. */
const NO_LINK = { client_id: 'no-link', token_endpoint_auth_method: 'none', scopes: ['openid'], device_flow_settings: { verification_uri_complete: false } }
const clients = [...CLIENTS, BOX, CLI, NO_LINK]
const skipRedis = redisMissing()

const pollError = async (sc: TestSidecar, deviceCode: string, clientId: string): Promise<{ error: string; interval?: number }> => {
  const res = await poll(sc, deviceCode, clientId)
  return res.json?.interval === undefined ? { error: res.json?.error } : { error: res.json.error, interval: res.json.interval }
}

/** The enter page's code field: [placeholder attribute or undefined, inputmode, hint text or undefined]. */
function field (html: string): [string | undefined, string | undefined, string | undefined] {
  const input = /<input type="text" id="user_code"[^>]*>/.exec(html)?.[0] ?? ''
  return [/placeholder="([^"]*)"/.exec(input)?.[1], /inputmode="([^"]*)"/.exec(input)?.[1], /<p id="code_hint" class="muted">([^<]*)<\/p>/.exec(html)?.[1]]
}

function suite (store: () => Promise<{ config: Record<string, unknown>; stop?: () => Promise<void> }>) {
  return async (t: Test) => {
    const { config, stop } = await store()
    if (stop !== undefined) t.teardown(stop)
    const sc = await startSidecar({ config: { clients, ...config } })
    t.teardown(sc.close)

    t.test('each client\'s device authorization answers with its own lifetime, interval and code format', async t => {
      const box = await authorize(sc, { client_id: BOX.client_id })
      t.equal(box.status, 200)
      t.strictSame(Object.keys(box.json), ['device_code', 'user_code', 'verification_uri', 'verification_uri_complete', 'expires_in', 'interval'])
      t.equal(box.json.expires_in, 300)
      t.equal(box.json.interval, 2)
      t.match(box.json.user_code, /^\d{3}-\d{3}-\d{3}$/, 'nine digits, in threes')
      t.equal(box.json.verification_uri_complete, `${sc.url}/device?user_code=${box.json.user_code}`)
      const cli = await authorize(sc, { client_id: CLI.client_id })
      t.equal(cli.json.expires_in, 900)
      t.equal(cli.json.interval, 5)
      t.match(cli.json.user_code, new RegExp(`^[${BASE20}]{4}-[${BASE20}]{4}$`))
      const tv = await authorize(sc, { client_id: 'tv-app', scope: 'openid' })
      t.equal(tv.json.expires_in, 600, 'a client without its own settings keeps device_flow_settings')
      t.equal(tv.json.interval, 5)
      t.match(tv.json.user_code, new RegExp(`^[${BASE20}]{4}-[${BASE20}]{4}$`))
    })

    t.test('a client with verification_uri_complete: false gets none; the others still do', async t => {
      const res = await authorize(sc, { client_id: NO_LINK.client_id })
      t.equal(res.status, 200)
      t.strictSame(Object.keys(res.json), ['device_code', 'user_code', 'verification_uri', 'expires_in', 'interval'])
      t.equal(res.json.verification_uri, `${sc.url}/device`)
      t.equal(res.json.interval, 5)
      t.equal(res.json.expires_in, 600)
      t.type((await authorize(sc, { client_id: BOX.client_id })).json.verification_uri_complete, 'string')
    })

    t.test('each grant is polled at its own interval: slow_down below it, not at it', async t => {
      const box = (await authorize(sc, { client_id: BOX.client_id })).json
      const cli = (await authorize(sc, { client_id: CLI.client_id })).json
      t.strictSame(await pollError(sc, box.device_code, BOX.client_id), { error: 'authorization_pending' })
      t.strictSame(await pollError(sc, cli.device_code, CLI.client_id), { error: 'authorization_pending' })
      sc.clock.advance(2_000)
      t.strictSame(await pollError(sc, box.device_code, BOX.client_id), { error: 'authorization_pending' }, 'the box may poll every 2 s')
      t.strictSame(await pollError(sc, cli.device_code, CLI.client_id), { error: 'slow_down', interval: 10 }, 'the CLI may not: its 5 s grow by 5')
      sc.clock.advance(1_000)
      t.strictSame(await pollError(sc, box.device_code, BOX.client_id), { error: 'slow_down', interval: 7 }, '1 s is below the box\'s 2 s')
      const cli2 = (await authorize(sc, { client_id: CLI.client_id })).json
      t.strictSame(await pollError(sc, cli2.device_code, CLI.client_id), { error: 'authorization_pending' })
      sc.clock.advance(5_000)
      t.strictSame(await pollError(sc, cli2.device_code, CLI.client_id), { error: 'authorization_pending' }, 'the CLI at its 5 s')
    })

    t.test('both codes are entered on the page and approved, and each device gets its tokens', async t => {
      const box = (await authorize(sc, { client_id: BOX.client_id })).json
      const cli = (await authorize(sc, { client_id: CLI.client_id })).json
      for (const [da, client] of [[box, BOX], [cli, CLI]] as const) {
        const { confirm, final } = await approveOnPhone(new Browser(), da.verification_uri_complete)
        t.match(confirm.url, /\/device\/confirm$/, `${client.client_id}: its code is found`)
        t.match(confirm.html, da.user_code)
        t.match(final.url, /\/device\/done$/)
        t.match(final.html, /approved|connected/i)
      }
      // typed by hand, with spaces instead of dashes: each in its own format
      const typed = (await authorize(sc, { client_id: BOX.client_id })).json
      const b = new Browser()
      const confirm = await b.submit(await b.get(`${sc.url}/device`), { user_code: typed.user_code.replaceAll('-', ' ') })
      t.match(confirm.url, /\/device\/confirm$/, 'a digit code typed on the neutral field is found')
      sc.clock.advance(60_000)
      for (const [da, client] of [[box, BOX], [cli, CLI]] as const) {
        const res: Reply = await poll(sc, da.device_code, client.client_id)
        t.equal(res.status, 200, `${client.client_id} gets its tokens`)
        t.type(res.json.access_token, 'string')
      }
    })

    t.test('an entry counts once, whatever the number of formats it is tried in', async t => {
      const local = await startSidecar({ config: { clients, ...config, limits: { user_code_attempts: { max: 3 } } } })
      t.teardown(local.close)
      const b = new Browser('198.51.100.17')
      const enter = await b.get(`${local.url}/device`)
      // a code of the box's format, one of the letters' format, then the third entry reaches the limit of 3
      const first = await b.submit(enter, { user_code: '123-456-789' })
      t.equal(first.status, 200)
      t.match(first.html, /id="code_error"/, 'a wrong code, once')
      const second = await b.submit(first, { user_code: 'BCDF-GHJK' })
      t.equal(second.status, 200)
      t.match(second.html, /id="code_error"/, 'two entries, two attempts: still allowed')
      const third = await b.submit(second, { user_code: 'BCDF-GHJL' })
      t.equal(third.status, 429, 'the third entry is the third attempt')
    })
  }
}

t.test('memory store', suite(async () => ({ config: {} })))

t.test('Redis store', { skip: skipRedis ?? false }, suite(async () => {
  const redis = await startRedis()
  return { config: { store: { type: 'redis', encryption_key: 'per-client-test-encryption-key-0123456789', redis: { url: redis.url } } }, stop: () => redis.stop() }
}))

t.test('a client\'s longer lifetime: its code answers expired_token for one more of its lifetimes', async t => {
  // memory store: its tombstones follow the injected clock (Redis expires keys in real time)
  const sc = await startSidecar({ config: { clients } })
  t.teardown(sc.close)
  const cli = (await authorize(sc, { client_id: CLI.client_id })).json
  sc.clock.advance(899_000)
  t.strictSame(await pollError(sc, cli.device_code, CLI.client_id), { error: 'authorization_pending' }, 'alive for its 900 s, past device_flow_settings\' 600 s')
  sc.clock.advance(1_000 + 800_000)
  t.strictSame(await pollError(sc, cli.device_code, CLI.client_id), { error: 'expired_token' }, '800 s after it expired: still known as expired')
})

t.test('the enter page fits the code field to the formats of the clients\' codes', async t => {
  const sc = await startSidecar({ config: { clients } })
  t.teardown(sc.close)
  t.strictSame(field((await new Browser().get(`${sc.url}/device`)).html), [undefined, 'text', undefined], 'digits of 9 and letters of 8: text, no placeholder, no length hint')
  const box = (await authorize(sc, { client_id: BOX.client_id })).json
  t.strictSame(field((await new Browser().get(box.verification_uri_complete)).html), ['000-000-000', 'numeric', 'The code is 9 digits long.'], 'the link\'s code fits the box\'s format only')
  const cli = (await authorize(sc, { client_id: CLI.client_id })).json
  t.strictSame(field((await new Browser().get(cli.verification_uri_complete)).html), ['XXXX-XXXX', 'text', 'The code is 8 characters long.'])

  const same = await startSidecar({ config: { clients: [...CLIENTS, { ...BOX, device_flow_settings: { ...BOX.device_flow_settings, device_flow_usercode_length: 8 } }] } })
  t.teardown(same.close)
  t.strictSame(field((await new Browser().get(`${same.url}/device`)).html), ['••••-••••', 'text', 'The code is 8 characters long.'], 'one length, digits and letters: a neutral placeholder and the length')

  const one = await startSidecar()
  t.teardown(one.close)
  t.strictSame(field((await new Browser().get(`${one.url}/device`)).html), ['XXXX-XXXX', 'text', 'The code is 8 characters long.'], 'one format: as before')
})

t.test('a reload changes a client\'s settings for new grants; codes already shown keep working until they expire', async t => {
  const sc = await startSidecar({ config: { clients } })
  t.teardown(sc.close)
  const before = (await authorize(sc, { client_id: BOX.client_id })).json
  const next = parseConfig(JSON.stringify({ ...sc.config, clients: [...CLIENTS, { ...BOX, device_flow_settings: { device_flow_polling_interval_seconds: 3, device_flow_codelifetime_seconds: 120 } }] }), {})
  const plan = sc.app.reload(next)
  t.strictSame(plan.applied, ['/clients'])
  t.strictSame(plan.restartOnly, [])

  const after = (await authorize(sc, { client_id: BOX.client_id })).json
  t.equal(after.interval, 3)
  t.equal(after.expires_in, 120)
  t.match(after.user_code, new RegExp(`^[${BASE20}]{4}-[${BASE20}]{4}$`), 'new grants: the inherited format')
  t.strictSame(await pollError(sc, before.device_code, BOX.client_id), { error: 'authorization_pending' })
  sc.clock.advance(2_000)
  t.strictSame(await pollError(sc, before.device_code, BOX.client_id), { error: 'authorization_pending' }, 'the grant issued before keeps its 2 s')

  const b = new Browser()
  const confirm = await b.submit(await b.get(`${sc.url}/device`), { user_code: before.user_code })
  t.match(confirm.url, /\/device\/confirm$/, 'the digit code issued before the reload is still found')
  t.strictSame(field((await new Browser().get(`${sc.url}/device`)).html), [undefined, 'text', undefined], 'both formats while digit codes may live')
  sc.clock.advance(300_000)
  t.strictSame(field((await new Browser().get(`${sc.url}/device`)).html), ['XXXX-XXXX', 'text', 'The code is 8 characters long.'], 'once they have all expired, the one format left')
})

t.test('per-client settings are checked as device_flow_settings are, reported by path', async t => {
  const minimal = (clientsYaml: string, dfs = '') => `server: { public_url: "https://idp.example.com" }
upstream: { url: "http://keycloak:8080/realms/main", client_id: device-sidecar, client_secret: up-secret-x }
${dfs}
clients:
${clientsYaml}`
  const c = parseConfig(minimal(`  - { client_id: tv-app }
  - { client_id: box, device_flow_settings: { device_flow_usercode_charset: NUMERIC, device_flow_usercode_length: 9, device_flow_polling_interval_seconds: 2 } }`), {})
  t.strictSame(c.clients[1]!.device_flow_settings, { device_flow_usercode_charset: '0123456789', device_flow_usercode_length: 9, device_flow_polling_interval_seconds: 2, verification_uri_complete: true }, 'the preset resolved to its set')
  t.equal(c.device_flow_settings.device_flow_usercode_charset, BASE20, 'device_flow_settings untouched')

  t.strictSame(configProblems(minimal(`  - { client_id: tv-app }
  - { client_id: box, device_flow_settings: { device_flow_usercode_charset: NUMERIC, device_flow_usercode_length: 5 } }
  - { client_id: cli, device_flow_settings: { device_flow_user_code_length: 9 } }`)), [
    '/clients/1/device_flow_settings/device_flow_usercode_length: 5 characters from a set of 10 give fewer than 20 bits; use a longer code or a larger set',
    '/clients/2/device_flow_settings/device_flow_user_code_length: is not a known setting; did you mean `device_flow_usercode_length`?'
  ])
  t.strictSame(configProblems(minimal(`  - { client_id: tv-app, device_flow_settings: { device_flow_usercode_charset: NUMERIC } }
  - { client_id: box, device_flow_settings: { device_flow_codelifetime_seconds: 30 } }
  - { client_id: cli, device_flow_settings: { device_flow_usercode_charset: abc, device_flow_polling_interval_seconds: 0 } }
  - { client_id: tv2, device_flow_settings: { device_flow_usercode_charset: AAB } }`, 'device_flow_settings: { device_flow_usercode_length: 6, device_flow_polling_interval_seconds: 30 }')), [
    '/clients/0/device_flow_settings/device_flow_usercode_charset: 6 characters from a set of 10 give fewer than 20 bits; use a longer code or a larger set',
    '/clients/1/device_flow_settings/device_flow_codelifetime_seconds: must be longer than device_flow_polling_interval_seconds (30 s)',
    '/clients/2/device_flow_settings/device_flow_polling_interval_seconds: must be >= 1',
    '/clients/2/device_flow_settings/device_flow_usercode_charset: must be BASE20, NUMERIC, ALPHANUMERIC, or a set of upper-case letters A–Z and digits',
    '/clients/3/device_flow_settings/device_flow_usercode_charset: must not repeat a character'
  ], 'each client\'s values as it ends up with them, at its own keys')
  t.strictSame(configProblems(minimal('  - { client_id: tv-app, device_flow_settings: { verification_uri_complete: false } }', 'device_flow_settings: { device_flow_usercode_length: 4 }')), [
    '/device_flow_settings/device_flow_usercode_length: 4 characters from a set of 20 give fewer than 20 bits; use a longer code or a larger set'
  ], 'a problem of device_flow_settings alone is reported there, once')
})

t.test('candidateUserCodes: a typed code in each format it fits, once', async t => {
  const numeric9 = { charset: '0123456789', length: 9 }
  const base20 = { charset: BASE20, length: 8 }
  const alnum8 = { charset: '23456789ABCDEFGHJKLMNPQRSTUVWXYZ', length: 8 }
  t.strictSame(candidateUserCodes('123 456-789', [base20, numeric9]), ['123456789'])
  t.strictSame(candidateUserCodes('bcdf-ghjk', [base20, numeric9, alnum8]), ['BCDFGHJK'], 'fits two formats: one candidate, one lookup')
  t.strictSame(candidateUserCodes('BCDF-GHJ', [base20, numeric9]), [], 'fits none: nothing is looked up')
  t.strictSame(candidateUserCodes('', []), [])
})

t.test('CodeFormats: each format once; one a reload removed, for as long as its codes live', async t => {
  const config = parseConfig(JSON.stringify({ server: { public_url: 'http://127.0.0.1:1' }, upstream: { url: 'http://127.0.0.1:2', client_id: 'x', client_secret: 'y-secret' }, clients: [{ client_id: 'a' }, { client_id: 'b' }, BOX, { ...BOX, client_id: 'box2', device_flow_settings: { ...BOX.device_flow_settings, device_flow_codelifetime_seconds: 600 } }] }), {})
  const formats = new CodeFormats(config)
  t.strictSame(formats.list(0), [{ charset: BASE20, length: 8 }, { charset: '0123456789', length: 9 }], 'four clients, two formats')
  const next = parseConfig(JSON.stringify({ ...config, clients: [{ client_id: 'a' }] }), {})
  formats.update(config, next, 1_000)
  t.strictSame(formats.list(1_000), [{ charset: BASE20, length: 8 }, { charset: '0123456789', length: 9 }])
  t.strictSame(formats.list(600_999), [{ charset: BASE20, length: 8 }, { charset: '0123456789', length: 9 }], 'the longest lifetime it was issued with (box2\'s 600 s)')
  t.strictSame(formats.list(601_000), [{ charset: BASE20, length: 8 }])
})

