"""Dataflow deployment, offline: the graphs translate for DataflowRunner, the template files agree with
the code, and the BigQuery/shell files are well formed. Staging goes to the local GCS emulator."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.version import __version__ as BEAM_INSTALLED

from newsflow.pipelines.options import NewsflowOptions
from newsflow.schemas.records import DATASETS
from tests.gcs_emulator import BUCKET, GcsEmulator, emulated_gcs

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
IMAGE = "us-central1-docker.pkg.dev/newsflow-test-project/newsflow/newsflow:test"
DATAFLOW = ["--runner=DataflowRunner", "--project=newsflow-test-project", "--region=us-central1",
            f"--temp_location=gs://{BUCKET}/tmp", f"--sdk_container_image={IMAGE}"]
INGEST_STAGES = ("Ingest", "Ingest/FetchPages", "Ingest/ExtractArticles", "Ingest/RemoveRepeatedText",
                 "Ingest/DropDuplicates", "Ingest/TagArticles")
ONCE_STAGES = ("ReadFeeds", *INGEST_STAGES, "Ingest/SkipKnownEntries", "WriteDataset")
STREAM_STAGES = ("PollDueFeeds", *INGEST_STAGES, "WriteWindows")
LOCAL_ONLY_FLAGS = {"duration_s": "local stream runs only", "max_cycles": "local stream runs only"}
BEAM_PARAMETERS = {"sdk_container_image"}


@pytest.fixture
def gcs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GcsEmulator]:
    with emulated_gcs(tmp_path / "gcs", monkeypatch) as emulator:
        yield emulator


def newsflow_flags() -> list[str]:
    from newsflow.pipelines.demo_server import bundled_site

    return ["--config", str(bundled_site() / "feeds.yaml"), "--output", f"gs://{BUCKET}/out", "--run_id", "r1"]


def pinned_beam() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {re.sub(r"\[.*\]", "", d).replace(" ", "") for d in
            [*project["dependencies"], *project["optional-dependencies"]["gcp"]] if d.startswith("apache-beam")}
    assert len(pins) == 1, pins
    return pins.pop().split("==")[1]


def staged_pipeline(gcs: GcsEmulator) -> beam_runner_api_pb2.Pipeline:
    (name,) = [n for n in gcs.object_names(BUCKET, "tmp/") if n.endswith("/pipeline.pb")]
    return beam_runner_api_pb2.Pipeline.FromString(gcs.read(BUCKET, name))


def transform_names(proto: beam_runner_api_pb2.Pipeline) -> set[str]:
    return {t.unique_name for t in proto.components.transforms.values()}


def build_once(argv: list[str]) -> beam.Pipeline:
    from newsflow.pipelines import once

    run = once.plan(argv)
    pipeline = beam.Pipeline(options=run.options)
    once.build(pipeline, run, {})
    return pipeline


def test_dry_run_translates_the_once_graph_for_dataflow_and_submits_nothing(gcs):
    pipeline = build_once([*DATAFLOW, "--dry_run=True", *newsflow_flags()])
    assert set(ONCE_STAGES) <= transform_names(pipeline.to_runner_api())
    result = pipeline.run()
    assert result.state == "DONE"
    assert gcs.object_names(BUCKET) == []


@pytest.mark.parametrize("mode", ["once", "stream"])
def test_newsflow_run_dry_run_on_dataflow_exits_0_offline_with_one_line(gcs, mode, capsys):
    from newsflow.pipelines.cli import main

    extra = ["--streaming"] if mode == "stream" else []
    assert main(["run", *DATAFLOW, "--dry_run=True", f"--mode={mode}", *extra, *newsflow_flags()]) == 0
    graph = "streaming graph" if mode == "stream" else "graph"
    assert f"newsflow run r1: {graph} built, not submitted (--dry_run)" in capsys.readouterr().out.splitlines()
    assert gcs.object_names(BUCKET) == []  # nothing staged, nothing read or written under --output


def test_template_location_writes_the_batch_job_spec(gcs, tmp_path):
    spec = tmp_path / "job.json"
    build_once([*DATAFLOW, f"--template_location={spec}", *newsflow_flags()]).run()
    job = json.loads(spec.read_text())
    environment = job["environment"]
    assert job["type"] == "JOB_TYPE_BATCH"
    assert environment["userAgent"] == {"name": "Apache Beam Python 3.11 SDK", "version": pinned_beam()}
    options = environment["sdkPipelineOptions"]["options"]
    assert {k: options[k] for k in ("config", "output", "mode", "run_id", "sdk_container_image", "region")} == {
        "config": newsflow_flags()[1], "output": f"gs://{BUCKET}/out", "mode": "once", "run_id": "r1",
        "sdk_container_image": IMAGE, "region": "us-central1"}
    (pool,) = environment["workerPools"]
    assert [c["containerImage"] for c in pool["sdkHarnessContainerImages"]] == [IMAGE]
    assert set(ONCE_STAGES) <= transform_names(staged_pipeline(gcs))


def test_template_location_writes_the_streaming_job_spec(gcs, tmp_path):
    stream_graph = pytest.importorskip("newsflow.pipelines.stream_graph")
    from newsflow.pipelines import once

    spec = tmp_path / "job.json"
    run = once.plan([*DATAFLOW, f"--template_location={spec}", "--mode=stream", "--enable_streaming_engine",
                     *newsflow_flags()])
    run.options.view_as(StandardOptions).streaming = True
    pipeline = beam.Pipeline(options=run.options)
    stream_graph.build_stream(pipeline, run)
    pipeline.run()
    job = json.loads(spec.read_text())
    assert job["type"] == "JOB_TYPE_STREAMING"
    options = job["environment"]["sdkPipelineOptions"]["options"]
    assert (options["mode"], options["streaming"], options["enable_streaming_engine"]) == ("stream", True, True)
    assert set(STREAM_STAGES) <= transform_names(staged_pipeline(gcs))


def newsflow_actions() -> dict[str, argparse.Action]:
    parser = argparse.ArgumentParser()
    NewsflowOptions._add_argparse_args(parser)
    return {a.dest: a for a in parser._actions if a.dest != "help"}


def metadata_parameters() -> dict[str, dict]:
    metadata = json.loads((DEPLOY / "metadata.json").read_text())
    return {p["name"]: p for p in metadata["parameters"]}


def test_metadata_parameters_match_the_newsflow_flags():
    actions = newsflow_actions()
    # A store_true switch cannot be a Flex Template parameter (the launcher passes --name=value):
    # such flags are left out, and deploy/README.md must say so.
    switches = {name for name, a in actions.items() if a.nargs == 0}
    readme = (DEPLOY / "README.md").read_text()
    assert all(f"`--{name}`" in readme for name in [*switches, *LOCAL_ONLY_FLAGS])
    expected = (set(actions) - set(LOCAL_ONLY_FLAGS) - switches) | BEAM_PARAMETERS
    assert set(metadata_parameters()) == expected


def test_beam_parameters_in_the_metadata_are_beam_options():
    for name in BEAM_PARAMETERS:
        assert PipelineOptions([f"--{name}=x"]).get_all_options()[name] == "x"


def test_metadata_parameters_are_complete_and_their_regexes_accept_the_defaults():
    actions = newsflow_actions()
    samples = {"config": "/template/config/feeds.yaml", "output": "gs://my-bucket/newsflow",
               "replay_prefix": "http://pywb.internal:8080/replay/", "allow_private_network": "10.0.0.0/8",
               "run_id": "20240729T070200Z-3f9a", "sdk_container_image": IMAGE}
    for name, parameter in metadata_parameters().items():
        assert parameter["label"] and parameter["helpText"], name
        assert parameter["isOptional"] is (name not in ("config", "output")), name
        action = actions.get(name)
        value = samples.get(name, str(action.default) if action is not None else None)
        assert value is not None, name
        assert all(re.fullmatch(rx, value) for rx in parameter["regexes"]), (name, value)
    parameters = metadata_parameters()
    assert [re.fullmatch(parameters["mode"]["regexes"][0], m) is not None for m in ("once", "stream", "x")] == \
        [True, True, False]
    assert not any(re.fullmatch(rx, "/tmp/out") for rx in parameters["output"]["regexes"])
    assert not any(re.fullmatch(rx, "0") for rx in parameters["host_concurrency"]["regexes"])


def test_beam_version_is_the_same_in_pyproject_dockerfile_lock_and_venv():
    beam_version = pinned_beam()
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.findall(r"^FROM (\S+)$", dockerfile, re.M) == [f"apache/beam_python3.11_sdk:{beam_version}"]
    lock = (DEPLOY / "requirements.lock").read_text()
    assert re.findall(r"^apache-beam==(\S+)", lock, re.M) == [beam_version]
    assert beam_version == BEAM_INSTALLED
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"] == ">=3.11,<3.12"


def test_lock_pins_every_dependency_of_the_project():
    lock = dict(re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", (DEPLOY / "requirements.lock").read_text(), re.M))
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["gcp"]]:
        name = re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in lock, requirement


def test_dockerfile_is_one_image_for_launcher_and_workers():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert ("COPY --from=gcr.io/dataflow-templates-base/python311-template-launcher-base:latest \\\n"
            "     /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher"
            ) in dockerfile
    assert "ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/main.py\n" in dockerfile
    assert "COPY deploy/main.py /template/main.py\n" in dockerfile
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]\n' in dockerfile
    lock_install = dockerfile.index("pip install --no-cache-dir -r /template/requirements.lock")
    assert lock_install < dockerfile.index("pip install --no-cache-dir --no-deps /template/src && pip check")


def test_build_context_holds_what_the_dockerfile_copies_and_nothing_else(tmp_path):
    from newsflow.pipelines.demo_server import bundled_site

    context = tmp_path / "context"
    env = {"PATH": "/usr/bin:/bin", "PROJECT": "p", "REGION": "us-central1", "BUCKET": "b", "REPOSITORY": "r",
           "TAG": "t", "BUILDER": "context", "CONTEXT_DIR": str(context),
           "CONFIG_FILE": str(bundled_site() / "feeds.yaml")}
    subprocess.run(["bash", str(DEPLOY / "build.sh")], env=env, check=True, capture_output=True, timeout=120)
    assert sorted(p.name for p in context.iterdir()) == [
        "README.md", "deploy", "pipelines", "pyproject.toml", "schemas", "transforms"]
    assert sorted(p.name for p in (context / "deploy").iterdir()) == [
        "Dockerfile", "config", "main.py", "requirements.lock"]
    assert (context / "deploy/config/feeds.yaml").read_bytes() == (bundled_site() / "feeds.yaml").read_bytes()
    assert not [p for p in context.rglob("*") if p.name == "__pycache__" or p.suffix == ".pyc"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    sources = [line.split()[1:-1] for line in dockerfile.replace("\\\n", " ").splitlines()
               if line.startswith("COPY ") and "--from=" not in line]
    assert sorted(src for group in sources for src in group) == sorted([
        "deploy/requirements.lock", "pyproject.toml", "README.md", "pipelines", "transforms", "schemas",
        "deploy/main.py", "deploy/config/"])
    assert all((context / src).exists() for group in sources for src in group)


def _guard_script(base: Path, final: Path) -> str:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    script = dockerfile.split("python - <<'PY'\n", 1)[1].split("\nPY\n", 1)[0]
    return script.replace("/tmp/base-image.txt", str(base)).replace("/tmp/final-image.txt", str(final))


@pytest.mark.parametrize(("final", "ok", "printed"), [
    ("apache-beam==2.77.0\nnumpy==2.4.6\nprotobuf==5.29.0\nextra==1.0\n", True,
     "changed from the Beam base image: numpy 2.2.0 -> 2.4.6\n"),
    ("apache-beam==2.77.0\nnumpy==1.26.4\nprotobuf==5.29.0\n", False,
     "changed from the Beam base image: numpy 2.2.0 -> 1.26.4\n"),
    ("apache-beam==2.76.0\nnumpy==2.2.0\nprotobuf==5.29.0\n", False,
     "changed from the Beam base image: apache-beam 2.77.0 -> 2.76.0\n"),
])
def test_the_image_build_refuses_to_downgrade_base_image_packages(tmp_path, final, ok, printed):
    base = tmp_path / "base.txt"
    base.write_text("apache-beam==2.77.0\nnumpy==2.2.0\nprotobuf==5.29.0\npip==25.0\n")
    after = tmp_path / "final.txt"
    after.write_text(final + "pip==25.0\n")
    done = subprocess.run([sys.executable, "-c", _guard_script(base, after)], capture_output=True, text=True)
    assert (done.returncode == 0) is ok, done.stderr
    assert done.stdout == printed


def test_flex_entry_point_defaults_to_dataflow_without_waiting():
    spec = importlib.util.spec_from_file_location("flex_main", DEPLOY / "main.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.flex_argv(["--output=gs://b/o"]) == [
        "run", "--output=gs://b/o", "--runner=DataflowRunner", "--no_wait_until_finish"]
    assert module.flex_argv(["--runner", "FnApiRunner", "--no_wait_until_finish"]) == [
        "run", "--runner", "FnApiRunner", "--no_wait_until_finish"]


def test_flex_entry_point_runs_newsflow_run(tmp_path):
    done = subprocess.run([sys.executable, str(DEPLOY / "main.py"), "--config", str(tmp_path / "none.yaml"),
                           "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().endswith(f"newsflow run: {tmp_path / 'none.yaml'}: file: not found")


SHELL_SCRIPTS = ("deploy/build.sh", "deploy/launch.sh", "deploy/lock.sh", "schemas/bigquery/load_job.sh")


@pytest.mark.parametrize("script", SHELL_SCRIPTS)
def test_shell_scripts_parse(script):
    subprocess.run(["bash", "-n", str(REPO / script)], check=True)
    if shutil.which("shellcheck"):
        done = subprocess.run(["shellcheck", str(REPO / script)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout


def sql_statements(text: str) -> list[str]:
    code = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
    return [s.strip() for s in code.split(";") if s.strip()]


def test_bigquery_external_tables_cover_every_dataset_with_its_partition_keys():
    statements = sql_statements((REPO / "schemas/bigquery/external_tables.sql").read_text())
    assert len(statements) == len(DATASETS) + 1
    types = {"dt": "DATE", "topic": "STRING", "region": "STRING"}
    for ds, statement in zip(DATASETS, statements, strict=False):
        assert statement.count("(") == statement.count(")") and statement.count("'") % 2 == 0
        assert statement.startswith(f"CREATE OR REPLACE EXTERNAL TABLE `PROJECT.DATASET.{ds.name}_v{ds.version}`")
        columns = re.search(r"WITH PARTITION COLUMNS \((.*?)\)\s*OPTIONS", statement, re.S)
        assert columns is not None, statement
        assert [c.strip() for c in columns.group(1).split(",")] == [f"{k} {types[k]}" for k in ds.partition_keys]
        assert "format = 'PARQUET'" in statement
        assert f"uris = ['gs://BUCKET/PREFIX/{ds.path}/*']" in statement
        assert f"hive_partition_uri_prefix = 'gs://BUCKET/PREFIX/{ds.path}'" in statement
        assert "require_hive_partition_filter = false" in statement
    view = statements[-1]
    assert view.startswith("CREATE OR REPLACE VIEW `PROJECT.DATASET.articles_with_dup_count_v1`")
    assert view.count("(") == view.count(")") and "ON c.duplicate_of = a.id" in view


def test_bigquery_load_job_uses_each_dataset_partition_layout():
    script = (REPO / "schemas/bigquery/load_job.sh").read_text()
    loads = re.findall(r'^load (\S+) (\S+) "(\S+)"$', script, re.M)
    types = {"dt": "DATE", "topic": "STRING", "region": "STRING"}
    assert loads == [(f"{ds.name}_v{ds.version}", ds.path, "/".join(f"{{{k}:{types[k]}}}" for k in ds.partition_keys))
                     for ds in DATASETS]
    assert "--hive_partitioning_mode=CUSTOM" in script and "--source_format=PARQUET" in script
