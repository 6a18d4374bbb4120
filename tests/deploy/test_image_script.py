"""scripts/image.sh answers a mistake with one line saying what to change, and status 2, before any build."""

import os
import shutil
import socket
import subprocess

import pytest

from tests.servers import ROOT


def image_sh(*arguments: str, env: dict[str, str] | None = None, user: list[str] | None = None):
    return subprocess.run(
        [*(user or []), "bash", str(ROOT / "scripts" / "image.sh"), *arguments],
        env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def says_one_line(result, text: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("image: "), result.stderr
    assert text in result.stderr


@pytest.mark.parametrize(
    ("arguments", "text"),
    [
        (["--no-such-option"], "unknown option '--no-such-option'"),
        (["--target", "gpu"], "unknown target 'gpu': service or train"),
        (["--extras", "ray,gpu"], "unknown extra 'gpu': one of train dev ray client bench"),
        (["--tag"], "--tag needs a value"),
        (["--online", "--ca-bundle", "/no/such/ca.crt"], "cannot read the CA bundle /no/such/ca.crt"),
    ],
)
def test_a_wrong_option_is_one_line(arguments, text):
    says_one_line(image_sh(*arguments), text)


def test_no_docker_command_is_one_line(tmp_path):
    for tool in ("bash", "dirname"):  # all the script needs before it looks for docker
        (tmp_path / tool).symlink_to(shutil.which(tool))
    says_one_line(image_sh(env={"PATH": str(tmp_path)}), "no docker command: install Docker")


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker command here")
def test_no_engine_is_one_line(tmp_path):
    result = image_sh(env={"DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"})
    says_one_line(result, "cannot reach the Docker engine (is dockerd running?)")


@pytest.mark.skipif(shutil.which("docker") is None or os.getuid() != 0, reason="needs docker and root")
def test_no_permission_to_the_socket_is_one_line(tmp_path):
    with socket.socket(socket.AF_UNIX) as engine:  # an engine's socket that only root may use
        engine.bind(str(tmp_path / "docker.sock"))
        engine.listen()
        os.chmod(tmp_path / "docker.sock", 0o600)
        result = image_sh(
            env={"DOCKER_HOST": f"unix://{tmp_path}/docker.sock", "HOME": "/tmp"},
            user=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
        )
    says_one_line(result, "no permission to the Docker socket")
