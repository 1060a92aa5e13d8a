/**
 * The images the setup stage built (src/dev/images.ts), checked in the OCI archives the node imports:
 * each is opened with buildah as a working container, its files read from the mount and its
 * programs run in it. Tests find the archives and never build them.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_IMAGES } from '../../cdk8s/stages.ts';
import layout from '../../spark-images/orchard_featurize/image_layout.json' with { type: 'json' };
import { buildah, buildahRaw, runIn } from '../../src/dev/buildah.ts';
import { CONTROLLER_NODE_FLAGS } from '../../src/dev/controller-bundle.ts';
import { imageArchives, type BuiltImage } from '../../src/dev/images.ts';
import { SPARK_IMAGES_DIR } from '../../src/dev/python.ts';
import { requireTool } from '../../src/dev/tools.ts';
import { cacheRoot } from '../../src/paths.ts';

const LOG = join(cacheRoot(), 'logs', 'image-tests.log');
const VERSIONS = Object.fromEntries(
  readFileSync(join(SPARK_IMAGES_DIR, 'versions.env'), 'utf8')
    .split('\n')
    .filter((line) => /^\w+=/.test(line))
    .map((line) => line.split('=') as [string, string]),
);

interface Opened {
  readonly container: string;
  readonly root: string;
  readonly config: { User?: string; Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; Labels?: Record<string, string> };
}

const opened: string[] = [];

/** A working container from the archive itself, mounted: what `ctr images import` would get. */
async function open(image: BuiltImage): Promise<Opened> {
  const container = await buildah(['from', '--quiet', `oci-archive:${image.archive}`], LOG, `opening ${image.archive}`);
  opened.push(container);
  const root = await buildah(['mount', container], LOG, `mounting ${container}`);
  const config = JSON.parse(await buildah(['inspect', '--type', 'container', container], LOG, `inspecting ${container}`)).OCIv1.config;
  return { container, root, config };
}

function file(image: Opened, path: string): string {
  return readFileSync(join(image.root, path), 'utf8');
}

function executable(image: Opened, path: string): boolean {
  return (statSync(join(image.root, path)).mode & 0o111) === 0o111;
}

/** The passwd entry of a user given by name or uid, as the image's /etc/passwd has it. */
function passwd(image: Opened, user: string): { name: string; uid: number; gid: number } | undefined {
  const entry = file(image, 'etc/passwd')
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[0] === user || fields[2] === user);
  return entry && { name: entry[0]!, uid: Number(entry[2]), gid: Number(entry[3]) };
}

function env(image: Opened, name: string): string | undefined {
  return image.config.Env?.find((entry) => entry.startsWith(`${name}=`))?.slice(name.length + 1);
}

/** The name `ctr images import` gives the archive's image: its index's ref.name annotation. */
function importedName(image: BuiltImage): string {
  const index = JSON.parse(execFileSync('tar', ['-xOf', image.archive, 'index.json'], { encoding: 'utf8' }));
  expect(index.manifests).toHaveLength(1);
  return index.manifests[0].annotations['org.opencontainers.image.ref.name'];
}

let images: ReturnType<typeof imageArchives>;

beforeAll(() => {
  requireTool('images');
  images = imageArchives();
});

afterAll(async () => {
  for (const container of opened) await buildahRaw(['rm', container], LOG);
  // Opening an archive stored its image under the imported name; orchard's builds never use those.
  for (const image of Object.values(images ?? {})) await buildahRaw(['rmi', image.ref], LOG);
});

describe('the OCI archives', () => {
  it('name the job and controller images as the dev stage pods reference them, with a tag that follows their build', () => {
    for (const [image, release] of [[images.job, DEV_IMAGES.images.job], [images.controller, DEV_IMAGES.images.controller]] as const) {
      expect(importedName(image)).toBe(image.ref);
      expect(image.ref).toMatch(new RegExp(`^${`${DEV_IMAGES.registry}/${release}`.replace(/[.]/g, '\\.')}-[0-9a-f]{16}$`));
    }
  });
});

describe('the Spark base image', () => {
  let base: Opened;
  beforeAll(async () => {
    base = await open(images.sparkBase);
  }, 300_000);

  it('runs as hadoop, uid 999, which /etc/passwd names (Hadoop login fails for a uid without a name)', () => {
    expect(base.config.User).toBe('hadoop');
    expect(passwd(base, 'hadoop')).toMatchObject({ uid: 999 });
  });

  it('has Spark where EMR keeps it, with the jars of the pinned version', () => {
    expect(env(base, 'SPARK_HOME')).toBe('/usr/lib/spark');
    expect(statSync(join(base.root, 'usr/lib/spark/jars', `spark-core_${VERSIONS.SCALA_BINARY_VERSION}-${VERSIONS.SPARK_VERSION}.jar`)).isFile()).toBe(true);
  });

  it('runs Java 17 and Python 3.11', async () => {
    expect(await runIn(base.container, ['sh', '-c', '"$JAVA_HOME/bin/java" -version 2>&1'], LOG)).toMatch(/version "17\./);
    expect(await runIn(base.container, ['python3', '--version'], LOG)).toMatch(/^Python 3\.11\./);
  });

  it('has the entrypoint contract script, executable, as the entrypoint', () => {
    expect(base.config.Entrypoint).toEqual(['/usr/bin/orchard-spark-entrypoint']);
    expect(executable(base, 'usr/bin/orchard-spark-entrypoint')).toBe(true);
  });

  it('passes any other command through, under tini', async () => {
    expect(await runIn(base.container, ['/usr/bin/orchard-spark-entrypoint', 'sh', '-c', 'echo "$0 $(cat /proc/$PPID/comm)"', 'passed'], LOG, 'hadoop')).toBe('passed tini');
  });

  it('runs spark-submit in client mode for driver, bound to SPARK_DRIVER_BIND_ADDRESS', async () => {
    const out = await runIn(base.container, ['sh', '-c', 'SPARK_DRIVER_BIND_ADDRESS=127.0.0.1 /usr/bin/orchard-spark-entrypoint driver --version 2>&1'], LOG, 'hadoop');
    expect(out).toContain(`version ${VERSIONS.SPARK_VERSION}`);
  });

  it('refuses executor without the variables Spark gives the pod, naming the first missing', async () => {
    const out = await runIn(base.container, ['sh', '-c', 'SPARK_EXECUTOR_MEMORY=512m /usr/bin/orchard-spark-entrypoint executor 2>&1; echo "exit=$?"'], LOG, 'hadoop');
    expect(out).toMatch(/SPARK_DRIVER_URL/);
    expect(out).toMatch(/exit=[1-9]/);
  });
});

describe('the job image', () => {
  let job: Opened;
  beforeAll(async () => {
    job = await open(images.job);
  }, 600_000);

  it('holds both models where image_layout.json says, the default one in ORCHARD_MODEL', () => {
    for (const model of [layout.IMAGE_MODEL_FP32, layout.IMAGE_MODEL_INT8]) expect(statSync(join(job.root, layout.IMAGE_MODEL_DIR, model)).size).toBeGreaterThan(20 * 2 ** 20);
    expect(env(job, 'ORCHARD_MODEL')).toBe(`${layout.IMAGE_MODEL_DIR}/${layout.IMAGE_MODEL_INT8}`);
    expect(statSync(join(job.root, layout.IMAGE_JOB_DIR, layout.IMAGE_JOB_FILE)).isFile()).toBe(true);
  });

  it('says which weights it holds, in its label and in the environment the job logs', () => {
    const weights = `random:${VERSIONS.RANDOM_MODEL_SEED}`;
    expect(job.config.Labels?.['dev.fruits.orchard.model-weights']).toBe(weights);
    expect(env(job, 'ORCHARD_MODEL_WEIGHTS')).toBe(weights);
  });

  it('runs as the base image user, with the S3A jars beside Spark', () => {
    expect(job.config.User).toBe('hadoop');
    expect(statSync(join(job.root, 'usr/lib/spark/jars', `hadoop-aws-${VERSIONS.HADOOP_VERSION}.jar`)).isFile()).toBe(true);
  });

  it("loads the model's metadata with the job's own venv: seeded random weights, int8 checked against fp32", async () => {
    // Through onnxruntime, as the job reads it (onnx itself is only in the model build stage).
    const read = 'import json, onnxruntime as ort, sys; print(json.dumps(ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map))';
    const meta = JSON.parse(await runIn(job.container, [`${layout.IMAGE_VENV}/bin/python`, '-c', read, `${layout.IMAGE_MODEL_DIR}/${layout.IMAGE_MODEL_INT8}`], LOG, 'hadoop'));
    expect(meta['orchard.weights']).toBe('random');
    expect(Number(JSON.parse(meta['orchard.int8_cosine_to_fp32']).min)).toBeGreaterThanOrEqual(0.99);
  });
});

describe('the controller image', () => {
  let controller: Opened;
  beforeAll(async () => {
    controller = await open(images.controller);
  }, 120_000);

  it('runs as a non-root uid that /etc/passwd names', () => {
    const [uid] = (controller.config.User ?? '').split(':');
    expect(Number(uid)).toBeGreaterThan(0);
    expect(passwd(controller, uid!)).toBeDefined();
  });

  it('has the bundle as its entrypoint, run by node with CONTROLLER_NODE_FLAGS, and no command', () => {
    expect(controller.config.Entrypoint).toEqual(['/opt/orchard/controller/controller.mjs']);
    expect(controller.config.Cmd ?? []).toEqual([]);
    expect(file(controller, 'opt/orchard/controller/controller.mjs').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${CONTROLLER_NODE_FLAGS.join(' ')}`);
    expect(executable(controller, 'opt/orchard/controller/controller.mjs')).toBe(true);
  });

  it('starts as its user with Node 20 and answers --help', async () => {
    const user = controller.config.User!;
    expect(await runIn(controller.container, ['node', '--version'], LOG, user)).toMatch(/^v20\./);
    expect(await runIn(controller.container, ['/opt/orchard/controller/controller.mjs', '--help'], LOG, user)).toContain('Usage: orchard-controller');
  });
});
