import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './sidecar.js'

export interface TestRedis {
  url: string
  port: number
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

/** A real redis-server on a free loopback port, append-only so a restart keeps pending grants. */
export async function startRedis (): Promise<TestRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'dfs-redis-'))
  let child: ChildProcess | undefined
  const launch = async (): Promise<void> => {
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = proc
    await new Promise<void>((resolve, reject) => {
      let out = ''
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.includes('Ready to accept connections')) resolve()
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
  return { url: `redis://127.0.0.1:${port}`, port, stop, restart: launch }
}
