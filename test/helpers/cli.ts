/**
 * The sidecar as an operator runs it: the built binary (dist/src/main.js) in a child process,
 * its stdout and stderr collected line by line. The built JavaScript starts in a few hundred
 * milliseconds; the TypeScript sources, compiled by tap's loader in the child, took 4 s on an idle
 * machine and over 10 s in a loaded suite (test/reload.test.ts timed out waiting for it). `npm
 * test` builds first; a dist older than the sources fails here rather than testing stale code.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const BIN = 'dist/src/main.js'

export interface SidecarProcess {
  child: ChildProcess
  /** Every complete line written to stdout, in order. */
  stdout: string[]
  /** Every complete line written to stderr, in order. */
  stderr: string[]
  /** Resolves with the first stdout line (index ≥ `from`) `match` accepts; rejects after `ms`. */
  waitForLine (match: (line: string) => boolean, from?: number, ms?: number): Promise<string>
  /** SIGTERM, and resolves once the process has exited. */
  stop (): Promise<void>
}

/** Starts `node dist/src/main.js ...args` (cwd: the repository). Kill it with `stop()` or let `t.teardown` do it. */
export function spawnSidecar (args: string[], env: NodeJS.ProcessEnv = process.env): SidecarProcess {
  const child = spawn(process.execPath, [builtMain(), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const stdout = collect(child.stdout!)
  const stderr = collect(child.stderr!)
  const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
  return {
    child,
    stdout,
    stderr,
    async waitForLine (match, from = 0, ms = 30_000) {
      const until = Date.now() + ms
      for (;;) {
        const found = stdout.slice(from).find(match)
        if (found !== undefined) return found
        if (child.exitCode !== null || Date.now() > until) throw new Error(`no such line in ${ms} ms; stdout:\n${stdout.join('\n')}\nstderr:\n${stderr.join('\n')}`)
        await new Promise(resolve => setTimeout(resolve, 25))
      }
    },
    async stop () {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    }
  }
}

function collect (stream: NodeJS.ReadableStream): string[] {
  const lines: string[] = []
  let partial = ''
  stream.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n')
    partial = parts.pop()!
    lines.push(...parts)
  })
  return lines
}

/** dist/src/main.js, for `spawn(process.execPath, [builtMain(), ...])`; throws when it is missing or older than a source file. */
export function builtMain (): string {
  let built: number
  try {
    built = statSync(BIN).mtimeMs
  } catch {
    throw new Error(`${BIN} is missing: run npm run build`)
  }
  const newer = newestUnder('src')
  if (newer.mtimeMs > built) throw new Error(`${newer.path} is newer than ${BIN}: run npm run build`)
  return BIN
}

function newestUnder (dir: string): { path: string; mtimeMs: number } {
  let newest = { path: dir, mtimeMs: 0 }
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    const found = entry.isDirectory() ? newestUnder(path) : { path, mtimeMs: statSync(path).mtimeMs }
    if (found.mtimeMs > newest.mtimeMs) newest = found
  }
  return newest
}
