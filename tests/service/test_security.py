"""Nothing a client sends reaches a file path, a pickle, `eval` or a shell: hostile model names open no file
(watched with a Python audit hook while the requests run), and the packages hold no call that could."""

import re
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.servers import ROOT

pytestmark = pytest.mark.anyio
HOSTILE = ["../served/tiny-vae", "/etc/passwd", "tiny-vae.safetensors", "..", "~root", "tiny-vae/../tiny-vae", "%00"]
_opened: list[str] | None = None  # while a list: the path of every file opened


def _audit(event: str, args: tuple) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], str | bytes | Path):
        _opened.append(str(args[0]))


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one records only inside the test below


async def test_hostile_model_names_open_no_file_and_get_404(client):
    global _opened
    _opened = []
    try:
        for name in HOSTILE:
            segment = quote(name, safe="").replace(".", "%2E")  # one path segment: no client may resolve the dots
            for response in [
                await client.get("/sample", params={"model": name}),
                await client.get(f"/models/{segment}"),
                await client.get(f"/models/{segment}/latent-map"),
                await client.post("/decode", json={"model": name, "latents": [[0.0, 0.0, 0.0, 0.0]]}),
            ]:
                assert response.status_code in (404, 422), (name, response.status_code)
    finally:
        opened, _opened = _opened, None
    assert not [path for path in opened if any(part in path for part in ("passwd", "served", "safetensors"))], opened


def test_no_pickle_eval_or_shell_in_the_packages():
    pattern = re.compile(
        r"\bimport pickle\b|\bpickle\.loads?\(|(?<![.\w])torch\.load\(|(?<![.\w])(eval|exec)\(|os\.system|shell=True"
    )
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("models", "training", "service", "client")
        for path in (ROOT / package).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert found == []
