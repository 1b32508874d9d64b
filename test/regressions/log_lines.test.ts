import { mkdtempSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { startDemoIdp, type DemoIdp } from '../../demo/idp.js'
import { spawnSidecar, type SidecarProcess } from '../helpers/cli.js'
import { get, post } from '../helpers/http.js'
import { redisMissing, startRedis } from '../helpers/redis.js'
import { freePort, UPSTREAM_CLIENT, WEB_CLIENT } from '../helpers/sidecar.js'

/** Object keys that occur twice in one object of a JSON text (JSON.parse keeps the last silently). */
function duplicateKeys (text: string): string[] {
  const dupes: string[] = []
  let i = 0
  const ws = (): void => { while (/\s/.test(text[i] ?? '')) i++ }
  const str = (): string => {
    const start = i++
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1
    i++
    return JSON.parse(text.slice(start, i)) as string
  }
  const value = (): void => {
    ws()
    if (text[i] === '{') {
      i++
      const seen = new Set<string>()
      ws()
      if (text[i] === '}') { i++; return }
      for (;;) {
        ws()
        const key = str()
        if (seen.has(key)) dupes.push(key)
        seen.add(key)
        ws(); i++ // ':'
        value()
        ws()
        if (text[i++] === '}') return
      }
    }
    if (text[i] === '[') {
      i++
      ws()
      if (text[i] === ']') { i++; return }
      for (;;) {
        value()
        ws()
        if (text[i++] === ']') return
      }
    }
    if (text[i] === '"') { str(); return }
    while (i < text.length && !/[,}\]\s]/.test(text[i]!)) i++
  }
  value()
  return dupes
}

t.test('the duplicate-key finder finds them', async t => {
  t.strictSame(duplicateKeys('{"level":40,"msg":"a","nested":{"msg":"x","b":[{"c":1,"c":2}]},"msg":"b"}'), ['c', 'msg'])
  t.strictSame(duplicateKeys('{"msg":"say \\"msg\\":","s":"{\\"msg\\":1}"}'), [])
})

t.test('every line the running sidecar writes is one pino line: pid, hostname, level, time, msg once; expected network failures in one line with code and target', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-log-lines-'))
  const [port, idpPort] = [await freePort(), await freePort()]
  const url = `http://127.0.0.1:${port}`
  const idpOrigin = `http://127.0.0.1:${idpPort}`
  const file = join(dir, 'sidecar.yaml')
  writeFileSync(file, `server: { host: 127.0.0.1, port: ${port}, public_url: "${url}" }
upstream: { url: "${idpOrigin}", client_id: ${UPSTREAM_CLIENT.client_id}, client_secret: ${UPSTREAM_CLIENT.client_secret}, timeout_seconds: 2 }
clients: [{ client_id: tv-app }]
admin: { port: 0 }
`)
  const startIdp = (): Promise<DemoIdp> => startDemoIdp({ issuer: url, port: idpPort, sidecar: { ...UPSTREAM_CLIENT, redirect_uri: `${url}/device/callback` }, extraClients: [WEB_CLIENT] })

  // started while the IdP is down: whatever it says about that is a log line too
  const sc = spawnSidecar(['--config', file])
  t.teardown(() => { if (sc.child.exitCode === null) sc.child.kill('SIGKILL') })
  for (let i = 0; i < 600 && sc.stdout.length + sc.stderr.length === 0; i++) await new Promise(resolve => setTimeout(resolve, 50))
  t.ok(sc.stdout.length + sc.stderr.length > 0, 'it said something while the IdP was down')
  let idp = await startIdp()
  t.teardown(() => idp.close())
  let ready = 0
  for (let i = 0; i < 300 && ready !== 200; i++) {
    ready = (await get(`${url}/readyz`).catch(() => undefined))?.status ?? 0
    if (ready !== 200) await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.equal(ready, 200, 'ready once the IdP answers')
  const line = (match: (l: string) => boolean, from: number): Promise<Record<string, any>> =>
    sc.waitForLine(match, from, 5_000).then(l => JSON.parse(l) as Record<string, any>, () => ({}) as Record<string, any>)
  const banner = await line(l => l.includes(`${url}/device`), 0)
  t.match(banner, { level: 30, msg: String }, `the banner names the page a person opens: ${String(banner.msg)}`)

  // the IdP goes away: a proxied request and a back-channel request each fail in one warn line
  await idp.close()
  let mark = sc.stdout.length
  const proxied = await get(`${url}/some/idp/page`)
  t.equal(proxied.status, 502)
  const proxyLine = await line(l => l.includes('"level":40'), mark)
  t.match(proxyLine, { level: 40, err: { code: /^(ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET)$/, target: idpOrigin } }, 'the proxied failure: code and target')
  t.notMatch(JSON.stringify(proxyLine), /"stack"/, 'no stack')

  mark = sc.stdout.length
  const passed = await post(`${url}/token`, { grant_type: 'client_credentials', client_id: WEB_CLIENT.client_id, client_secret: WEB_CLIENT.client_secret as string })
  t.equal(passed.status, 502)
  t.equal(passed.json.error, 'temporarily_unavailable')
  const depLine = await line(l => l.includes('"level":40'), mark)
  t.match(depLine, { level: 40, code: 'ERR_UPSTREAM_UNREACHABLE', cause_code: /^(ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET)$/, target: `${idpOrigin}/token` }, 'the back-channel failure: code and target')
  t.notMatch(JSON.stringify(depLine), /"stack"/, 'no stack')
  t.equal(sc.stdout.slice(mark).filter(l => l.includes('"level":40') || l.includes('"level":50')).length, 1, 'one line for it')

  idp = await startIdp()
  await sc.stop()
  t.equal(sc.child.exitCode, 0)

  allPinoLines(t, sc)
  t.notMatch(sc.stdout.join('\n'), UPSTREAM_CLIENT.client_secret, 'the upstream secret is not logged')
})

t.test('Redis unreachable, at start-up and at a request: one line with the code and the target, no stack', { skip: redisMissing() }, async t => {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-log-lines-'))
  const [port, redisPort] = [await freePort(), await freePort()]
  const url = `http://127.0.0.1:${port}`
  const idp = await startDemoIdp({ issuer: url, sidecar: { ...UPSTREAM_CLIENT, redirect_uri: `${url}/device/callback` } })
  t.teardown(() => idp.close())
  const file = join(dir, 'sidecar.yaml')
  const redisTarget = `redis://127.0.0.1:${redisPort}`
  writeFileSync(file, `server: { host: 127.0.0.1, port: ${port}, public_url: "${url}", cookie_keys: ["a-cookie-key-for-this-test-only-0123456"] }
upstream: { url: "${idp.url}", client_id: ${UPSTREAM_CLIENT.client_id}, client_secret: ${UPSTREAM_CLIENT.client_secret} }
clients: [{ client_id: tv-app }]
store: { type: redis, encryption_key: "a-store-key-for-this-test-only-0123456789", redis: { url: "redis://:redis-password-9f@127.0.0.1:${redisPort}", command_timeout_ms: 500, connect_timeout_ms: 1000 } }
admin: { port: 0 }
`)
  const isStoreLine = (l: string): boolean => l.includes('ERR_STORE_UNAVAILABLE')

  // nothing listens on the Redis port yet
  const down = spawnSidecar(['--config', file])
  t.teardown(() => { if (down.child.exitCode === null) down.child.kill('SIGKILL') })
  const atStart = await down.waitForLine(isStoreLine, 0, 20_000).then(l => JSON.parse(l) as Record<string, any>, () => ({}) as Record<string, any>)
  t.match(atStart, { code: 'ERR_STORE_UNAVAILABLE', cause_code: 'ECONNREFUSED', target: redisTarget }, 'at start-up: code and target')
  t.ok(atStart.level >= 40, `level ${String(atStart.level)}`)
  await down.stop()
  allPinoLines(t, down)

  const redis = await startRedis(['--requirepass', 'redis-password-9f'], redisPort)
  t.teardown(redis.stop)
  const sc = spawnSidecar(['--config', file])
  t.teardown(() => { if (sc.child.exitCode === null) sc.child.kill('SIGKILL') })
  let ready = 0
  for (let i = 0; i < 300 && ready !== 200; i++) {
    ready = (await get(`${url}/readyz`).catch(() => undefined))?.status ?? 0
    if (ready !== 200) await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.equal(ready, 200, 'ready with Redis up')
  await redis.stop()
  const mark = sc.stdout.length
  const res = await post(`${url}/device_authorization`, { client_id: 'tv-app' })
  t.equal(res.status, 503)
  t.equal(res.json.error, 'temporarily_unavailable')
  const atRequest = await sc.waitForLine(isStoreLine, mark, 5_000).then(l => JSON.parse(l) as Record<string, any>, () => ({}) as Record<string, any>)
  t.match(atRequest, { level: 40, code: 'ERR_STORE_UNAVAILABLE', target: redisTarget, msg: 'dependency error' }, 'at a request: code and target')
  await sc.stop()
  allPinoLines(t, sc)
  t.notMatch([...down.stdout, ...sc.stdout].join('\n'), 'redis-password-9f', 'the Redis password is not logged')
})

/** Every line of the process is one pino JSON object: no duplicate keys, pid, hostname, level, time, msg; no stack; stderr empty. */
function allPinoLines (t: Test, sc: SidecarProcess): void {
  t.strictSame(sc.stderr.filter(l => l.trim() !== ''), [], 'nothing but pino lines on stdout: stderr is empty')
  const lines = sc.stdout.filter(l => l.trim() !== '')
  t.ok(lines.length >= 1, `${lines.length} lines`)
  let bad = 0
  for (const line of lines) {
    let parsed: Record<string, unknown>
    try {
      parsed = JSON.parse(line) as Record<string, unknown>
    } catch {
      t.fail(`not JSON: ${line}`)
      continue
    }
    const dupes = duplicateKeys(line)
    const ok = dupes.length === 0 && parsed.pid === sc.child.pid && parsed.hostname === hostname() && typeof parsed.level === 'number' &&
      typeof parsed.time === 'number' && typeof parsed.msg === 'string' && !line.includes('"stack"')
    if (!ok) {
      bad++
      t.fail(`not one pino line${dupes.length === 0 ? '' : ` (${dupes.join(', ')} twice)`}: ${line}`)
    }
  }
  t.equal(bad, 0, `every one of ${lines.length} lines has pid, hostname, level, time, msg once, and no stack`)
}
