"""Does a change to training keep its results bitwise? Trains a short run of each family on a slice of
Fashion-MNIST with this tree and with another revision (a git worktree), and compares every tensor of the
two checkpoints, and their stored evaluation.

    .venv/bin/python bench/same_weights.py --against HEAD~1 [--models ae vae aae aae-clusters]

Prints one line per preset and exits 1 if any differs. The judges are the committed ones (`--limit` trains
on a slice; the judges belong to the whole data), so nothing but the runs themselves is trained.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[1]
SLICE = ["--epochs", "1", "--limit", "600", "--eval-limit", "100", "--device", "cpu"]


def train(tree: Path, preset: str, out: Path) -> None:
    judges = ["--judges-dir", str(ROOT / "checkpoints" / "classifiers")]
    command = [sys.executable, "-m", "training", "train", "--model", preset, "--out", str(out), *SLICE, *judges]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{preset} in {tree}: {done.stderr.strip().splitlines()[-1:]}")


def differences(first: Path, second: Path) -> list[str]:
    with safe_open(str(first), "pt") as a, safe_open(str(second), "pt") as b:
        if set(a.keys()) != set(b.keys()):
            return ["tensor names"]
        found = [name for name in a.keys() if not torch.equal(a.get_tensor(name), b.get_tensor(name))]  # noqa: SIM118
        header_a, header_b = (_untimed(json.loads((file.metadata() or {})["aeserve"])) for file in (a, b))
    return found + [f"header {key}" for key in header_a if header_a[key] != header_b.get(key)]


def _untimed(value: Any) -> Any:
    """The checkpoint's header without its timings (every "seconds", "images_per_second"): the rest must be equal."""
    if isinstance(value, dict):
        return {key: _untimed(item) for key, item in value.items() if key not in ("seconds", "images_per_second")}
    if isinstance(value, list):
        return [_untimed(item) for item in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", default="HEAD", help="the revision to compare with [HEAD]")
    parser.add_argument("--models", nargs="+", default=["ae", "vae", "aae", "aae-clusters"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        other = Path(temporary) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(other), args.against], cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
        try:
            failed = False
            for preset in args.models:
                ours, theirs = Path(temporary) / f"{preset}-ours.safetensors", Path(temporary) / f"{preset}.safetensors"
                train(ROOT, preset, ours)
                train(other, preset, theirs)
                differ = differences(ours, theirs)
                failed |= bool(differ)
                print(f"{preset}: " + (f"DIFFERS in {', '.join(differ[:5])}" if differ else "the same weights"))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT, check=True)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
