import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client'
import type { Clock } from '../clock.js'
import { GRANT_STATES } from '../device/grant.js'
import type { DeviceStore } from '../device/store.js'
import type { BackChannelCall } from '../upstream/client.js'

/** Outcomes each counter is labelled with; every one is exported from the start (at 0). */
export const DEVICE_AUTHORIZATION_OUTCOMES = ['issued', 'invalid_request', 'invalid_client', 'invalid_scope', 'unauthorized_client', 'rate_limited', 'unavailable'] as const
export const TOKEN_POLL_OUTCOMES = ['pending', 'slow_down', 'approved', 'denied', 'expired', 'invalid_grant', 'invalid_request', 'invalid_client', 'unauthorized_client', 'unavailable'] as const
export const VERIFICATION_OUTCOMES = ['code_ok', 'code_wrong', 'throttled', 'approved', 'denied', 'idp_error', 'idp_misconfigured'] as const
export const FAST_PATH_OUTCOMES = ['answered', 'passed_on'] as const

export type DeviceAuthorizationOutcome = typeof DEVICE_AUTHORIZATION_OUTCOMES[number]
export type TokenPollOutcome = typeof TOKEN_POLL_OUTCOMES[number]
export type VerificationOutcome = typeof VERIFICATION_OUTCOMES[number]
export type FastPathOutcome = typeof FAST_PATH_OUTCOMES[number]

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * The sidecar's Prometheus metrics (prefix dfs_), in a registry of its own so that two sidecars in
 * one process (tests) never share counts. Counters on the poll path are plain numbers read at
 * scrape time: an increment is one property store, not a label hash.
 */
export class Metrics {
  readonly registry = new Registry()
  readonly #deviceAuthorizations = tally(DEVICE_AUTHORIZATION_OUTCOMES)
  readonly #tokenPolls = tally(TOKEN_POLL_OUTCOMES)
  readonly #verifications = tally(VERIFICATION_OUTCOMES)
  readonly #fastPath = tally(FAST_PATH_OUTCOMES)
  readonly #requestDuration: FastHistogram
  readonly #idpDuration: FastHistogram
  readonly #adminRequests: Counter<'outcome'>

  constructor (options: { store: () => DeviceStore; clock: Clock }) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'dfs_' })
    outcomeCounter('dfs_device_authorizations_total', 'Device authorization requests (RFC 8628 §3.1) by outcome.', this.#deviceAuthorizations, registers)
    outcomeCounter('dfs_token_polls_total', 'device_code token requests (RFC 8628 §3.4) by outcome.', this.#tokenPolls, registers)
    outcomeCounter('dfs_verifications_total', 'Steps on the verification pages by outcome: code entered right or wrong, throttled, approved, denied, IdP error (a refusal, a failure or no answer), IdP misconfigured (an answer that means its set-up cannot handle the sign-in).', this.#verifications, registers)
    outcomeCounter('dfs_fast_path_requests_total', 'POST requests to the device endpoints answered ahead of fastify, or passed on to it (bodies without a Content-Length or over the limit, token requests that are not device_code polls).', this.#fastPath, registers)
    const { store, clock } = options
    new Gauge({
      name: 'dfs_grants',
      help: 'Grants the store holds, by state (pending, approved, denied, redeemed, expired tombstones).',
      labelNames: ['state'],
      registers,
      async collect () {
        const counts = await store().countByState(clock.now()).catch(() => undefined)
        for (const state of GRANT_STATES) {
          if (counts === undefined) this.remove({ state }) // the store is not answering: no stale numbers
          else this.set({ state }, counts[state])
        }
      }
    })
    this.#requestDuration = new FastHistogram('dfs_http_request_duration_seconds', 'Time to answer HTTP requests on the main listener, by route.', ['route', 'method', 'status'], LATENCY_BUCKETS)
    this.#idpDuration = new FastHistogram('dfs_idp_request_duration_seconds', 'Back-channel calls to the IdP, by call and outcome (ok: any HTTP answer; error: unreachable or unusable; timeout).', ['call', 'outcome'], LATENCY_BUCKETS)
    this.registry.registerMetric(this.#requestDuration as unknown as Metric)
    this.registry.registerMetric(this.#idpDuration as unknown as Metric)
    this.#adminRequests = new Counter({ name: 'dfs_admin_requests_total', help: 'Admin API requests by outcome (ok, unauthorized, not_found, invalid).', labelNames: ['outcome'], registers })
  }

  deviceAuthorization (outcome: DeviceAuthorizationOutcome): void { this.#deviceAuthorizations[outcome]++ }
  tokenPoll (outcome: TokenPollOutcome): void { this.#tokenPolls[outcome]++ }
  verification (outcome: VerificationOutcome): void { this.#verifications[outcome]++ }
  fastPath (outcome: FastPathOutcome): void { this.#fastPath[outcome]++ }
  admin (outcome: 'ok' | 'unauthorized' | 'not_found' | 'invalid'): void { this.#adminRequests.inc({ outcome }) }

  /**
   * Records answered requests of one route; `route` is its pattern (never the raw URL: no codes in
   * labels). The series are found once per method and status class, then each request is a bucket
   * scan: no label string is built or hashed per request.
   */
  routeRecorder (route: string): (method: string, status: number, seconds: number) => void {
    const byMethod: Record<string, Series[]> = Object.create(null)
    return (method, status, seconds) => {
      const klass = status >= 100 && status < 600 ? (status / 100) | 0 : 0
      const series = (byMethod[method] ??= [])
      this.#requestDuration.observeInto(series[klass] ??= this.#requestDuration.series(route, method, STATUS_CLASS[klass]!), seconds)
    }
  }

  idpCall (call: BackChannelCall, outcome: 'ok' | 'error' | 'timeout', seconds: number): void {
    this.#idpDuration.observe(seconds, call, outcome)
  }

  /** The Prometheus text exposition. */
  async text (): Promise<string> {
    return this.registry.metrics()
  }
}

const STATUS_CLASS = ['other', '1xx', '2xx', '3xx', '4xx', '5xx']

interface Series { labels: Record<string, string>; buckets: Float64Array; sum: number; count: number }

/**
 * A Prometheus histogram for the request path: a series is found by one Map lookup on its joined
 * label values and observed with a bucket scan, where prom-client's observe validates and hashes
 * the label object on every call (measured: ~5 µs a poll between the two, with the hook). It
 * registers itself with prom-client's registry through the metric interface the registry reads
 * (name, help, type, get(), reset()), so the exposition is prom-client's own.
 */
class FastHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly name: string
  readonly help: string
  readonly labelNames: readonly string[]
  readonly buckets: readonly number[]
  readonly #series = new Map<string, Series>()

  constructor (name: string, help: string, labelNames: readonly string[], buckets: readonly number[]) {
    this.name = name
    this.help = help
    this.labelNames = labelNames
    this.buckets = buckets
  }

  observe (value: number, ...labelValues: string[]): void {
    this.observeInto(this.series(...labelValues), value)
  }

  /** The series of these label values (created at the first request that has them). */
  series (...labelValues: string[]): Series {
    const key = labelValues.join('\u0000')
    let series = this.#series.get(key)
    if (series === undefined) {
      series = { labels: Object.fromEntries(this.labelNames.map((n, i) => [n, labelValues[i]!])), buckets: new Float64Array(this.buckets.length), sum: 0, count: 0 }
      this.#series.set(key, series)
    }
    return series
  }

  observeInto (series: Series, value: number): void {
    const b = this.buckets
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]!) { series.buckets[i]!++; break }
    }
    series.sum += value
    series.count++
  }

  async get (): Promise<{ name: string; help: string; type: string; aggregator: string; values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> }> {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = []
    for (const s of this.#series.values()) {
      let cumulative = 0
      this.buckets.forEach((le, i) => {
        cumulative += s.buckets[i]!
        values.push({ labels: { ...s.labels, le }, value: cumulative, metricName: `${this.name}_bucket` })
      })
      values.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${this.name}_bucket` })
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` })
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  /** Zeroes every series in place (route recorders hold on to theirs). */
  reset (): void {
    for (const s of this.#series.values()) {
      s.buckets.fill(0)
      s.sum = 0
      s.count = 0
    }
  }
}

function tally<O extends string> (outcomes: readonly O[]): Record<O, number> {
  return Object.fromEntries(outcomes.map(o => [o, 0])) as Record<O, number>
}

/** A counter whose values live in `counts` (a plain object the hot path increments). */
function outcomeCounter<O extends string> (name: string, help: string, counts: Record<O, number>, registers: Registry[]): void {
  new Counter({
    name,
    help,
    labelNames: ['outcome'],
    registers,
    collect () {
      this.reset()
      for (const [outcome, n] of Object.entries(counts) as Array<[O, number]>) this.inc({ outcome }, n)
    }
  })
}
