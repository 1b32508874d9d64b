import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import YAML from 'yaml'
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1'
import { Deployment } from 'kubernetes-models/apps/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import { parseConfig } from '../src/config/load.js'
import { kubectl, kubectlMissing } from './helpers/kubectl.js'

const DIR = 'deploy/kubernetes'
const SECRET_EXAMPLE = 'deploy/kubernetes-secret.example.yaml'
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress
}
const MIB = 1024 * 1024

type Doc = { file: string; doc: any; errors: unknown[] }
const parseAll = (file: string, text: string): Doc[] =>
  YAML.parseAllDocuments(text).map(d => ({ file, doc: d.toJS() as any, errors: d.errors }))

const kustomization = YAML.parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8'))
const applySet: string[] = kustomization?.resources ?? []
const docs = applySet.flatMap(file => parseAll(file, readFileSync(join(DIR, file), 'utf8')))
const find = (kind: string, name: string, from: Doc[] = docs): any => from.find(d => d.doc.kind === kind && d.doc.metadata.name === name)?.doc
const configText = (from: Doc[] = docs): string => find('ConfigMap', 'device-flow-sidecar', from).data['sidecar.yaml']
const withSecretsInline = (text: string): string => text.replace(/\{ file: [^}]+\}/g, '"x-secret-placeholder-0123456789abcdefgh"')
/** The files the ConfigMap's YAML reads from the mounted Secret, by key. */
const secretFiles = (text: string): string[] => [...text.matchAll(/\{ file: \.\.\/secrets\/([\w.-]+) \}/g)].map(m => m[1]!).sort()
/** The documented command that creates the real Secret: README.md's `kubectl create secret generic` lines. */
const createSecretCommand = (text: string): string => /^kubectl create secret generic (?:[^\n]*\\\n)*[^\n]*/m.exec(text)?.[0] ?? ''

t.test('deploy/kubernetes is a kustomization: every file in it is a resource, each valid (kubernetes-models), none a Secret', async t => {
  t.equal(kustomization.apiVersion, 'kustomize.config.k8s.io/v1beta1')
  t.equal(kustomization.kind, 'Kustomization')
  const files = readdirSync(DIR).filter(f => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()
  t.strictSame([...applySet].sort(), files, 'nothing in the folder is left out of the apply set, nothing listed is missing')
  t.strictSame(docs.map(d => `${d.doc.kind}/${d.doc.metadata.name}`).sort(), [
    'ConfigMap/device-flow-sidecar', 'Deployment/device-flow-sidecar', 'Deployment/device-flow-sidecar-redis',
    'Ingress/device-flow-sidecar', 'NetworkPolicy/device-flow-sidecar', 'PodDisruptionBudget/device-flow-sidecar',
    'Service/device-flow-sidecar', 'Service/device-flow-sidecar-redis'
  ])
  for (const { file, doc, errors } of docs) {
    t.strictSame(errors, [], `${file}: YAML parses`)
    t.not(doc.kind, 'Secret', `${file}: ${doc.metadata?.name} is not a Secret`)
    const Model = MODELS[`${doc.apiVersion}/${doc.kind}`]
    if (Model === undefined) { t.fail(`${file}: no schema for ${doc.apiVersion} ${doc.kind}`); continue }
    t.doesNotThrow(() => new Model(doc).validate(), `${file}: ${doc.kind} ${doc.metadata?.name} is valid`)
  }
  t.strictSame(readdirSync(DIR).filter(f => /secret/i.test(f)), [], 'no Secret example in the folder kubectl apply -f would take')
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
  // it listens before the IdP answers: alive (and started) on /healthz, ready on /readyz
  t.strictSame(c.startupProbe.httpGet, { path: '/healthz', port: 'http' })
  t.strictSame(c.livenessProbe.httpGet, { path: '/healthz', port: 'http' })
  t.strictSame(c.readinessProbe.httpGet, { path: '/readyz', port: 'http' })
  t.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory)

  const ports = Object.fromEntries(c.ports.map((p: any) => [p.name, p.containerPort]))
  const config = parseConfig(withSecretsInline(configText()), {})
  t.equal(config.server.port, ports.http, 'the http port is the config\'s server.port')
  t.equal(config.admin.port, ports.admin, 'the admin port is the config\'s admin.port')
  t.equal(dep.spec.template.metadata.annotations['prometheus.io/port'], String(ports.admin))
  t.equal(config.store.type, 'redis', 'two replicas share grants through Redis')
  t.match(config.store.redis?.url, `//${find('Service', 'device-flow-sidecar-redis').metadata.name}:`)
  t.match(config.upstream.url, /\/realms\/[\w-]+$/, 'the Keycloak URL names its realm')

  const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]))
  const mounts = Object.fromEntries(c.volumeMounts.map((m: any) => [m.name, m.mountPath]))
  t.equal(env.SIDECAR_CONFIG, `${mounts.config}/sidecar.yaml`)
  const volumes = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]))
  t.ok(find('ConfigMap', volumes.config.configMap.name), 'the ConfigMap it mounts is in the apply set')
  t.equal(volumes.secrets.secret.secretName, 'device-flow-sidecar', 'the Secret it mounts is the one the documented command creates')
  t.notOk(find('Secret', volumes.secrets.secret.secretName), 'and it is not in the apply set')

  const svc = find('Service', 'device-flow-sidecar')
  t.strictSame(svc.spec.selector, dep.spec.template.metadata.labels)
  t.ok(svc.spec.ports.every((p: any) => ports[p.targetPort] !== undefined), 'the Service targets named container ports')
  t.notOk(svc.spec.ports.some((p: any) => p.targetPort === 'admin'), 'the admin port is not in the Service')
  t.strictSame(find('PodDisruptionBudget', 'device-flow-sidecar').spec.selector.matchLabels, dep.spec.selector.matchLabels)
})

t.test('the Ingress: public_url\'s host, every path to the Service, TLS, and the annotations the sidecar needs', async t => {
  const ing = find('Ingress', 'device-flow-sidecar')
  const config = parseConfig(withSecretsInline(configText()), {})
  const host = new URL(config.server.public_url).hostname
  const svc = find('Service', 'device-flow-sidecar')
  t.equal(typeof ing.spec.ingressClassName, 'string')
  t.strictSame(ing.spec.tls.map((x: any) => x.hosts), [[host]], 'TLS for public_url\'s host (public_url is https)')
  t.equal(ing.spec.rules.length, 1)
  t.equal(ing.spec.rules[0].host, host)
  t.strictSame(ing.spec.rules[0].http.paths, [{
    path: '/',
    pathType: 'Prefix',
    backend: { service: { name: svc.metadata.name, port: { name: 'http' } } }
  }], 'every path goes to the sidecar: it answers its own and proxies the rest to the IdP')
  t.ok(svc.spec.ports.some((p: any) => p.name === 'http'))
  t.strictSame(ing.metadata.annotations, {
    'nginx.ingress.kubernetes.io/force-ssl-redirect': 'true',
    'nginx.ingress.kubernetes.io/proxy-body-size': `${config.server.proxy_body_limit_bytes / MIB}m`,
    'nginx.ingress.kubernetes.io/proxy-buffer-size': '16k'
  })
})

t.test('trust_proxy is narrowed to the ingress controller, and only its namespace reaches the HTTP port', async t => {
  const text = configText()
  const config = parseConfig(withSecretsInline(text), {})
  t.ok(config.server.trust_proxy.length > 0)
  for (const entry of config.server.trust_proxy) {
    const [address, bits] = entry.split('/')
    t.equal(isIP(address!), 4, `${entry} is an IPv4 range`)
    t.ok(Number(bits) >= 16, `${entry} is no wider than a /16 (a pod network, not all of 10.0.0.0/8)`)
  }
  t.match(text, /^\s*trust_proxy: .*# SET:/m, 'marked as a value to set')
  const np = find('NetworkPolicy', 'device-flow-sidecar')
  const http = np.spec.ingress.find((r: any) => r.ports.some((p: any) => p.port === config.server.port))
  t.ok(http, 'a rule for the HTTP port')
  t.strictSame(http.from, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }],
    'the HTTP port is reachable from the ingress controller\'s namespace only (the kubelet\'s probes come from the node, always allowed)')
  t.match(readFileSync(join(DIR, 'service.yaml'), 'utf8'), /kubernetes\.io\/metadata\.name: ingress-nginx\s*# SET:/)
})

t.test('kubectl kustomize renders the apply set: the same objects, no Secret', { skip: kubectlMissing() }, async t => {
  const out = kubectl(['kustomize', DIR])
  t.equal(out.stderr, '')
  t.equal(out.status, 0)
  const rendered = parseAll('kustomize', out.stdout)
  const names = (from: Doc[]): string[] => from.map(d => `${d.doc.kind}/${d.doc.metadata.name}`).sort()
  t.strictSame(names(rendered), names(docs))
  t.strictSame(rendered.filter(d => d.doc.kind === 'Secret'), [], 'no Secret')
  t.notMatch(out.stdout, /^kind: Secret$/m)
  const [c] = find('Deployment', 'device-flow-sidecar', rendered).spec.template.spec.containers
  t.strictSame([c.startupProbe.httpGet.path, c.livenessProbe.httpGet.path, c.readinessProbe.httpGet.path], ['/healthz', '/healthz', '/readyz'])
  t.strictSame(find('Ingress', 'device-flow-sidecar', rendered).metadata.annotations, find('Ingress', 'device-flow-sidecar').metadata.annotations)
  t.equal(configText(rendered), configText())
  const [image] = kustomization.images
  t.equal(c.image, `${image.newName}:${image.newTag}`, 'the image is the one set in kustomization.yaml')
  t.equal(find('Deployment', 'device-flow-sidecar').spec.template.spec.containers[0].image.split(':')[0], image.name)
})

t.test('the Secret is made by the documented command, and the rendered ConfigMap passes --check-config with it', { skip: kubectlMissing() }, async t => {
  const dep = find('Deployment', 'device-flow-sidecar')
  const secretName = dep.spec.template.spec.volumes.find((v: any) => v.name === 'secrets').secret.secretName
  const example = parseAll(SECRET_EXAMPLE, readFileSync(SECRET_EXAMPLE, 'utf8'))
  t.equal(example.length, 1)
  t.equal(example[0]!.doc.kind, 'Secret')
  t.equal(example[0]!.doc.metadata.name, secretName)
  t.doesNotThrow(() => new Secret(example[0]!.doc).validate())
  const wanted = secretFiles(configText())
  t.strictSame(Object.keys(example[0]!.doc.stringData).sort(), wanted, 'the example has the keys the ConfigMap reads')

  const readme = readFileSync('README.md', 'utf8')
  const command = createSecretCommand(readme)
  t.match(command, /--from-file=upstream-client-secret=/, 'README.md documents the command')
  const squash = (s: string): string => s.replace(/\\\n/g, ' ').replace(/\s+/g, ' ').trim()
  const inExample = readFileSync(SECRET_EXAMPLE, 'utf8').split('\n').filter(l => l.startsWith('#   ')).map(l => l.slice(4)).join('\n')
  t.equal(squash(createSecretCommand(inExample)), squash(command), 'the example file shows the same command')

  const work = mkdtempSync(join(tmpdir(), 'dfs-k8s-secret-'))
  const clientSecret = randomBytes(24).toString('base64url')
  writeFileSync(join(work, 'upstream-client-secret'), `${clientSecret}\n`)
  const made = kubectl([command, '--dry-run=client', '-o', 'json'], { cwd: work, shell: true })
  t.equal(made.stderr, '')
  t.equal(made.status, 0)
  const secret = JSON.parse(made.stdout)
  t.equal(secret.kind, 'Secret')
  t.equal(secret.metadata.name, secretName)
  t.strictSame(Object.keys(secret.data).sort(), wanted, 'it creates exactly the keys the ConfigMap reads')
  const values = Object.fromEntries(Object.entries(secret.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]))
  t.equal(values['upstream-client-secret'], `${clientSecret}\n`)
  for (const [k, v] of Object.entries(values)) {
    t.ok(v.trim().length >= 32, `${k}: at least 32 characters`)
    t.not(v, example[0]!.doc.stringData[k], `${k}: not the example's value`)
  }

  const out = kubectl(['kustomize', DIR])
  const root = mkdtempSync(join(tmpdir(), 'dfs-k8s-'))
  mkdirSync(join(root, 'config'))
  mkdirSync(join(root, 'secrets'))
  writeFileSync(join(root, 'config', 'sidecar.yaml'), configText(parseAll('kustomize', out.stdout)))
  const check = () => spawnSync(process.execPath, ['dist/src/main.js', '--check-config', '--config', join(root, 'config', 'sidecar.yaml')], { encoding: 'utf8' })
  const missing = check()
  t.equal(missing.status, 1, 'without the secret files it fails (the check is real)')
  t.match(missing.stderr, '/upstream/client_secret/file: ../secrets/upstream-client-secret cannot be read (ENOENT)')
  for (const [name, value] of Object.entries(values)) writeFileSync(join(root, 'secrets', name), value)
  const ok = check()
  t.equal(ok.stderr, '')
  t.equal(ok.stdout, 'ok\n')
  t.equal(ok.status, 0)
})
