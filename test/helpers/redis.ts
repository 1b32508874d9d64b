import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './sidecar.js'

export interface TestRedis {
  url: string
  port: number
  /** The server's process id (changes on restart). */
  readonly pid: number
  /** Stops the server (SIGTERM; the append-only file keeps what was written). */
  stop(): Promise<void>
  /** Starts it again on the same port and data directory. */
  restart(): Promise<void>
}

/** Why Redis tests cannot run here, or undefined. Under CI=true a missing server is an error. */
export function redisMissing (): string | undefined {
  const found = spawnSync('redis-server', ['--version'], { stdio: 'ignore' })
  if (found.error === undefined && found.status === 0) return undefined
  const reason = 'redis-server is not installed (apt-get install redis-server)'
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`)
  return reason
}

/** A real redis-server on a free loopback port, append-only so a restart keeps pending grants; `extraArgs` override. */
export async function startRedis (extraArgs: string[] = [], port?: number): Promise<TestRedis> {
  port ??= await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'dfs-redis-'))
  let child: ChildProcess | undefined
  const launch = async (): Promise<void> => {
    // extraArgs come last, so a caller can override the defaults
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--protected-mode', 'no', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = proc
    await new Promise<void>((resolve, reject) => {
      let out = ''
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.includes('Ready to accept connections') || out.includes('+monitor master')) resolve()
      })
      proc.once('exit', code => reject(new Error(`redis-server exited (${code}): ${out.slice(-500)}`)))
    })
  }
  await launch()
  const stop = async (): Promise<void> => {
    const proc = child
    if (proc === undefined || proc.exitCode !== null) return
    await new Promise<void>(resolve => {
      proc.once('exit', () => resolve())
      proc.kill('SIGTERM')
    })
  }
  return { url: `redis://127.0.0.1:${port}`, port, stop, restart: launch, get pid () { return child?.pid ?? 0 } }
}

/** Three masters joined into a Redis Cluster by redis-cli; resolves once the cluster state is ok. */
export async function startCluster (): Promise<{ nodes: string[]; stop(): Promise<void> }> {
  const servers = await Promise.all([0, 1, 2].map(async () => {
    const port = await freePort()
    return startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--appendonly', 'no'], port)
  }))
  const nodes = servers.map(s => `127.0.0.1:${s.port}`)
  const made = spawnSync('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' })
  if (made.status !== 0) throw new Error(`redis-cli --cluster create failed: ${made.stdout} ${made.stderr}`)
  for (let i = 0; i < 100; i++) {
    const info = spawnSync('redis-cli', ['-p', String(servers[0]!.port), 'cluster', 'info'], { encoding: 'utf8' }).stdout
    if (info.includes('cluster_state:ok')) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return { nodes, stop: async () => { await Promise.all(servers.map(s => s.stop())) } }
}

/** A master and one Sentinel watching it as `mymaster`. */
export async function startSentinel (): Promise<{ name: string; nodes: string[]; stop(): Promise<void> }> {
  const master = await startRedis()
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'dfs-sentinel-'))
  const file = join(dir, 'sentinel.conf')
  writeFileSync(file, `port ${port}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 ${master.port} 1\nsentinel down-after-milliseconds mymaster 5000\n`)
  const proc = spawn('redis-server', [file, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('+monitor master')) resolve() })
    proc.once('exit', code => reject(new Error(`redis-sentinel exited (${code}): ${out.slice(-500)}`)))
  })
  return {
    name: 'mymaster',
    nodes: [`127.0.0.1:${port}`],
    stop: async () => {
      await new Promise<void>(resolve => { proc.once('exit', () => resolve()); proc.kill('SIGTERM') })
      await master.stop()
    }
  }
}
