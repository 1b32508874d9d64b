/**
 * `npm run bench:store`: device-code poll latency through the HTTP endpoint with the memory store
 * and with the Redis store, in one run on this machine, and Redis memory per pending grant.
 * Loopback only, bounded (POLLS per store, GRANTS for memory), stops by itself.
 */
import { Redis } from 'ioredis'
import { Agent, request } from 'undici'
import { startRedis } from '../test/helpers/redis.js'
import { startSidecar, type TestSidecar } from '../test/helpers/sidecar.js'

const POLLS = Number(process.env.POLLS ?? 3000)
const GRANTS = Number(process.env.GRANTS ?? 10_000)
const agent = new Agent({ connections: 8 })

async function authorize (sc: TestSidecar, n: number): Promise<string[]> {
  const codes: string[] = []
  for (let i = 0; i < n; i++) {
    const res = await request(`${sc.url}/device_authorization`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'client_id=tv-app&scope=openid' })
    codes.push((await res.body.json() as { device_code: string }).device_code)
  }
  return codes
}

async function pollLatencies (sc: TestSidecar, codes: string[]): Promise<number[]> {
  const times: number[] = []
  for (let i = 0; i < POLLS; i++) {
    const body = `grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=tv-app&device_code=${codes[i % codes.length]}`
    const start = process.hrtime.bigint()
    const res = await request(`${sc.url}/token`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })
    await res.body.text()
    times.push(Number(process.hrtime.bigint() - start) / 1e6)
    if (res.statusCode !== 400) throw new Error(`unexpected status ${res.statusCode}`)
  }
  return times.sort((a, b) => a - b)
}

const pct = (sorted: number[], p: number): string => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!.toFixed(3)

const redis = await startRedis()
const rows: string[] = []
try {
  const config = { store: { type: 'redis', encryption_key: 'bench-encryption-key-0123456789abcdef', redis: { url: redis.url } }, limits: { enabled: false }, log: { level: 'warn' } }
  const memory = await startSidecar({ config: { limits: { enabled: false }, log: { level: 'warn' } } })
  const viaRedis = await startSidecar({ config })
  try {
    const memCodes = await authorize(memory, 500)
    const redisCodes = await authorize(viaRedis, 500)
    // warm-up, then interleave the two measurements so drift hits both alike
    await pollLatencies(memory, memCodes.slice(0, 100))
    await pollLatencies(viaRedis, redisCodes.slice(0, 100))
    const m = await pollLatencies(memory, memCodes)
    const r = await pollLatencies(viaRedis, redisCodes)
    rows.push('| store | polls | p50 ms | p99 ms |', '| --- | --- | --- | --- |')
    rows.push(`| memory | ${POLLS} | ${pct(m, 0.5)} | ${pct(m, 0.99)} |`)
    rows.push(`| redis | ${POLLS} | ${pct(r, 0.5)} | ${pct(r, 0.99)} |`)

    const raw = new Redis(redis.url)
    await raw.flushall()
    const before = Number(/used_memory:(\d+)/.exec(await raw.info('memory'))![1])
    await authorize(viaRedis, GRANTS)
    const after = Number(/used_memory:(\d+)/.exec(await raw.info('memory'))![1])
    const keys = await raw.dbsize()
    await raw.quit()
    rows.push('', `Redis used_memory for ${GRANTS} pending grants: ${((after - before) / 1024 / 1024).toFixed(2)} MiB, ${Math.round((after - before) / GRANTS)} bytes per grant (${keys} keys: a grant hash and a user-code index each, and the per-status index sets)`)
  } finally {
    await memory.close()
    await viaRedis.close()
  }
} finally {
  await redis.stop()
  await agent.close()
}
process.stdout.write(`${rows.join('\n')}\n`)
