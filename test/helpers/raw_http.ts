import { connect } from 'node:net'

/** One HTTP/1.1 response as read off a raw socket. */
export interface RawReply {
  status: number
  /** Lower-cased names; repeated fields joined with ', '. */
  headers: Record<string, string>
  body: Buffer
  /** Statuses of the interim (1xx) responses before it, e.g. [100]. */
  interim: number[]
}

/**
 * Sends `head` (the request line and fields, written exactly as given, CRLF-separated, without the
 * blank line) and then each body part, on a fresh connection to 127.0.0.1, and reads one response.
 * For fields that undici and fetch refuse to send (Keep-Alive, Upgrade, TE, Expect, …).
 * `waitForContinue` holds the body back until a 100 Continue arrives.
 */
export async function rawRequest (url: string, head: string, body: Array<string | Buffer> = [], options: { waitForContinue?: boolean; timeoutMs?: number } = {}): Promise<RawReply> {
  const { port } = new URL(url)
  const socket = connect(Number(port), '127.0.0.1')
  socket.on('error', () => {}) // a reset after the response is read is the server's business
  await new Promise(resolve => socket.once('connect', resolve))
  let received = Buffer.alloc(0)
  let ended = false
  let wake: (() => void) | undefined
  socket.on('data', (chunk: Buffer) => { received = Buffer.concat([received, chunk]); wake?.() })
  socket.on('close', () => { ended = true; wake?.() })
  const deadline = Date.now() + (options.timeoutMs ?? 10_000)
  const until = async (ready: () => boolean): Promise<void> => {
    while (!ready()) {
      if (ended) throw new Error(`connection closed after ${received.length} bytes: ${received.toString('latin1').slice(0, 200)}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no complete response in time: ${received.toString('latin1').slice(0, 200)}`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, left)
        wake = () => { clearTimeout(timer); resolve() }
      })
      wake = undefined
    }
  }

  socket.write(`${head}\r\n\r\n`, 'latin1')
  const interim: number[] = []
  let offset = 0
  const readHead = async (): Promise<{ status: number; headers: Record<string, string> }> => {
    await until(() => received.indexOf('\r\n\r\n', offset) !== -1)
    const end = received.indexOf('\r\n\r\n', offset)
    const lines = received.subarray(offset, end).toString('latin1').split('\r\n')
    offset = end + 4
    const status = Number(lines[0]!.split(' ')[1])
    const headers: Record<string, string> = {}
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':')
      const name = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim()
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
    }
    return { status, headers }
  }

  let response: { status: number; headers: Record<string, string> }
  if (options.waitForContinue === true) {
    response = await readHead()
    if (response.status === 100) interim.push(100)
  }
  for (const part of body) socket.write(part)
  response = options.waitForContinue === true && interim.length === 0 ? response! : await readHead()
  while (response.status >= 100 && response.status < 200) {
    interim.push(response.status)
    response = await readHead()
  }

  let payload: Buffer
  const length = response.headers['content-length']
  if (length !== undefined) {
    await until(() => received.length >= offset + Number(length))
    payload = received.subarray(offset, offset + Number(length))
  } else if (/chunked/i.test(response.headers['transfer-encoding'] ?? '')) {
    await until(() => received.indexOf('\r\n0\r\n\r\n', offset - 2) !== -1 || received.subarray(offset).toString('latin1').startsWith('0\r\n\r\n'))
    const parts: Buffer[] = []
    let at = offset
    for (let i = 0; i < 10_000; i++) {
      const eol = received.indexOf('\r\n', at)
      const size = parseInt(received.subarray(at, eol).toString('latin1'), 16)
      if (size === 0) break
      parts.push(received.subarray(eol + 2, eol + 2 + size))
      at = eol + 2 + size + 2
    }
    payload = Buffer.concat(parts)
  } else {
    await until(() => ended).catch(() => {})
    payload = received.subarray(offset)
  }
  socket.destroy()
  return { status: response.status, headers: response.headers, body: payload, interim }
}

/** A raw reply's body as JSON, or undefined. */
export function jsonOf (reply: RawReply): any {
  try { return JSON.parse(reply.body.toString('utf8')) } catch { return undefined }
}
