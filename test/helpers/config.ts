import { parseConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/errors.js'

/** Every problem parseConfig lists for `text` (none: an empty list). */
export function configProblems (text: string, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    parseConfig(text, env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}
