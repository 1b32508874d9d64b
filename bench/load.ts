/**
 * One load run: autocannon in this process (pinned to the other core by bench/run.ts), requests
 * prebuilt per connection, one autocannon instance whose first seconds are a warm-up that is not
 * recorded. Latency percentiles come from every response's own timing (ms, fractional), not
 * autocannon's whole-millisecond histogram; every status is counted. Prints one JSON line.
 *
 * The load generator's heap is kept small and quiet, because its pauses are measured as the
 * server's latency: each connection's requests are built once (autocannon deep-clones its options
 * and builds their `requests` for every connection, so those are a single request here and each
 * connection's own slice is set in setupClient), the warm-up is the same instance (no second
 * build, no discarded one to collect while measuring), and latencies go into a preallocated
 * Float64Array.
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
const duration = Number(values.duration)
const warmup = Number(values.warmup)
const codes = values.codes === undefined ? [] : readFileSync(values.codes, 'utf8').split('\n').filter(Boolean)
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const DEVICE = 'urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code'
const clientId = process.env.BENCH_CLIENT_ID ?? 'tv-app'

type Request = { method: 'POST'; path: string; headers: Record<string, string>; body: string }

/** Each connection walks its own slice of the codes, from its own offset. */
function requestsFor (index: number): Request[] {
  if (codes.length === 0) return [{ method: 'POST', path: values.path!, headers: FORM, body: values.body! }]
  const per = Math.max(1, Math.floor(codes.length / connections))
  const slice = codes.slice((index * per) % codes.length, (index * per) % codes.length + per)
  return slice.map(code => ({ method: 'POST', path: values.path!, headers: FORM, body: `grant_type=${DEVICE}&client_id=${clientId}&device_code=${code}` }))
}

let next = 0
let latencies = new Float64Array(1 << 20)
let recorded = 0
const statuses: Record<string, number> = {}
let warmUntil = 0n // set at the first response: the warm-up counts from traffic, not from set-up
let first = 0n
let last = 0n
let cpu = process.cpuUsage()
const instance: autocannon.Instance & PromiseLike<autocannon.Result> = (autocannon as unknown as (o: autocannon.Options) => autocannon.Instance & PromiseLike<autocannon.Result>)({
  url: values.url!,
  connections,
  duration: warmup + duration,
  requests: requestsFor(0).slice(0, 1),
  setupClient: (client: { setRequests(r: unknown[]): void }) => { client.setRequests(requestsFor(next++)) }
} as autocannon.Options)
instance.on('response', (_client, statusCode, _bytes, ms) => {
  const now = process.hrtime.bigint()
  if (warmUntil === 0n) warmUntil = now + BigInt(Math.round(warmup * 1e9))
  if (now < warmUntil) return
  if (first === 0n) {
    first = now
    cpu = process.cpuUsage()
    process.stdout.write('measuring\n') // bench/run.ts starts the server's CPU count here
  }
  last = now
  if (recorded === latencies.length) {
    const grown = new Float64Array(latencies.length * 2)
    grown.set(latencies)
    latencies = grown
  }
  latencies[recorded++] = ms
  statuses[statusCode] = (statuses[statusCode] ?? 0) + 1
})
const result = await instance
// the rate over the span of measured responses, so the load generator's own set-up is not counted
const seconds = Number(last - first) / 1e9
const used = process.cpuUsage(cpu)
const sorted = latencies.subarray(0, recorded).sort()
const pct = (p: number): number => recorded === 0 ? NaN : sorted[Math.min(recorded - 1, Math.floor(recorded * p))]!
process.stdout.write(`${JSON.stringify({
  requests: recorded,
  rps: recorded / seconds,
  p50: pct(0.5),
  p99: pct(0.99),
  statuses,
  errors: result.errors,
  timeouts: result.timeouts,
  loadgenCpu: (used.user + used.system) / 1e6 / seconds
})}\n`)
