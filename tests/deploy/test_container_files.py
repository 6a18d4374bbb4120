"""The container files, checked without a Docker engine: hadolint, the Compose schema, and the image's
entrypoint started from the repository with the settings the compose file passes. tests/deploy/test_container.py
builds and runs the images themselves."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_hadolint_finds_nothing_in_the_dockerfile():
    result = subprocess.run([BIN / "hadolint", "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_file_follows_the_compose_specification():
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_services_share_the_checkpoints_volume_and_the_gpu_one_reserves_a_gpu():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("api", "api-gpu"):
        assert "checkpoints:/app/checkpoints:ro" in services[name]["volumes"]  # serving only reads
    assert "checkpoints:/app/checkpoints" in services["train"]["volumes"]  # the one writer
    assert services["api-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert services["api"]["restart"] == "unless-stopped" and "healthcheck" in services["api"]


def test_every_container_runs_unprivileged_on_a_read_only_root():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, service in services.items():
        assert service["read_only"] is True and service["tmpfs"] == ["/tmp"], name
        assert "no-new-privileges:true" in service["security_opt"] and service["cap_drop"] == ["ALL"], name
        assert service["user"] == "10001:10001", name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("USER 10001") == 2  # the images themselves, too: both final stages
    assert "useradd --create-home --uid 10001" in dockerfile


def _entrypoint(stage: str) -> list[str]:
    """The ENTRYPOINT of a Dockerfile stage, as the image would run it."""
    current, found = None, None
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("FROM "):
            current = line.split()[-1]
        elif line.startswith("ENTRYPOINT") and current == stage:
            found = json.loads(line.removeprefix("ENTRYPOINT"))
    assert found, f"no ENTRYPOINT in stage {stage}"
    return found


def test_the_image_entrypoint_serves_with_the_compose_settings(tmp_path):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = {key: str(value) for key, value in compose["services"]["api"]["environment"].items()}
    assert environment["AESERVE_MODELS_DIR"] == "/app/checkpoints"
    # what the image holds at /app: the checkpoints; the port moves to a free one on loopback
    app_dir = tmp_path / "app"
    shutil.copytree(ROOT / "checkpoints", app_dir / "checkpoints")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environment |= {
        "AESERVE_MODELS_DIR": str(app_dir / "checkpoints"),
        "AESERVE_HOST": "127.0.0.1",
        "AESERVE_PORT": str(port),
    }
    command = _entrypoint("service")
    assert command == ["python", "-m", "service"]
    process = subprocess.Popen(
        [sys.executable, *command[1:]], cwd=app_dir, env={**os.environ, "PYTHONPATH": str(ROOT), **environment},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
            time.sleep(0.2)
        models = httpx.get(f"http://127.0.0.1:{port}/models").json()["models"]
        assert [m["name"] for m in models if m["default"]] == [environment["AESERVE_DEFAULT_MODEL"]]
        assert {m["device"] for m in models} == {environment["AESERVE_DEVICE"]}
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0  # drained: a clean stop, not "killed by SIGTERM"


@pytest.mark.parametrize("stage", ["train"])
def test_the_training_image_runs_the_training_cli(stage):
    command = _entrypoint(stage)
    result = subprocess.run([sys.executable, *command[1:], "--help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and "defaults" in result.stdout
