"""The Dockerfile, versions.env and the hashed lock files must agree; no GPU package anywhere."""

import glob
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "resnet50-cpu" / "Dockerfile"
# The local stand-ins for the base images (src/dev/images.ts builds them) and the controller's image.
DOCKERFILES = [DOCKERFILE, ROOT / "spark-base" / "Dockerfile", ROOT / "python-build" / "Dockerfile",
               ROOT.parent / "images" / "controller" / "Dockerfile"]
LOCKS = ["requirements.txt", "requirements-model.txt", "requirements-test.txt", "requirements-reference.txt",
         "spark-base/requirements.txt"]
IMAGE_LOCKS = ["requirements.txt", "requirements-model.txt"]  # what the image installs
GPU = re.compile(r"^(nvidia-|cuda|cupy|onnxruntime-gpu|jax-cuda|triton|tensorflow-gpu)", re.I)
FRAMEWORKS = re.compile(r"^(torch|torchvision|tensorflow|tensorflow-cpu|keras|tf-keras|jax)$", re.I)


def versions_env() -> dict[str, str]:
    out = {}
    for line in (ROOT / "versions.env").read_text().splitlines():
        if line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k] = v
    return out


def dockerfile_args() -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S*)", DOCKERFILE.read_text(), re.M))


def lock(name: str) -> dict[str, dict]:
    """name -> {"version": ..., "hashes": [...]} from a pip-compile --generate-hashes file."""
    pkgs, current = {}, None
    for raw in (ROOT / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("--hash="):
            assert current, f"{name}: hash without a package: {line}"
            pkgs[current]["hashes"].append(line.split("=", 1)[1].rstrip(" \\"))
            continue
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)\s*\\?$", line)
        assert m, f"{name}: not an exact pin: {line!r}"
        current = m.group(1).lower()
        pkgs[current] = {"version": m.group(2), "hashes": []}
    return pkgs


@pytest.mark.parametrize("name", LOCKS)
def test_every_package_is_pinned_with_hashes(name):
    pkgs = lock(name)
    assert pkgs
    for pkg, info in pkgs.items():
        assert info["hashes"] and all(h.startswith("sha256:") for h in info["hashes"]), f"{name}: {pkg} has no sha256"


@pytest.mark.parametrize("name", LOCKS)
def test_no_gpu_package_anywhere(name):
    bad = [p for p in lock(name) if GPU.match(p)]
    assert not bad, f"{name} pulls GPU packages {bad}"


@pytest.mark.parametrize("name", IMAGE_LOCKS)
def test_no_framework_in_what_the_image_installs(name):
    bad = [p for p in lock(name) if FRAMEWORKS.match(p)]
    assert not bad, f"{name} is installed in the image but holds {bad}"


def test_lock_files_agree_on_shared_packages():
    seen = {}
    for name in LOCKS:
        for pkg, info in lock(name).items():
            if pkg in seen:
                assert seen[pkg][1] == info["version"], (
                    f"{pkg}: {seen[pkg][0]} has {seen[pkg][1]}, {name} has {info['version']}")
            else:
                seen[pkg] = (name, info["version"])


def test_in_files_match_locks():
    for name in LOCKS:
        pins = lock(name)
        src = (ROOT / name.replace(".txt", ".in")).read_text()
        for pkg, ver in re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", src, re.M):
            assert pins[pkg.lower()]["version"] == ver, f"{name} is stale against its .in for {pkg}: re-run pip-compile"


def test_dockerfile_args_equal_versions_env():
    env, args = versions_env(), dockerfile_args()
    for key in ("SPARK_VERSION", "SCALA_BINARY_VERSION", "HADOOP_VERSION", "AWS_SDK_BUNDLE_VERSION",
                "HADOOP_AWS_SHA256", "AWS_SDK_BUNDLE_SHA256", "SPARK_HADOOP_CLOUD_SHA256", "ONNX_OPSET"):
        assert args.get(key) == env[key], f"Dockerfile ARG {key}={args.get(key)} but versions.env says {env[key]}"
    assert not args["BASE_IMAGE"].endswith(":latest") and ":" in args["BASE_IMAGE"], "pin the base image tag"
    assert "emr-7." in args["BASE_IMAGE"], "base must be an EMR 7.x (Spark 3.5) image"
    assert env["SPARK_VERSION"] in DOCKERFILE.read_text().split("apache/spark:")[1].split("-")[0]


def test_dockerfile_installs_locks_with_hashes_and_no_test_deps():
    text = DOCKERFILE.read_text()
    runtime = text.split("AS runtime", 1)[1]
    assert re.search(r'pip" install [^\n]*--require-hashes[^\n]*-r "\$\{IMAGE_JOB_DIR\}/requirements.txt"', runtime)
    assert "requirements-test" not in text and "requirements-reference" not in text
    model_stage = text.split("AS model", 1)[1].split("FROM ", 1)[0]
    assert re.search(r"--require-hashes[^\n]*-r requirements.txt -r requirements-model.txt", model_stage)
    assert re.search(r"^USER \$\{SPARK_USER\}\s*$", text.strip().splitlines()[-1], re.M), (
        "must end as the non-root user")
    assert "--opset \"${ONNX_OPSET}\"" in model_stage


def layout() -> dict[str, str]:
    return json.loads((ROOT / "orchard_featurize" / "image_layout.json").read_text())


def build_args(*argv: str) -> list[str]:
    r = subprocess.run(["python3", str(DOCKERFILE.parent / "build_args.py"), *argv], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_the_image_layout_has_one_definition():
    """image_layout.json is where the image holds the job and the models: the Dockerfile takes it as
    build arguments (build_args.py gives them to build.sh and to the buildah build) with no default and
    no literal path of its own, and the job reads it too (src/spark/application.ts imports it for the
    manifests)."""
    text, keys = DOCKERFILE.read_text(), set(layout())
    assert "/opt/orchard" not in text, "a literal image path in the Dockerfile: take it from image_layout.json"
    declared = set(re.findall(r"^ARG (IMAGE_\w+)", text, re.M))
    assert declared and declared <= keys, f"ARGs {sorted(declared - keys)} are not in image_layout.json"
    assert not re.search(r"^ARG IMAGE_\w+=", text, re.M), "layout ARGs take no default: a copy would drift"
    passed = set(build_args("--calibration-image", "photos"))
    assert {f"--build-arg={k}={v}" for k, v in layout().items()} <= passed
    from orchard_featurize.job import DEFAULT_MODEL

    assert DEFAULT_MODEL == f"{layout()['IMAGE_MODEL_DIR']}/{layout()['IMAGE_MODEL_INT8']}"


def run_build_sh(tmp_path, *argv: str) -> subprocess.CompletedProcess:
    """build.sh against a stand-in docker that prints its arguments."""
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    return subprocess.run(["bash", str(DOCKERFILE.parent / "build.sh"), *argv], capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})


def test_build_sh_passes_every_build_arg_and_the_photos(tmp_path):
    """build.sh passes build_args.py's arguments (the layout, pretrained weights by default) and the
    calibration photos as the named build context the Dockerfile's CALIBRATION_IMAGE names."""
    r = run_build_sh(tmp_path, "--calibration", "/photos", "-t", "x:1")
    assert r.returncode == 0, r.stderr
    args = r.stdout.splitlines()
    assert args[:2] == ["buildx", "build"] and args[-1] == str(ROOT) and "x:1" in args
    assert args[args.index("--build-context") + 1] == "orchard-calibration=/photos"
    passed = {a.split("=", 1)[1] for a in args if a.startswith("--build-arg=")}
    assert passed == {f"{k}={v}" for k, v in layout().items()} | {
        "MODEL_WEIGHTS=pretrained", "CALIBRATION_IMAGE=orchard-calibration"}
    assert set(re.findall(r"^ARG (\w+)", DOCKERFILE.read_text(), re.M)) >= {a.split("=")[0] for a in passed}


def test_build_sh_refuses_to_build_without_photos(tmp_path):
    r = run_build_sh(tmp_path, "-t", "x:1")
    assert r.returncode == 2 and "--calibration" in r.stderr and not r.stdout


def test_random_weights_are_the_test_models_seed():
    """The image built where no weights can be downloaded has the tests' random model (versions.env's
    seed), and says so: a label and ORCHARD_MODEL_WEIGHTS, which the job logs."""
    assert f"--build-arg=MODEL_WEIGHTS=random:{versions_env()['RANDOM_MODEL_SEED']}" in build_args(
        "--weights", "random", "--calibration-image", "photos")
    text = DOCKERFILE.read_text()
    runtime = text.split("AS runtime", 1)[1]
    assert re.search(r'^LABEL dev\.fruits\.orchard\.model-weights="\$\{MODEL_WEIGHTS\}"$', runtime, re.M)
    assert "ORCHARD_MODEL_WEIGHTS=${MODEL_WEIGHTS}" in runtime
    assert re.search(r"^ARG MODEL_WEIGHTS=pretrained$", text.split("FROM ", 1)[0], re.M), "production default"


def test_dockerfile_builds_with_buildx_and_bookworms_buildah():
    """Every base is a build argument (local builds swap them all), and no instruction needs what
    buildah 1.28 (Debian bookworm) lacks: ADD --checksum, named build contexts, RUN --mount from a stage."""
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms and all(re.fullmatch(r"\$\{\w+\}", image) for image in froms), froms
    assert not re.search(r"^ADD ", text, re.M)
    assert "--mount=" not in text


def test_dockerfile_bakes_both_precisions_where_the_manifests_point():
    """The int8 model is quantized on real photos with the build-time cosine check, both models land in
    the layout's model folder, and the image's default model is the job's default precision."""
    text = DOCKERFILE.read_text()
    model_stage = text.split("AS model", 1)[1].split("FROM ", 1)[0]
    assert re.search(r"^COPY --from=calibration / /calibration/\n"
                     r"RUN python -m orchard_featurize.quantize "
                     r'--model "/build/model/\$\{IMAGE_MODEL_FP32\}" --calibration /calibration', model_stage, re.M)
    assert '--output "/build/model/${IMAGE_MODEL_INT8}"' in model_stage
    assert re.search(r"^COPY --from=model /build/model/ \$\{IMAGE_MODEL_DIR\}/$", text, re.M)
    assert "ORCHARD_MODEL=${IMAGE_MODEL_DIR}/${IMAGE_MODEL_INT8}" in text


def test_installed_versions_match_locks_and_bundled_hadoop():
    import onnxruntime
    import pyspark

    env = versions_env()
    assert lock("requirements-test.txt")["pyspark"]["version"] == env["SPARK_VERSION"] == pyspark.__version__
    assert lock("requirements.txt")["onnxruntime"]["version"] == onnxruntime.__version__
    assert onnxruntime.get_available_providers()[-1] == "CPUExecutionProvider"
    bundled = glob.glob(os.path.join(os.path.dirname(pyspark.__file__), "jars", "hadoop-client-api-*.jar"))
    assert bundled and bundled[0].endswith(f"hadoop-client-api-{env['HADOOP_VERSION']}.jar")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: str(path.parent.name))
def test_hadolint_passes(dockerfile):
    exe = shutil.which("hadolint") or str(Path(os.sys.executable).parent / "hadolint")
    if not Path(exe).exists():
        pytest.fail("hadolint not installed (it comes from requirements-test.txt): run `npm run setup` first",
                    pytrace=False)
    r = subprocess.run([exe, "--config", str(DOCKERFILE.parent / ".hadolint.yaml"), str(dockerfile)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
