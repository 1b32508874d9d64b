import { connect } from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { believableForwardedFor } from '../../src/http/plumbing/client_address.js'
import { Browser } from '../helpers/browser.js'
import { authorize, get, poll } from '../helpers/http.js'
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js'

/**
 * Issue 13, finding 11: from a trusted peer, an X-Forwarded-For of free text became the "From" on
 * the confirm page, a rate-limit key and an audit field. A forwarded address is believed only when
 * it parses as an IP address; otherwise the peer's address is the client's — for the fast path and
 * fastify alike, the limits, the confirm page, the audit trail and the X-Forwarded-For sent on.
 * The test's requests come from 127.0.0.1, a trusted proxy by default.
 */

const FREE_TEXT = '"\'><img src=x onerror=alert(1)>'
const from = (xff: string): Record<string, string> => ({ 'x-forwarded-for': xff })

/** The fields of the last audit line of `event`. */
function lastAudit (sc: TestSidecar, event: string): Record<string, unknown> {
  const line = sc.logs.filter(l => l.includes(`"event":"${event}"`)).at(-1)
  return line === undefined ? {} : JSON.parse(line) as Record<string, unknown>
}

/** A POST /device_authorization written on a raw socket, so that header lines go out exactly as given. */
async function rawAuthorize (sc: TestSidecar, headerLines: string[]): Promise<number> {
  const { port } = new URL(sc.url)
  const body = 'client_id=tv-app&scope=openid'
  const socket = connect(Number(port), '127.0.0.1')
  socket.write([`POST /device_authorization HTTP/1.1`, `host: 127.0.0.1:${port}`, 'connection: close', 'content-type: application/x-www-form-urlencoded', `content-length: ${body.length}`, ...headerLines, '', body].join('\r\n'))
  let text = ''
  for await (const chunk of socket) text += String(chunk)
  return Number(text.split(' ')[1])
}

t.test('which entries of X-Forwarded-For are believed', async t => {
  const cases: Array<[string, string | undefined]> = [
    ['203.0.113.5', '203.0.113.5'],
    ['  203.0.113.5\t', '203.0.113.5'],
    ['198.51.100.1, 203.0.113.9', '198.51.100.1, 203.0.113.9'],
    ['198.51.100.1,203.0.113.9', '198.51.100.1, 203.0.113.9'],
    [`${FREE_TEXT}, 203.0.113.9`, '203.0.113.9'],
    [`203.0.113.9, ${FREE_TEXT}`, undefined],
    [`198.51.100.1, ${FREE_TEXT}, 203.0.113.9`, '203.0.113.9'],
    ['203.0.113.5:5678', '203.0.113.5'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['2001:db8::1', '2001:db8::1'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    [',, 203.0.113.9 ,', '203.0.113.9'],
    ['', undefined],
    [' , ', undefined],
    ['unknown', undefined],
    ['203.0.113.5 198.51.100.1', undefined],
    ['fe80::1%eth0', undefined],
    ['[fe80::1%eth0]', undefined],
    ['01.2.3.4', undefined],
    ['0x7f.1', undefined],
    ['127.1', undefined],
    ['[::1', undefined],
    ['[::1]x', undefined],
    ['[203.0.113.5]', undefined],
    ['203.0.113.5:', undefined],
    ['203.0.113.5:65536', undefined],
    ['2001:db8::1:443', '2001:db8::1:443'],
    ['_gateway', undefined]
  ]
  for (const [header, believed] of cases) t.equal(believableForwardedFor(header), believed, JSON.stringify(header))
  const long = Array.from({ length: 10_000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.1`)
  t.equal(believableForwardedFor(long.join(',')), long.join(', '), '10 000 entries: all kept, in one linear pass')
  t.equal(believableForwardedFor(`${long.join(',')},x`), undefined)
})

t.test('free text from a trusted peer: the peer is the client, everywhere', async t => {
  const sc = await startSidecar({ config: { limits: { device_authorization_per_ip: { max: 1 }, user_code_attempts: { max: 5 } } } })
  t.teardown(sc.close)

  const da = await authorize(sc, { client_id: 'tv-app', scope: 'openid' }, from(FREE_TEXT))
  t.equal(da.status, 200)
  t.equal(lastAudit(sc, 'device_authorization.issued').device_ip, '127.0.0.1', 'the audit field (fast path)')
  const limited = await authorize(sc, { client_id: 'tv-app', scope: 'openid' }, from(`${FREE_TEXT} 2`))
  t.equal(limited.status, 429, 'other free text is the same client: limited by the peer address')
  t.equal(lastAudit(sc, 'device_authorization.rate_limited').device_ip, '127.0.0.1')
  t.equal((await authorize(sc, { client_id: 'tv-app', scope: 'openid' })).status, 429, 'and so is the peer without the header')
  t.equal((await authorize(sc, { client_id: 'tv-app', scope: 'openid' }, from('203.0.113.7'))).status, 200, 'a valid address from the trusted peer is still believed')

  const phone = new Browser(FREE_TEXT)
  const confirm = await phone.submit(await phone.get(da.json.verification_uri_complete))
  t.equal(confirm.status, 200)
  t.match(confirm.html, '<dt>From</dt><dd><span dir="ltr">127.0.0.1</span>', 'the confirm page\'s From')
  t.equal(lastAudit(sc, 'verification.code_ok').approver_ip, '127.0.0.1', 'the audit field (fastify)')
  const wrong = await phone.submit(await phone.get(`${sc.url}/device`), { user_code: 'BCDF-GHJK' })
  t.equal(wrong.status, 200)
  t.equal(lastAudit(sc, 'verification.code_wrong').approver_ip, '127.0.0.1')

  sc.clock.advance(601_000)
  const expired = await poll(sc, da.json.device_code, 'tv-app', from(FREE_TEXT))
  t.equal(expired.json.error, 'expired_token')
  t.equal(lastAudit(sc, 'grant.expired').device_ip, '127.0.0.1', 'a poll\'s audit field')

  const echo = await get(`${sc.url}/echo`, from(`198.51.100.1, ${FREE_TEXT}`))
  t.equal(echo.json.headers['x-forwarded-for'], '127.0.0.1', 'the IdP is not handed the free text either')
  const chain = await get(`${sc.url}/echo`, from(`${FREE_TEXT}, 198.51.100.1,203.0.113.9`))
  t.equal(chain.json.headers['x-forwarded-for'], '198.51.100.1, 203.0.113.9, 127.0.0.1', 'the believable part of a chain is passed on')

  t.notOk(sc.logs.some(l => l.includes('onerror')), 'the free text is in no log line')
})

t.test('several X-Forwarded-For fields, ports, brackets and very long chains', async t => {
  const sc = await startSidecar({ config: { limits: { enabled: false } } })
  t.teardown(sc.close)
  const ipOf = async (lines: string[]): Promise<unknown> => {
    t.equal(await rawAuthorize(sc, lines), 200, lines.join(' | ').slice(0, 80))
    return lastAudit(sc, 'device_authorization.issued').device_ip
  }
  t.equal(await ipOf(['X-Forwarded-For: nonsense', 'X-Forwarded-For: 203.0.113.7']), '203.0.113.7', 'two fields are one list (RFC 9110 §5.3)')
  t.equal(await ipOf(['X-Forwarded-For: 203.0.113.7', 'x-forwarded-for: nonsense']), '127.0.0.1')
  t.equal(await ipOf(['X-Forwarded-For: [2001:db8::7]:1234']), '2001:db8::7')
  t.equal(await ipOf(['X-Forwarded-For: 203.0.113.8:40000']), '203.0.113.8')
  t.equal(await ipOf(['X-Forwarded-For: ']), '127.0.0.1')
  const many = Array.from({ length: 1000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`).join(',')
  t.equal(await ipOf([`X-Forwarded-For: ${many},${FREE_TEXT}`]), '127.0.0.1', '1 000 entries ending in free text')
  t.equal(await ipOf([`X-Forwarded-For: ${FREE_TEXT},${many}`]), '10.0.3.231', '1 000 entries after free text: the last one')
  const tooMany = Array.from({ length: 10_000 }, () => '10.0.0.1').join(',')
  const res = await request(`${sc.url}/device_authorization`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': tooMany }, body: 'client_id=tv-app' })
  await res.body.text()
  t.equal(res.statusCode, 431, '10 000 entries exceed node\'s header limit: refused before any work')
})

t.test('X-Forwarded-For from an untrusted peer changes nothing', async t => {
  const sc = await startSidecar({ config: { server: { trust_proxy: ['192.0.2.0/24'] }, limits: { device_authorization_per_ip: { max: 1 } } } })
  t.teardown(sc.close)
  t.equal((await authorize(sc, { client_id: 'tv-app', scope: 'openid' }, from('203.0.113.7'))).status, 200)
  t.equal(lastAudit(sc, 'device_authorization.issued').device_ip, '127.0.0.1')
  t.equal((await authorize(sc, { client_id: 'tv-app', scope: 'openid' }, from(FREE_TEXT))).status, 429, 'one key: the peer')
  t.equal((await authorize(sc, { client_id: 'tv-app', scope: 'openid' }, from('203.0.113.8'))).status, 429)
  const echo = await get(`${sc.url}/echo`, from(`${FREE_TEXT}, 203.0.113.7`))
  t.equal(echo.json.headers['x-forwarded-for'], '127.0.0.1')
  t.notOk(sc.logs.some(l => l.includes('onerror') || l.includes('203.0.113.7')))
})
