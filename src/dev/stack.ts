import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { dirname, join } from 'node:path';
import { CreateBucketCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { parquetOutputCrd } from '../api/parquet-output.ts';
import { thirdPartyCrdManifests } from '../api/third-party-crds.ts';
import { OrchardError } from '../errors.ts';
import { applyAll, waitForCrdsServed } from '../kube/apply.ts';
import type { Logger } from '../log.ts';
import { defaultStateDir } from '../paths.ts';
import { s3Client } from '../s3/client.ts';
import { EVENT_LOG_FOLDER } from '../spark/application.ts';
import { withLock } from './lock.ts';
import { createPki, pkiPaths, type Pki } from './pki.ts';
import { freePort, isGone, isRunning, startDetached, stopProcess, waitUntilReady } from './process.ts';
import { ensureS3Server, prepareS3DataDir, S3_SERVER, s3ServerLaunch, s3ServerReady } from './s3-server.ts';
import { ensureHelm } from './helm.ts';
import { DEV_IMAGES } from '../../cdk8s/stages.ts';
import { ensureImages, type BuiltImage, type OrchardImages } from './images.ts';
import { ensureNodeBinaries, type NodeBinaries } from './node/binaries.ts';
import { ensureNodeImages } from './node/images.ts';
import { NODE_NETWORK } from './node/network.ts';
import { importImages, prepareNodeHost, readNodeState, restoreNodeHost, startNode, stopNodeProcesses, writeNodeState, type NodeState } from './node/node.ts';
import { ensureControlPlaneBinaries } from './toolchain.ts';
import { ETCD_VERSION, KUBERNETES_VERSION } from './versions.ts';

/** The bucket every local stack creates: images in, features out. */
export const DEV_BUCKET = 'orchard-dev';

/** A region name is required by SigV4 signing even on a local server. */
export const DEV_REGION = 'us-east-1';

/**
 * The admission plugins EKS enables (its platform-versions page, Kubernetes 1.3x), so that objects
 * accepted here are accepted there.
 */
const EKS_ADMISSION_PLUGINS = [
  'NamespaceLifecycle',
  'LimitRanger',
  'ServiceAccount',
  'DefaultStorageClass',
  'ResourceQuota',
  'DefaultTolerationSeconds',
  'NodeRestriction',
  'MutatingAdmissionWebhook',
  'ValidatingAdmissionWebhook',
  'ValidatingAdmissionPolicy',
  'PodSecurity',
  'Priority',
  'TaintNodesByCondition',
  'StorageObjectInUseProtection',
  'PersistentVolumeClaimResize',
  'ExtendedResourceToleration',
  'CertificateApproval',
  'CertificateSigning',
  'CertificateSubjectRestriction',
  'ClusterTrustBundleAttest',
  'DefaultIngressClass',
  'RuntimeClass',
];

/**
 * The kube-controller-manager loops that make the API behave as on a cluster without nodes:
 * namespace deletion, owner-reference garbage collection, default service accounts and their tokens.
 */
const CONTROLLERS = [
  'namespace-controller',
  'garbage-collector-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'root-ca-certificate-publisher-controller',
];

/** Cold starts of kube-apiserver install its bootstrap RBAC and priority levels: allow a minute. */
const READY_TIMEOUT_MS = 90_000;

export interface ProcessRecord {
  readonly pid: number;
  readonly executable: string;
  readonly log: string;
  readonly port: number;
}

export interface S3Endpoint {
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** What `orchard dev up` leaves in `<stateDir>/state.json`: enough to reuse, inspect or stop the stack. */
export interface StackState {
  readonly schema: 1;
  readonly stateDir: string;
  readonly startedAt: string;
  readonly versions: { readonly kubernetes: string; readonly etcd: string; readonly s3: string };
  readonly processes: Readonly<Record<ServerName, ProcessRecord>>;
  readonly apiServer: string;
  readonly kubeconfig: string;
  readonly kubectl: string;
  readonly s3: S3Endpoint;
  /** The address the API server and the S3 server listen on: the node's, when the stack runs one. */
  readonly address: string;
  /** Whether the stack runs a Kubernetes node; its own state is in `<stateDir>/node/node.json`. */
  readonly node: boolean;
  /**
   * The names the node holds orchard's images under (repository:tag, the registry apart), which
   * follow each build's digest; updated by every `up` that finds newer builds.
   */
  readonly images?: { readonly job: string; readonly controller: string };
}

type ServerName = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 's3';
/** Stop order: dependents first. */
const SERVERS: readonly ServerName[] = ['kube-controller-manager', 'kube-apiserver', 'etcd', 's3'];

export interface UpOptions {
  readonly stateDir?: string;
  readonly log: Logger;
  /**
   * Run a real node: containerd, kubelet, kube-proxy, kube-scheduler, cluster DNS, with the API
   * server and the S3 server on the node's address. Needs root. @default false
   */
  readonly node?: boolean;
}

export interface UpResult {
  readonly state: StackState;
  readonly reused: boolean;
  /** Seconds per stage, in the order they ran. */
  readonly timings: Readonly<Record<string, number>>;
}

function statePath(stateDir: string): string {
  return join(stateDir, 'state.json');
}

export async function readState(stateDir = defaultStateDir()): Promise<StackState | undefined> {
  const file = statePath(stateDir);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as StackState;
  } catch (error) {
    throw new OrchardError(`the stack state at ${file} is unreadable`, 'run `orchard dev down` to clear it', {}, { cause: error });
  }
}

function httpsGet(url: string, pki: { ca: string; cert?: string; key?: string; insecure?: boolean }): Promise<{ status: number; body: string }> {
  return new Promise((resolveGet, reject) => {
    const req = request(
      url,
      { ca: pki.ca, cert: pki.cert, key: pki.key, rejectUnauthorized: !pki.insecure, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolveGet({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout on ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

async function apiServerReady(url: string, pki: Pki): Promise<boolean> {
  const [ca, cert, key] = await Promise.all([readFile(pki.caCert, 'utf8'), readFile(pki.adminCert, 'utf8'), readFile(pki.adminKey, 'utf8')]);
  const res = await httpsGet(`${url}/readyz`, { ca, cert, key });
  return res.status === 200 && res.body.trim() === 'ok';
}

function kubeconfigYaml(server: string, caPem: string, certPem: string, keyPem: string): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'orchard-dev', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [{ name: 'orchard-admin', user: { 'client-certificate-data': b64(certPem), 'client-key-data': b64(keyPem) } }],
    contexts: [{ name: 'orchard-dev', context: { cluster: 'orchard-dev', user: 'orchard-admin', namespace: 'default' } }],
    'current-context': 'orchard-dev',
  });
}

/** A KubeConfig for the running stack (admin, in system:masters). */
export function kubeConfigFor(state: StackState): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  return kc;
}

/** True when the given processes of the stack (all by default) run and the API server answers ready. */
export async function isHealthy(state: StackState, components: readonly ServerName[] = SERVERS): Promise<boolean> {
  for (const name of components) {
    const record = state.processes[name];
    if (record && !isRunning(record.pid, record.executable)) return false;
  }
  const pkiDir = join(state.stateDir, 'pki');
  try {
    return (
      (await apiServerReady(state.apiServer, {
        dir: pkiDir,
        caCert: join(pkiDir, 'ca.crt'),
        adminCert: join(pkiDir, 'admin.crt'),
        adminKey: join(pkiDir, 'admin.key'),
      } as Pki)) && (await s3ServerReady(state.s3.endpoint))
    );
  } catch {
    return false;
  }
}

async function installCrds(state: StackState, log: Logger): Promise<void> {
  const kc = kubeConfigFor(state);
  const crds = [...(await thirdPartyCrdManifests()), parquetOutputCrd()];
  await applyAll(kc, crds);
  await waitForCrdsServed(kc, crds);
  log.info('CRDs established and served', { crds: crds.map((crd) => crd.metadata.name) });
}

/** Creates the bucket and the Spark event log folder in it, which Spark needs before it starts. */
export async function ensureBucket(s3: S3Endpoint): Promise<void> {
  const client = s3Client(s3);
  try {
    await client.send(new HeadBucketCommand({ Bucket: s3.bucket })).catch(() => client.send(new CreateBucketCommand({ Bucket: s3.bucket })));
    // An empty body sends no Content-Length unless it is given, and the SDK then warns about streams.
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${EVENT_LOG_FOLDER}/`, Body: '', ContentLength: 0 }));
  } finally {
    client.destroy();
  }
}

function seconds(since: number): number {
  return Math.round((Date.now() - since) / 100) / 10;
}

/**
 * Starts etcd, kube-apiserver, kube-controller-manager and the S3 server on loopback, or reuses
 * the stack already running in `stateDir`. Idempotent: safe to call from every test run.
 */
export async function up(options: UpOptions): Promise<UpResult> {
  const stateDir = options.stateDir ?? defaultStateDir();
  const log = options.log;
  return withLock(join(stateDir, '..', `.${stateDir.split('/').pop()}.lock`), log, async () => {
    const timings: Record<string, number> = {};
    const existing = await readState(stateDir);
    if (existing && existing.node === Boolean(options.node) && (await isHealthy(existing, SERVERS))) {
      let start = Date.now();
      await installCrds(existing, log);
      timings.crds = seconds(start);
      start = Date.now();
      const state = existing.node ? await withCurrentImages(existing, log) : existing;
      timings.images = seconds(start);
      log.info('reusing the running dev stack', { stateDir, apiServer: existing.apiServer, s3: existing.s3.endpoint });
      return { state, reused: true, timings };
    }
    if (existing) {
      log.warn('the dev stack in this folder is not healthy: stopping what is left and starting anew', { stateDir });
      await down({ stateDir, log });
    }
    return start(stateDir, log, timings, Boolean(options.node));
  });
}

async function writeState(state: StackState): Promise<void> {
  await writeFile(statePath(state.stateDir), `${JSON.stringify(state, null, 2)}\n`);
}

/** The images' names as the dev stage references them: without the registry. */
function stageImageNames(images: Pick<OrchardImages, 'job' | 'controller'>): NonNullable<StackState['images']> {
  const name = (image: BuiltImage) => image.ref.slice(`${DEV_IMAGES.registry}/`.length);
  return { job: name(images.job), controller: name(images.controller) };
}

/**
 * A reused node gets the current builds of orchard's images: imported when new, and named in its
 * state, so the next apply of the dev stage replaces the pods of a rebuilt image.
 */
async function withCurrentImages(state: StackState, log: Logger): Promise<StackState> {
  const node = await readNodeState(state.stateDir);
  if (!node) throw new OrchardError(`the dev stack in ${state.stateDir} runs a node but has no node state`, `take it down with \`orchard dev down --state ${state.stateDir}\`, then up again`);
  const images = await ensureImages(log);
  await importImages(node.paths, [images.job, images.controller], log);
  const current = { ...state, images: stageImageNames(images) };
  if (JSON.stringify(current.images) !== JSON.stringify(state.images)) await writeState(current);
  return current;
}

/** Every image the node's pods run: its own (pause, DNS, the operator) and orchard's (the job, the controller). */
async function nodeImagesFor(binaries: NodeBinaries, log: Logger) {
  const own = await ensureNodeImages(binaries, log);
  const orchard = await ensureImages(log);
  return { ...own, job: orchard.job, controller: orchard.controller };
}

async function start(stateDir: string, log: Logger, timings: Record<string, number>, node: boolean): Promise<UpResult> {
  let t = Date.now();
  const [binaries, s3Install, nodeBinaries] = await Promise.all([ensureControlPlaneBinaries(log), ensureS3Server(log), node ? ensureNodeBinaries(log) : undefined]);
  const nodeImages = nodeBinaries ? await nodeImagesFor(nodeBinaries, log) : undefined;
  timings.binaries = seconds(t);

  t = Date.now();
  await rm(stateDir, { recursive: true, force: true });
  const logs = join(stateDir, 'logs');
  await mkdir(logs, { recursive: true });
  const pki = await createPki(join(stateDir, 'pki'));
  timings.pki = seconds(t);
  // The node's host changes come first, recorded before they are made, so that any failure below can undo them.
  const nodeHost = node ? await prepareNodeHost(stateDir, log) : undefined;
  if (nodeHost) await writeNodeState({ ...nodeHost, processes: {} });
  const address = nodeHost ? NODE_NETWORK.address : '127.0.0.1';

  const [etcdPort, etcdPeerPort, apiPort, kcmPort, s3Port] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const processes: Partial<Record<ServerName, ProcessRecord>> = {};
  const launch = (name: ServerName, executable: string, args: string[], port: number, env?: NodeJS.ProcessEnv) => {
    const started = startDetached(executable, args, join(logs, `${name}.log`), env);
    processes[name] = { pid: started.pid, executable, log: started.log, port };
    return started;
  };

  try {
    // The S3 server shares nothing with the control plane: start it first and let it warm up meanwhile.
    const s3 = {
      endpoint: `http://${address}:${s3Port}`,
      bucket: DEV_BUCKET,
      region: DEV_REGION,
      accessKeyId: `orchard${randomBytes(6).toString('hex')}`,
      secretAccessKey: randomBytes(24).toString('base64url'),
    };
    const s3Launch = s3ServerLaunch(s3Install, { address, port: s3Port, dataDir: join(stateDir, 's3'), accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: s3.region });
    await prepareS3DataDir(join(stateDir, 's3'));
    const s3Started = launch('s3', s3Launch.executable, s3Launch.args, s3Port, { ...process.env, ...s3Launch.env });
    const s3StartedAt = Date.now();

    t = Date.now();
    const etcd = launch('etcd', binaries.etcd, etcdArgs(join(stateDir, 'etcd'), etcdPort, etcdPeerPort), etcdPort);
    await waitUntilReady(async () => (await fetch(`http://127.0.0.1:${etcdPort}/health`)).ok, {
      what: `etcd ${ETCD_VERSION}`,
      timeoutMs: READY_TIMEOUT_MS,
      log: etcd.log,
      pid: etcd.pid,
      executable: binaries.etcd,
      hint: 'read the log; "address already in use" means another process took the port, so run `orchard dev up` again',
    });
    timings.etcd = seconds(t);

    t = Date.now();
    const apiServer = `https://${address}:${apiPort}`;
    const api = launch('kube-apiserver', binaries.kubeApiserver, apiServerArgs(pki, apiPort, etcdPort, stateDir, address), apiPort);
    await waitUntilReady(() => apiServerReady(apiServer, pki), {
      what: `kube-apiserver ${KUBERNETES_VERSION}`,
      timeoutMs: READY_TIMEOUT_MS,
      log: api.log,
      pid: api.pid,
      executable: binaries.kubeApiserver,
      hint: 'read the log for the first error; /readyz lists the checks that fail with `kubectl get --raw "/readyz?verbose"`',
    });
    timings['kube-apiserver'] = seconds(t);

    const kubeconfig = join(stateDir, 'kubeconfig');
    const [caPem, certPem, keyPem] = await Promise.all([readFile(pki.caCert, 'utf8'), readFile(pki.adminCert, 'utf8'), readFile(pki.adminKey, 'utf8')]);
    await writeFile(kubeconfig, kubeconfigYaml(apiServer, caPem, certPem, keyPem), { mode: 0o600 });

    t = Date.now();
    const kcm = launch('kube-controller-manager', binaries.kubeControllerManager, controllerManagerArgs(pki, kubeconfig, kcmPort, stateDir, node), kcmPort);
    await waitUntilReady(async () => (await httpsGet(`https://127.0.0.1:${kcmPort}/healthz`, { ca: caPem, insecure: true })).status === 200, {
      what: `kube-controller-manager ${KUBERNETES_VERSION}`,
      timeoutMs: READY_TIMEOUT_MS,
      log: kcm.log,
      pid: kcm.pid,
      executable: binaries.kubeControllerManager,
      hint: 'read the log for the first error',
    });
    timings['kube-controller-manager'] = seconds(t);

    t = Date.now();
    await waitUntilReady(() => s3ServerReady(s3.endpoint), {
      what: `${S3_SERVER.name} ${S3_SERVER.version}`,
      timeoutMs: READY_TIMEOUT_MS,
      log: s3Started.log,
      pid: s3Started.pid,
      executable: s3Launch.executable,
      hint: 'read the log for the first error',
    });
    await ensureBucket(s3);
    timings.s3 = seconds(Math.min(t, s3StartedAt));

    const state: StackState = {
      schema: 1,
      stateDir,
      startedAt: new Date().toISOString(),
      versions: { kubernetes: KUBERNETES_VERSION, etcd: ETCD_VERSION, s3: `${S3_SERVER.name} ${S3_SERVER.version}` },
      processes: processes as Record<ServerName, ProcessRecord>,
      apiServer,
      kubeconfig,
      kubectl: binaries.kubectl,
      s3,
      address,
      node,
      ...(nodeImages ? { images: stageImageNames(nodeImages) } : {}),
    };
    await writeState(state);

    t = Date.now();
    await installCrds(state, log);
    timings.crds = seconds(t);
    if (nodeHost && nodeBinaries && nodeImages) {
      await startNode({ kubeconfig, caCert: pki.caCert, binaries: nodeBinaries, images: nodeImages, helm: await ensureHelm(log), host: nodeHost, log, onProcess: writeNodeState, timings });
    }
    return { state, reused: false, timings };
  } catch (error) {
    // Leave nothing half-started behind: the error names the log to read, which survives in logs/.
    await stopStack(await readNodeState(stateDir), processes, log);
    throw error;
  }
}

function etcdArgs(dataDir: string, port: number, peerPort: number): string[] {
  return [
    '--name=orchard-dev',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=http://127.0.0.1:${port}`,
    `--advertise-client-urls=http://127.0.0.1:${port}`,
    `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-cluster=orchard-dev=http://127.0.0.1:${peerPort}`,
    // A disposable development store: durability is not worth an fsync per write (envtest does the same).
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

/**
 * One more kube-apiserver on the stack's etcd and certificates, as in an HA control plane: tests
 * kill and restart it to show what clients do when their API server restarts, without disturbing
 * the stack's own. `start` launches it (again) and resolves once it is ready.
 */
export function apiServerReplica(state: StackState, port: number): { readonly url: string; start(): Promise<number>; stop(signal?: NodeJS.Signals): Promise<void> } {
  const pki = pkiPaths(join(state.stateDir, 'pki'));
  const url = `https://${state.address}:${port}`;
  const executable = state.processes['kube-apiserver'].executable;
  let pid: number | undefined;
  return {
    url,
    async start() {
      const log = join(state.stateDir, 'logs', `kube-apiserver-${port}.log`);
      const started = startDetached(executable, apiServerArgs(pki, port, state.processes.etcd.port, state.stateDir, state.address), log);
      pid = started.pid;
      await waitUntilReady(() => apiServerReady(url, pki), { what: `kube-apiserver replica on ${port}`, timeoutMs: READY_TIMEOUT_MS, log, pid, executable, hint: 'read the log' });
      return pid;
    },
    /** SIGKILL by default: a crash, with no graceful shutdown of watches. */
    async stop(signal: NodeJS.Signals = 'SIGKILL') {
      if (pid === undefined) return;
      const stopping = pid;
      pid = undefined;
      if (signal === 'SIGTERM') {
        await stopProcess(stopping);
        return;
      }
      process.kill(-stopping, signal);
      for (let waited = 0; !isGone(stopping) && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    },
  };
}

/**
 * The stack's S3 server taken down and brought back, as an S3 outage and its end: tests hold S3
 * down under a running job. `start` launches it again on the same address, keys and data, and
 * records the new process in state.json, so that `down` still stops it.
 */
export function s3ServerOutage(stateDir: string): { stop(): Promise<void>; start(): Promise<void> } {
  const current = async () => {
    const state = await readState(stateDir);
    if (!state) throw new OrchardError(`no dev stack in ${stateDir}`, 'run `orchard dev up` first');
    return state;
  };
  return {
    async stop() {
      const { processes } = await current();
      if (isRunning(processes.s3.pid, processes.s3.executable)) await stopProcess(processes.s3.pid);
    },
    async start() {
      const state = await current();
      const record = state.processes.s3;
      if (isRunning(record.pid, record.executable)) return;
      const { s3 } = state;
      const launch = s3ServerLaunch({ executable: record.executable }, { address: state.address, port: record.port, dataDir: join(stateDir, 's3'), accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, region: s3.region });
      const started = startDetached(launch.executable, launch.args, record.log, { ...process.env, ...launch.env });
      await writeState({ ...state, processes: { ...state.processes, s3: { ...record, pid: started.pid } } });
      await waitUntilReady(() => s3ServerReady(s3.endpoint), { what: `${S3_SERVER.name} ${S3_SERVER.version}`, timeoutMs: READY_TIMEOUT_MS, log: started.log, pid: started.pid, executable: launch.executable, hint: 'read the log for the first error' });
    },
  };
}

function apiServerArgs(pki: Pki, port: number, etcdPort: number, stateDir: string, address: string): string[] {
  return [
    `--bind-address=${address}`,
    `--advertise-address=${address}`,
    `--secure-port=${port}`,
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    `--cert-dir=${join(stateDir, 'pki')}`,
    `--tls-cert-file=${pki.serverCert}`,
    `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.caCert}`,
    '--authorization-mode=Node,RBAC',
    `--enable-admission-plugins=${EKS_ADMISSION_PLUGINS.join(',')}`,
    `--service-cluster-ip-range=${NODE_NETWORK.serviceCidr}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    '--allow-privileged=true',
    // Logs and exec reach the kubelet at the node's address (its name resolves nowhere), as the cluster's admin.
    '--kubelet-preferred-address-types=InternalIP',
    `--kubelet-client-certificate=${pki.adminCert}`,
    `--kubelet-client-key=${pki.adminKey}`,
    '--profiling=false',
    '--v=1',
  ];
}

function controllerManagerArgs(pki: Pki, kubeconfig: string, port: number, stateDir: string, node: boolean): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    `--cert-dir=${join(stateDir, 'pki', 'controller-manager')}`,
    // A node needs them all: endpoints for Services (DNS, the driver's, webhooks), ReplicaSets, Deployments, node lifecycle.
    `--controllers=${node ? '*' : CONTROLLERS.join(',')}`,
    `--service-account-private-key-file=${pki.serviceAccountKey}`,
    `--root-ca-file=${pki.caCert}`,
    '--leader-elect=false',
    '--profiling=false',
    '--v=1',
  ];
}

export interface DownOptions {
  readonly stateDir?: string;
  readonly log: Logger;
}

/** Stops every process the stack started (by pid, checked against its executable) and removes its state. */
export async function down(options: DownOptions): Promise<{ stopped: string[] }> {
  const stateDir = options.stateDir ?? defaultStateDir();
  const state = await readState(stateDir);
  const stopped = await stopStack(await readNodeState(stateDir), state?.processes ?? {}, options.log);
  await rm(stateDir, { recursive: true, force: true });
  return { stopped };
}

/** The node's processes, then the servers, then the node's changes to the host; returns what it stopped. */
async function stopStack(nodeState: NodeState | undefined, processes: Partial<Record<ServerName, ProcessRecord>>, log: Logger): Promise<string[]> {
  const stopped: string[] = [];
  if (nodeState) {
    await stopNodeProcesses(nodeState, log);
    stopped.push('node');
  }
  for (const name of SERVERS) {
    const record = processes[name];
    if (record && isRunning(record.pid, record.executable)) {
      const how = await stopProcess(record.pid);
      log.info(`stopped ${name}`, { pid: record.pid, how });
      stopped.push(name);
    }
  }
  if (nodeState) restoreNodeHost(nodeState);
  return stopped;
}

export interface ComponentStatus {
  readonly name: string;
  readonly running: boolean;
  readonly pid: number;
  readonly port?: number;
  readonly log: string;
}

export interface StackStatus {
  readonly state?: StackState;
  readonly components: readonly ComponentStatus[];
  readonly healthy: boolean;
}

export async function status(stateDir = defaultStateDir()): Promise<StackStatus> {
  const state = await readState(stateDir);
  if (!state) return { components: [], healthy: false };
  const components = SERVERS.flatMap((name) => {
    const record = state.processes[name];
    return record ? [{ name, running: isRunning(record.pid, record.executable), pid: record.pid, port: record.port, log: record.log }] : [];
  });
  return { state, components, healthy: await isHealthy(state) };
}

/** Environment that points kubectl, the AWS SDKs and orchard's tools at the stack (PATH excluded). */
export function stackEnv(state: StackState): Record<string, string> {
  return {
    KUBECONFIG: state.kubeconfig,
    ORCHARD_S3_ENDPOINT: state.s3.endpoint,
    ORCHARD_S3_BUCKET: state.s3.bucket,
    AWS_ENDPOINT_URL_S3: state.s3.endpoint,
    AWS_ACCESS_KEY_ID: state.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: state.s3.secretAccessKey,
    AWS_REGION: state.s3.region,
    ...(state.images ? { ORCHARD_DEV_JOB_IMAGE: state.images.job, ORCHARD_DEV_CONTROLLER_IMAGE: state.images.controller } : {}),
  };
}

/** The folder that holds the pinned kubectl, to put first on PATH. */
export function kubectlBinDir(state: StackState): string {
  return dirname(state.kubectl);
}
