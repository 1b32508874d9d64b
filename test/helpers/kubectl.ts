import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Why kubectl tests cannot run here, or undefined. Under CI=true a missing kubectl is an error. */
export function kubectlMissing (): string | undefined {
  const found = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore', env: offline() })
  if (found.error === undefined && found.status === 0) return undefined
  const reason = 'kubectl is not installed (apt-get install kubernetes-client)'
  if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`)
  return reason
}

/**
 * Runs kubectl (or, with `shell`, a command line that calls it) with no cluster to talk to: an
 * empty HOME and no KUBECONFIG, so only offline subcommands (kustomize, --dry-run=client) work.
 */
export function kubectl (args: string[], opts: { cwd?: string; shell?: boolean } = {}): SpawnSyncReturns<string> {
  const env = offline()
  return opts.shell === true
    ? spawnSync('bash', ['-c', args.join(' ')], { cwd: opts.cwd, env, encoding: 'utf8' })
    : spawnSync('kubectl', args, { cwd: opts.cwd, env, encoding: 'utf8' })
}

let home: string | undefined

function offline (): NodeJS.ProcessEnv {
  home ??= mkdtempSync(join(tmpdir(), 'dfs-kubectl-'))
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home }
  delete env.KUBECONFIG
  return env
}
