import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import YAML from 'yaml'
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1'
import { Deployment } from 'kubernetes-models/apps/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import { parseConfig } from '../src/config/load.js'

const DIR = 'deploy/kubernetes'
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy
}

const docs = readdirSync(DIR).filter(f => f.endsWith('.yaml')).flatMap(file =>
  YAML.parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map(d => ({ file, doc: d.toJS() as any, errors: d.errors })))
const find = (kind: string, name: string): any => docs.find(d => d.doc.kind === kind && d.doc.metadata.name === name)?.doc

t.test('every manifest is valid against the Kubernetes schemas (kubernetes-models)', async t => {
  t.ok(docs.length >= 8, `${docs.length} objects`)
  for (const { file, doc, errors } of docs) {
    t.strictSame(errors, [], `${file}: YAML parses`)
    const Model = MODELS[`${doc.apiVersion}/${doc.kind}`]
    if (Model === undefined) { t.fail(`${file}: no schema for ${doc.apiVersion} ${doc.kind}`); continue }
    t.doesNotThrow(() => new Model(doc).validate(), `${file}: ${doc.kind} ${doc.metadata?.name} is valid`)
  }
  // the check is real: a broken object fails it
  const broken = structuredClone(find('Deployment', 'device-flow-sidecar'))
  broken.spec.replicas = 'two'
  t.throws(() => new Deployment(broken).validate())
})

t.test('the Deployment: 2 replicas, non-root, read-only root filesystem, probes, resources, wired to its config', async t => {
  const dep = find('Deployment', 'device-flow-sidecar')
  const pod = dep.spec.template.spec
  const [c] = pod.containers
  t.equal(dep.spec.replicas, 2)
  t.equal(pod.securityContext.runAsNonRoot, true)
  t.ok(pod.securityContext.runAsUser > 0)
  t.equal(c.securityContext.readOnlyRootFilesystem, true)
  t.equal(c.securityContext.allowPrivilegeEscalation, false)
  t.strictSame(c.securityContext.capabilities.drop, ['ALL'])
  t.equal(c.livenessProbe.httpGet.path, '/healthz')
  t.equal(c.readinessProbe.httpGet.path, '/readyz')
  t.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory)

  const ports = Object.fromEntries(c.ports.map((p: any) => [p.name, p.containerPort]))
  const config = parseConfig(find('ConfigMap', 'device-flow-sidecar').data['sidecar.yaml'].replace(/\{ file: [^}]+\}/g, '"x-secret-placeholder-0123456789abcdefgh"'), {})
  t.equal(config.server.port, ports.http, 'the http port is the config\'s server.port')
  t.equal(config.admin.port, ports.admin, 'the admin port is the config\'s admin.port')
  t.equal(dep.spec.template.metadata.annotations['prometheus.io/port'], String(ports.admin))
  t.equal(config.store.type, 'redis', 'two replicas share grants through Redis')
  t.match(config.store.redis?.url, `//${find('Service', 'device-flow-sidecar-redis').metadata.name}:`)

  const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]))
  const mounts = Object.fromEntries(c.volumeMounts.map((m: any) => [m.name, m.mountPath]))
  t.equal(env.SIDECAR_CONFIG, `${mounts.config}/sidecar.yaml`)
  const volumes = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]))
  t.ok(find('ConfigMap', volumes.config.configMap.name), 'the ConfigMap it mounts exists')
  t.ok(find('Secret', volumes.secrets.secret.secretName), 'the Secret it mounts exists (as an example)')

  const svc = find('Service', 'device-flow-sidecar')
  t.strictSame(svc.spec.selector, dep.spec.template.metadata.labels)
  t.ok(svc.spec.ports.every((p: any) => ports[p.targetPort] !== undefined), 'the Service targets named container ports')
  t.notOk(svc.spec.ports.some((p: any) => p.targetPort === 'admin'), 'the admin port is not in the Service')
  t.strictSame(find('PodDisruptionBudget', 'device-flow-sidecar').spec.selector.matchLabels, dep.spec.selector.matchLabels)
})

t.test('the ConfigMap\'s YAML, with the Secret\'s files mounted as the pod has them, passes --check-config once the example values are replaced', async t => {
  const root = mkdtempSync(join(tmpdir(), 'dfs-k8s-'))
  mkdirSync(join(root, 'config'))
  mkdirSync(join(root, 'secrets'))
  writeFileSync(join(root, 'config', 'sidecar.yaml'), find('ConfigMap', 'device-flow-sidecar').data['sidecar.yaml'])
  const check = () => spawnSync(process.execPath, ['dist/src/main.js', '--check-config', '--config', join(root, 'config', 'sidecar.yaml')], { encoding: 'utf8' })
  const missing = check()
  t.equal(missing.status, 1, 'without the secret files it fails (the check is real)')
  t.match(missing.stderr, '/upstream/client_secret/file: ../secrets/upstream-client-secret cannot be read (ENOENT)')
  const example = find('Secret', 'device-flow-sidecar').stringData as Record<string, string>
  for (const [name, value] of Object.entries(example)) writeFileSync(join(root, 'secrets', name), `${value}\n`)
  const samples = check()
  t.equal(samples.status, 1, 'the example Secret\'s values are public: refused outside loopback (issue 15)')
  const refused = 'is a published example value, known to anyone; use a secret of your own (e.g. `openssl rand -base64 33`), or a loopback public_url for a demo'
  t.equal(samples.stderr, ['invalid configuration:', ...['/admin/token', '/server/cookie_keys/0', '/store/encryption_key/0', '/upstream/client_secret'].map(p => `  ${p}: ${refused}`), ''].join('\n'))
  for (const name of Object.keys(example)) writeFileSync(join(root, 'secrets', name), `${randomBytes(33).toString('base64')}\n`)
  const ok = check()
  t.equal(ok.stderr, '')
  t.equal(ok.stdout, 'ok\n')
  t.equal(ok.status, 0)
})
