/**
 * One load run: autocannon in this process (pinned to the other core by bench/run.ts), requests
 * prebuilt per connection, a warm-up that is not recorded, then the measured window. Latency
 * percentiles come from every response's own timing (ms, fractional), not autocannon's
 * whole-millisecond histogram; every status is counted. Prints one JSON line.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'

const { values } = parseArgs({
  options: {
    url: { type: 'string' }, path: { type: 'string' }, codes: { type: 'string' }, body: { type: 'string' },
    connections: { type: 'string', default: '50' }, duration: { type: 'string', default: '10' }, warmup: { type: 'string', default: '2' }
  }
})
const connections = Number(values.connections)
const codes = values.codes === undefined ? [] : readFileSync(values.codes, 'utf8').split('\n').filter(Boolean)
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const DEVICE = 'urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code'
const clientId = process.env.BENCH_CLIENT_ID ?? 'tv-app'

/** Each connection walks its own slice of the codes, from its own offset. */
function requestsFor (index: number): Array<{ method: 'POST'; path: string; headers: Record<string, string>; body: string }> {
  if (codes.length === 0) return [{ method: 'POST', path: values.path!, headers: FORM, body: values.body! }]
  const per = Math.max(1, Math.floor(codes.length / connections))
  const slice = codes.slice((index * per) % codes.length, (index * per) % codes.length + per)
  return slice.map(code => ({ method: 'POST', path: values.path!, headers: FORM, body: `grant_type=${DEVICE}&client_id=${clientId}&device_code=${code}` }))
}

async function run (seconds: number, record: boolean) {
  let next = 0
  const latencies: number[] = []
  const statuses: Record<string, number> = {}
  const span = { first: 0n, last: 0n, cpu: process.cpuUsage() }
  const instance: autocannon.Instance & PromiseLike<autocannon.Result> = (autocannon as unknown as (o: autocannon.Options) => autocannon.Instance & PromiseLike<autocannon.Result>)({
    url: values.url!,
    connections,
    duration: seconds,
    requests: requestsFor(0),
    setupClient: (client: { setRequests(r: unknown[]): void }) => { client.setRequests(requestsFor(next++)) }
  } as autocannon.Options)
  if (record) {
    instance.on('response', (_client, statusCode, _bytes, ms) => {
      span.last = process.hrtime.bigint()
      if (span.first === 0n) { span.first = span.last; span.cpu = process.cpuUsage() }
      latencies.push(ms)
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1
    })
  }
  const result = await instance
  // the rate over the span of responses, so the load generator's own set-up is not counted
  return { result, latencies, statuses, seconds: Number(span.last - span.first) / 1e9, cpu: process.cpuUsage(span.cpu) }
}

if (Number(values.warmup) > 0) await run(Number(values.warmup), false)
process.stdout.write('measuring\n')
const { result, latencies, statuses, seconds, cpu } = await run(Number(values.duration), true)
const elapsedS = seconds
latencies.sort((a, b) => a - b)
const pct = (p: number): number => latencies.length === 0 ? NaN : latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!
process.stdout.write(`${JSON.stringify({
  requests: latencies.length,
  rps: latencies.length / elapsedS,
  p50: pct(0.5),
  p99: pct(0.99),
  statuses,
  errors: result.errors,
  timeouts: result.timeouts,
  loadgenCpu: (cpu.user + cpu.system) / 1e6 / elapsedS
})}\n`)
