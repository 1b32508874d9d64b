import { parseConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/errors.js'

/** Every problem parseConfig lists for `text` (none: an empty list); relative paths in it are taken from `baseDir`. */
export function configProblems (text: string, env: NodeJS.ProcessEnv = {}, baseDir?: string): readonly string[] {
  try {
    parseConfig(text, env, baseDir)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}
