import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'
import { symbols } from 'pino'

const BINDINGS = Symbol('dfs.requestBindings')
const CHINDINGS = Symbol('dfs.requestChindings')
const { chindingsSym } = symbols

type Bindings = Record<string, unknown>
type LazyLogger = FastifyBaseLogger & { [BINDINGS]: Bindings; [CHINDINGS]: string | undefined }

/**
 * fastify's childLoggerFactory: a request's logger without a pino child per request. Building a
 * pino child costs ~1–2 µs (its formatters are rebuilt and its bindings serialized) and most
 * requests — device polls above all — write no line. This logger is an object whose prototype is
 * the parent logger, so every method and the live level are the parent's; its bindings (the
 * request id) become pino's bindings string the first time a line is written. pino reads them
 * through `symbols.chindingsSym`, its exported symbol for exactly this state. A route with its
 * own log level or serializers (the sidecar sets none) gets a real pino child.
 */
export const requestLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = function (logger, bindings, opts) {
  if (opts.level !== undefined || opts.serializers !== undefined) return logger.child(bindings, opts)
  return lazyRequestLogger(logger, bindings)
}

/** A request's logger with these bindings (the request id), built as described above; the fast path's too. */
export function lazyRequestLogger (parent: FastifyBaseLogger, bindings: Bindings): FastifyBaseLogger {
  const log = Object.create(lazyPrototypeOf(parent)) as LazyLogger
  log[BINDINGS] = bindings
  log[CHINDINGS] = undefined // every request logger has one shape
  return log
}

const prototypes = new WeakMap<FastifyBaseLogger, object>()

function lazyPrototypeOf (parent: FastifyBaseLogger): object {
  let proto = prototypes.get(parent)
  if (proto === undefined) {
    proto = Object.create(parent) as object
    Object.defineProperty(proto, chindingsSym, {
      get (this: LazyLogger): string {
        let chindings = this[CHINDINGS]
        if (chindings === undefined) {
          chindings = (parent as unknown as Record<symbol, string>)[chindingsSym] ?? ''
          const bindings = this[BINDINGS]
          for (const key in bindings) chindings += `,${JSON.stringify(key)}:${JSON.stringify(bindings[key])}`
          this[CHINDINGS] = chindings
        }
        return chindings
      },
      set (this: LazyLogger, chindings: string) { this[CHINDINGS] = chindings } // pino's setBindings()
    })
    prototypes.set(parent, proto)
  }
  return proto
}

/**
 * Request ids: a random prefix per process and a counter, unique across replicas without a
 * CSPRNG draw per request. Quoted on error pages and in every log line of the request.
 */
export function requestIds (): () => string {
  const prefix = randomBytes(6).toString('hex')
  let n = 0
  return () => `${prefix}-${(++n).toString(36)}`
}
