import t from 'tap'
import { configProblems } from '../helpers/config.js'

// issue 15: a typo'd key was "is not a known setting" and nothing more. The closest key the schema
// allows at that level is suggested (edit distance ≤ 2, a case or separator change, or a unique
// prefix), and likewise the closest allowed value of an enum.

const base = (over: { server?: string; upstream?: string; rest?: string } = {}) => `server: { public_url: "https://login.example.com"${over.server ?? ''} }
upstream: { url: "http://idp:8080", client_id: s, client_secret: "\${S}"${over.upstream ?? ''} }
${over.rest ?? 'clients: [{ client_id: tv }]'}
`

const problems = (text: string): readonly string[] => configProblems(text, { S: 'an-operator-secret-0123456789abcdef' })

t.test('an unknown key gets the closest key allowed at its level', async t => {
  t.strictSame(problems(base({ rest: 'clients: [{ client_id: tv, token_endpoint_auth_method: client_secret_post, client_secrt: "${S}" }]' })), [
    '/clients/0/client_secret: is required for client_secret_post',
    '/clients/0/client_secrt: is not a known setting; did you mean `client_secret`?'
  ], 'a letter left out')
  t.strictSame(problems(base({ rest: 'clients: [{ client_id: tv, clientName: TV }]' })), [
    '/clients/0/clientName: is not a known setting; did you mean `client_name`?'
  ], 'camelCase for snake_case')
  t.strictSame(problems(base({ server: ', trust-proxy: ["10.0.0.0/8"]' })), [
    '/server/trust-proxy: is not a known setting; did you mean `trust_proxy`?'
  ], 'a dash for an underscore')
  t.strictSame(problems(base({ server: ', prot: 1' })), [
    '/server/prot: is not a known setting; did you mean `port`?'
  ], 'two letters swapped')
  t.strictSame(problems(base({ upstream: ', timeout: 5' })), [
    '/upstream/timeout: is not a known setting; did you mean `timeout_seconds`?'
  ], 'the start of one key only')
  t.strictSame(problems(base({ rest: 'clients: [{ client_id: tv }]\nstore: { type: redis, encryption_key: "${S}", redis: { sentinal: { name: m, nodes: ["s:26379"] } } }' }).replace('login.example.com"', 'login.example.com", cookie_keys: ["${S}"]')), [
    '/store/redis: give exactly one of url, sentinel or cluster',
    '/store/redis/sentinal: is not a known setting; did you mean `sentinel`?'
  ], 'nested levels use their own keys')
  t.strictSame(problems(base({ rest: 'clients: [{ client_id: tv }]\nDevice_Flow_Settings: {}' })), [
    '/Device_Flow_Settings: is not a known setting; did you mean `device_flow_settings`?'
  ], 'at the top level, by case')
})

t.test('no suggestion when nothing is close, or when two keys are equally close', async t => {
  t.strictSame(problems(base({ rest: 'clients: [{ client_id: tv }]\nsurprise: true' })), ['/surprise: is not a known setting'])
  t.strictSame(problems(base({ rest: 'clients: [{ client_id: tv }]\ndevice_flow_settings: { device_flow_usercode: 8 }' })), [
    '/device_flow_settings/device_flow_usercode: is not a known setting'
  ], 'the start of both device_flow_usercode_length and _charset')
  t.strictSame(problems(base({ server: ', ab: 1' })), ['/server/ab: is not a known setting'], 'a short key: one edit at most')
})

t.test('an enum value gets the closest allowed value', async t => {
  t.strictSame(problems(base({ upstream: ', token_endpoint_auth_method: client_secret_basci' })), [
    '/upstream/token_endpoint_auth_method: must be one of "client_secret_basic", "client_secret_post", "private_key_jwt"; did you mean "client_secret_basic"?'
  ])
  t.strictSame(problems(base({ rest: 'clients: [{ client_id: tv }]\nstore: { type: Redis }' })), [
    '/store/type: must be one of "memory", "redis"; did you mean "redis"?'
  ])
  t.strictSame(problems(base({ rest: 'clients: [{ client_id: tv }]\nlog: { level: warning }' })), [
    '/log/level: must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent"; did you mean "warn"?'
  ])
  t.strictSame(problems(base({ rest: 'clients: [{ client_id: tv }]\nstore: { type: dynamo }' })), [
    '/store/type: must be one of "memory", "redis"'
  ], 'nothing close: the list alone')
  t.strictSame(problems(base({ rest: 'clients: [{ client_id: tv, grant_types: [device_code] }]' })), [
    '/clients/0/grant_types/0: must be one of "urn:ietf:params:oauth:grant-type:device_code", "refresh_token"'
  ], 'a suffix is not a suggestion')
})

t.test('a key that would break the line or the pointer is escaped', async t => {
  t.strictSame(problems(base({ server: ', "a/b~\\nc": 1' })), ['/server/a~1b~0\\nc: is not a known setting'])
})
