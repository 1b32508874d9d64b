import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

/** The sidecar run as an operator runs it: `src/main.ts --config FILE` in a child process. */
export interface SidecarProcess {
  child: ChildProcess
  /** Every JSON line it wrote to stdout, parsed. */
  lines: Array<Record<string, any>>
  /** What it wrote to stderr. */
  stderr: () => string
  /** Resolves with the exit code once it exited. */
  exited: Promise<number | null>
}

/** Starts the sidecar on a config written from `yaml`; killed on teardown if still running. */
export function runSidecar (t: Test, yaml: string): SidecarProcess {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-proc-'))
  const file = join(dir, 'sidecar.yaml')
  writeFileSync(file, yaml)
  const child = spawn(process.execPath, [...process.execArgv, 'src/main.ts', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const lines: Array<Record<string, any>> = []
  let partial = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n')
    partial = parts.pop()!
    for (const line of parts) if (line.startsWith('{')) lines.push(JSON.parse(line))
  })
  child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  return { child, lines, stderr: () => err, exited }
}

/** Waits (bounded: 50 ms steps, `steps` of them) until `done` holds; returns whether it did. */
export async function until (done: () => boolean | Promise<boolean>, steps = 600): Promise<boolean> {
  for (let i = 0; i < steps; i++) {
    if (await done()) return true
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return false
}
