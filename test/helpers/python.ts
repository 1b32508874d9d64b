import { spawn, spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** Debian's interpreter, which sees Debian's python3-oauthlib and python3-requests (a pyenv one does not). */
export const PYTHON = '/usr/bin/python3'
const CLIENT = fileURLToPath(new URL('../fixtures/python_device_client.py', import.meta.url))
const LINE_TIMEOUT_MS = 20_000

/** Why the Python device cannot run here, or undefined. Under CI=true a missing package is an error. */
export function pythonMissing (): string | undefined {
  const found = spawnSync(PYTHON, ['-I', '-c', 'from oauthlib.oauth2 import DeviceClient; import requests'], { stdio: 'ignore' })
  if (found.error === undefined && found.status === 0) return undefined
  const reason = `${PYTHON} cannot import oauthlib's DeviceClient and requests (apt-get install python3-oauthlib python3-requests)`
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`)
  return reason
}

/** The Python device as a child process: its stdout as JSON objects, one per line, and its exit. */
export interface PythonDevice {
  /** The next line the device printed; rejects when it exits first or is silent for 20 s. */
  next(): Promise<Record<string, unknown>>
  /** The exit code (null when killed). */
  readonly exit: Promise<number | null>
  /** What it wrote to stderr so far (its diagnostics). */
  stderr(): string
  kill(): void
}

/**
 * Runs test/fixtures/python_device_client.py against `issuer` in an isolated interpreter (-I: no
 * user site, no PYTHON* variables) with a minimal environment: no proxy variables, so it talks to
 * 127.0.0.1 only, and OAUTHLIB_INSECURE_TRANSPORT=1, oauthlib's switch for plain http on loopback.
 */
export function startPythonDevice (issuer: string, args: string[] = []): PythonDevice {
  const child = spawn(PYTHON, ['-I', '-B', CLIENT, issuer, ...args], {
    env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', OAUTHLIB_INSECURE_TRANSPORT: '1' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let errText = ''
  child.stderr.on('data', (d: Buffer) => { errText += d.toString() })
  const lines: string[] = []
  const waiting: Array<(line: string | undefined) => void> = []
  let closed = false
  const rl = createInterface({ input: child.stdout })
  rl.on('line', line => {
    const waiter = waiting.shift()
    if (waiter === undefined) lines.push(line)
    else waiter(line)
  })
  rl.on('close', () => {
    closed = true
    for (const waiter of waiting.splice(0)) waiter(undefined)
  })
  const exit = new Promise<number | null>(resolve => child.once('close', code => resolve(code)))
  return {
    async next () {
      const line = lines.shift() ?? (closed
        ? undefined
        : await new Promise<string | undefined>((resolve, reject) => {
          const waiter = (line: string | undefined): void => { clearTimeout(timer); resolve(line) }
          const timer = setTimeout(() => {
            waiting.splice(waiting.indexOf(waiter), 1)
            reject(new Error(`the Python device printed nothing for ${LINE_TIMEOUT_MS} ms; stderr: ${errText}`))
          }, LINE_TIMEOUT_MS)
          waiting.push(waiter)
        }))
      if (line === undefined) throw new Error(`the Python device exited (${String(await exit)}) without another line; stderr: ${errText}`)
      return JSON.parse(line) as Record<string, unknown>
    },
    exit,
    stderr: () => errText,
    kill: () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM') }
  }
}
