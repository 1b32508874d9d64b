/**
 * `npm run bench`: scenarios A–F in interleaved rounds (A B C D E F, three times), a fresh server
 * process per run pinned to core 0 and the load generator to core 1 (taskset, when present), then
 * the memory run. Writes bench/results/latest.{json,md}. `-- --smoke`: one round, 1 s per
 * scenario, small memory run, no targets judged. Loopback only; bounded; stops by itself.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:net'
import { parseArgs } from 'node:util'
import { startRedis, type TestRedis } from '../test/helpers/redis.js'
import { freePort } from '../test/helpers/sidecar.js'

const { values: opts } = parseArgs({ options: { smoke: { type: 'boolean' }, only: { type: 'string' }, rounds: { type: 'string' }, duration: { type: 'string' } } })
const smoke = opts.smoke === true
// --only/--rounds/--duration are for profiling sessions; a run with them is marked partial
const partial = opts.only !== undefined || opts.rounds !== undefined || opts.duration !== undefined
const ROUNDS = Number(opts.rounds ?? (smoke ? 1 : 3))
const DURATION = Number(opts.duration ?? (smoke ? 1 : 10))
const WARMUP = smoke ? 0.5 : 1
const SEED = smoke ? 10_000 : 100_000
const MEMORY_RUNS = smoke ? [10_000] : partial ? [] : [100_000, 1_000_000]
const DIST = new URL('.', import.meta.url).pathname
const tmp = mkdtempSync(join(tmpdir(), 'dfs-bench-'))
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0 && cpus().length >= 2
const pin = (core: number, argv: string[]): [string, string[]] => hasTaskset ? ['taskset', ['-c', String(core), ...argv]] : [argv[0]!, argv.slice(1)]

type Scenario = 'A' | 'B' | 'C' | 'D' | 'E' | 'F'
const WHAT: Record<Scenario, string> = {
  A: 'bare fastify 5 route, fixed 400',
  B: 'sidecar (memory store), device_code polls over 100 000 pending grants',
  C: 'oidc-provider 9 deviceFlow, polls of pending device codes',
  D: 'sidecar (Redis store), same load as B',
  E: 'sidecar, POST /device_authorization (public client)',
  F: 'bare node:http, fixed 400'
}
interface Run { scenario: Scenario; round: number; rps: number; p50: number; p99: number; rssMiB: number; cpuUsPerReq: number; statuses: Record<string, number>; errors: number; loadgenCpu: number; valid: boolean }

const node = process.execPath
const sidecarPort = await freePort()
const idpPort = await freePort()
const publicUrl = `http://127.0.0.1:${sidecarPort}`

function configFile (name: string, store: string): string {
  const file = join(tmp, `${name}.yaml`)
  writeFileSync(file, `# production-shaped: logging at info, metrics and admin listener on; rate limits off (one load
# generator address would be limited at once: the bench measures the endpoints, not the limiter)
server: { host: 127.0.0.1, port: ${sidecarPort}, public_url: "${publicUrl}", cookie_keys: ["bench-cookie-key-0123456789abcdefghij"] }
upstream: { url: "http://127.0.0.1:${idpPort}", client_id: device-sidecar, client_secret: bench-secret }
device_flow_settings: { device_flow_polling_interval_seconds: 5, device_flow_codelifetime_seconds: 1800 }
clients:
  - { client_id: tv-app, client_name: Living Room TV, scopes: [openid, profile, offline_access] }
store: ${store}
limits: { enabled: false }
admin: { port: 0 }
log: { level: info }
`)
  return file
}

async function waitPort (port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 2400; i++) { // up to ~2 minutes: seeding 100 000 grants into Redis on one core
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`)
    const up = await new Promise<boolean>(resolve => {
      const s = connect(port, '127.0.0.1', () => { s.end(); resolve(true) })
      s.on('error', () => resolve(false))
    })
    if (up) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`port ${port} did not open`)
}

function cpuTicks (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return Number(fields[11]) + Number(fields[12]) // utime + stime (fields 14, 15)
}
const peakRssMiB = (pid: number): number => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100)

async function runOne (scenario: Scenario, round: number, redis: TestRedis | undefined): Promise<Run> {
  const codes = join(tmp, `codes-${scenario}`)
  let server: string[]
  let port = sidecarPort
  let load: string[] = []
  const token = ['--path', '/token', '--codes', codes]
  switch (scenario) {
    case 'A': server = ['fastify', '--port', String(port)]; load = ['--path', '/token', '--body', 'grant_type=x&device_code=y&client_id=tv-app']; break
    case 'F': server = ['node', '--port', String(port)]; load = ['--path', '/token', '--body', 'grant_type=x&device_code=y&client_id=tv-app']; break
    case 'B': server = ['sidecar', '--config', configFile('memory', '{ type: memory }'), '--seed', String(SEED), '--codes', codes]; load = token; break
    case 'D':
      spawnSync('redis-cli', ['-p', String(redis!.port), 'flushall'])
      server = ['sidecar', '--config', configFile('redis', `{ type: redis, encryption_key: "bench-encryption-key-0123456789abcdef", redis: { url: "${redis!.url}" } }`), '--seed', String(SEED), '--codes', codes]
      load = token
      break
    case 'E': server = ['sidecar', '--config', configFile('memory', '{ type: memory }')]; load = ['--path', '/device_authorization', '--body', 'client_id=tv-app&scope=openid']; break
    case 'C': port = await freePort(); server = ['peer', '--port', String(port), '--codes', codes, '--count', String(smoke ? 20 : 100)]; load = [...token]; break
  }
  const [cmd, args] = pin(0, [node, join(DIST, 'servers.js'), ...server])
  // the server's stdout (its log, at info) goes to a file, as a deployment's log would: a pipe read
  // by this unpinned process would wake it for every audit line, on either core
  const log = join(tmp, `server-${scenario}-${round}.log`)
  const logFd = openSync(log, 'w')
  const child = spawn(cmd, args, { stdio: ['ignore', logFd, 'inherit'] })
  closeSync(logFd)
  const ready = (): boolean => /^ready$/m.test(readFileSync(log, 'utf8'))
  await waitPort(port, child)
  for (let i = 0; !ready() && i < 1200; i++) await new Promise(resolve => setTimeout(resolve, 50))
  const serverPid = child.pid! // taskset execs the server: the same pid either way
  try {
    const [lcmd, largs] = pin(1, [node, join(DIST, 'load.js'), '--url', `http://127.0.0.1:${port}`, '--connections', '50', '--duration', String(DURATION), '--warmup', String(WARMUP), ...load])
    const loader = spawn(lcmd, largs, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_CLIENT_ID: scenario === 'C' ? 'bench-device' : 'tv-app' } })
    let out = ''
    let ticksAtStart = 0
    loader.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (ticksAtStart === 0 && out.includes('measuring\n')) ticksAtStart = cpuTicks(serverPid)
    })
    await new Promise(resolve => loader.once('exit', resolve))
    const ticks = cpuTicks(serverPid) - ticksAtStart
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as { requests: number; rps: number; p50: number; p99: number; statuses: Record<string, number>; errors: number; loadgenCpu: number }
    const expected = scenario === 'E' ? '200' : '400'
    const valid = r.requests > 0 && r.errors === 0 && Object.keys(r.statuses).every(s => s === expected)
    return { scenario, round, rps: r.rps, p50: r.p50, p99: r.p99, rssMiB: peakRssMiB(serverPid), cpuUsPerReq: ticks / CLK_TCK * 1e6 / r.requests, statuses: r.statuses, errors: r.errors, loadgenCpu: r.loadgenCpu, valid }
  } finally {
    child.kill('SIGKILL')
    await new Promise(resolve => child.exitCode !== null ? resolve(null) : child.once('exit', resolve))
    rmSync(log, { force: true }) // E's audit lines come to tens of MB a run
  }
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2 }

const started = Date.now()
const redisMissing = spawnSync('redis-server', ['--version']).status !== 0
// Redis as a cache-shaped deployment would run it (no fsync per write), on the server's core
const redis = redisMissing ? undefined : await startRedis(['--appendonly', 'no'])
if (redis !== undefined && hasTaskset) spawnSync('taskset', ['-acp', '0', String(redis.pid)])
const idpArgs = pin(1, [node, join(DIST, 'servers.js'), 'idp', '--port', String(idpPort), '--issuer', publicUrl])
const idp = spawn(idpArgs[0], idpArgs[1], { stdio: ['ignore', 'ignore', 'inherit'] })
const runs: Run[] = []
try {
  await waitPort(idpPort, idp)
  const scenarios = (opts.only?.split(',') ?? ['A', 'B', 'C', 'D', 'E', 'F']) as Scenario[]
  for (let round = 1; round <= ROUNDS; round++) {
    for (const s of scenarios) {
      if (s === 'D' && redis === undefined) continue
      const run = await runOne(s, round, redis)
      runs.push(run)
      process.stderr.write(`round ${round} ${s}: ${Math.round(run.rps)} req/s p50 ${run.p50.toFixed(2)} ms p99 ${run.p99.toFixed(2)} ms rss ${run.rssMiB.toFixed(0)} MiB cpu ${run.cpuUsPerReq.toFixed(0)} µs/req loadgen ${(run.loadgenCpu * 100).toFixed(0)}% ${JSON.stringify(run.statuses)}${run.valid ? '' : ' INVALID'}\n`)
    }
  }
} finally {
  idp.kill('SIGKILL')
  await redis?.stop()
}

const memory: Array<{ grants: number; bytesPerGrant: number; heapMiB: number }> = []
for (const n of MEMORY_RUNS) {
  const file = configFile('memory-run', `{ type: memory, memory: { max_grants: ${Math.ceil(n * 1.1)} } }`)
  const r = spawnSync(node, ['--expose-gc', '--max-old-space-size=4096', join(DIST, 'memory.js'), file, String(n)], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`memory run failed: ${r.stderr}`)
  memory.push(JSON.parse(r.stdout.trim()))
}

const by = (s: Scenario, round?: number): Run[] => runs.filter(r => r.scenario === s && (round === undefined || r.round === round))
const ratio = (a: Scenario, b: Scenario): number => median([...new Set(runs.map(r => r.round))].flatMap(round => {
  const x = by(a, round)[0]; const y = by(b, round)[0]
  return x === undefined || y === undefined || !x.valid || !y.valid ? [] : [x.rps / y.rps]
}))
const summary = (['A', 'B', 'C', 'D', 'E', 'F'] as Scenario[]).filter(s => by(s).length > 0).map(s => ({
  scenario: s,
  what: WHAT[s],
  rps: median(by(s).map(r => r.rps)),
  p50: median(by(s).map(r => r.p50)),
  p99: median(by(s).map(r => r.p99)),
  peakRssMiB: Math.max(...by(s).map(r => r.rssMiB)),
  cpuUsPerReq: median(by(s).map(r => r.cpuUsPerReq)),
  loadgenCpu: median(by(s).map(r => r.loadgenCpu)),
  statuses: by(s).reduce<Record<string, number>>((acc, r) => { for (const [k, v] of Object.entries(r.statuses)) acc[k] = (acc[k] ?? 0) + v; return acc }, {}),
  valid: by(s).every(r => r.valid)
}))
const B = summary.find(s => s.scenario === 'B')
const mem1M = memory.find(m => m.grants === 1_000_000)
const targets = [
  { target: 'B / A ≥ 0.75', value: ratio('B', 'A'), ok: ratio('B', 'A') >= 0.75 },
  { target: 'B / C ≥ 3.5', value: ratio('B', 'C'), ok: ratio('B', 'C') >= 3.5 },
  { target: 'D / B ≥ 0.4', value: ratio('D', 'B'), ok: ratio('D', 'B') >= 0.4 },
  { target: 'E / A ≥ 0.5', value: ratio('E', 'A'), ok: ratio('E', 'A') >= 0.5 },
  { target: 'B p99 ≤ 5 ms', value: B?.p99 ?? NaN, ok: (B?.p99 ?? Infinity) <= 5 },
  { target: 'memory ≤ 600 B/grant at 1M', value: mem1M?.bytesPerGrant ?? NaN, ok: (mem1M?.bytesPerGrant ?? Infinity) <= 600 },
  { target: 'B peak RSS ≤ 256 MiB', value: B?.peakRssMiB ?? NaN, ok: (B?.peakRssMiB ?? Infinity) <= 256 }
]
const result = { date: new Date().toISOString(), smoke, node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, pinned: hasTaskset, rounds: ROUNDS, durationS: DURATION, connections: 50, seconds: (Date.now() - started) / 1000, summary, targets, memory, runs }

const f = (x: number, d = 2): string => Number.isFinite(x) ? x.toFixed(d) : '–'
const md = [
  `# Benchmark ${smoke ? '(smoke: not a measurement) ' : ''}— ${result.date}`,
  '',
  `Node ${result.node}, ${result.cpus} cores (${result.cpuModel ?? '?'}), server ${hasTaskset ? 'pinned to core 0, load generator to core 1' : 'not pinned (no taskset)'}; ${ROUNDS} interleaved rounds, ${DURATION} s measured after ${WARMUP} s warm-up, 50 connections; medians over rounds.`,
  '',
  '| | scenario | req/s | p50 ms | p99 ms | peak RSS MiB | server CPU µs/req | load-gen CPU | statuses |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ...summary.map(s => `| ${s.scenario} | ${s.what} | ${Math.round(s.rps)} | ${f(s.p50, 3)} | ${f(s.p99, 3)} | ${f(s.peakRssMiB, 0)} | ${f(s.cpuUsPerReq, 0)} | ${f(s.loadgenCpu * 100, 0)}% | ${Object.entries(s.statuses).map(([k, v]) => `${k}×${v}`).join(' ')}${s.valid ? '' : ' **INVALID**'} |`),
  '',
  '| target | measured | met |',
  '| --- | ---: | --- |',
  ...targets.map(t => `| ${t.target} | ${f(t.value)} | ${smoke ? '(smoke)' : t.ok ? 'yes' : '**no**'} |`),
  '',
  '| memory store | heap bytes per pending grant | heap MiB |',
  '| --- | ---: | ---: |',
  ...memory.map(m => `| ${m.grants.toLocaleString('en')} grants | ${f(m.bytesPerGrant, 0)} | ${f(m.heapMiB, 0)} |`),
  ''
].join('\n')
const dir = new URL('../../bench/results/', import.meta.url).pathname
mkdirSync(dir, { recursive: true })
const name = smoke ? 'smoke' : partial ? 'partial' : 'latest'
writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`)
writeFileSync(join(dir, `${name}.md`), md)
process.stdout.write(`${md}\n`)
rmSync(tmp, { recursive: true, force: true })
if (summary.some(s => !s.valid)) process.exitCode = 1
