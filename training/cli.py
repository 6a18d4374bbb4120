"""`python -m training`: train one model, evaluate a checkpoint, retrain the default set, report its figures,
or export a data set as a folder of images."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import NoReturn

import torch
from torch import distributed as dist

from training.anomaly import calibrate_command
from training.data import MNIST_BASE_URL, DataError, Splits, hold_out_validation
from training.datasets import load_splits, write_image_folder
from training.oneclass import one_class_study
from training.presets import PRESETS
from training.report import QUALITY_BEFORE, one_line, stale_or_missed, write_models_table
from training.run import TrainingMistake, judges_for, reevaluate, train_to_checkpoint, with_overrides
from training.study import PARTS, run_study


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every epoch")
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", choices=["fashion-mnist", "mnist", "folder"], default="fashion-mnist")
    group.add_argument(
        "--fashion-mnist-dir", type=Path,
        default=Path(os.environ.get("AESERVE_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")),
        help="folder of the Fashion-MNIST IDX files (Debian: dataset-fashion-mnist) [env AESERVE_FASHION_MNIST_DIR]",
    )  # fmt: skip
    group.add_argument(
        "--mnist-dir", type=Path, default=Path(os.environ.get("AESERVE_MNIST_DIR", "data/mnist")),
        help="cache folder the MNIST files are downloaded into [env AESERVE_MNIST_DIR]",
    )  # fmt: skip
    group.add_argument(
        "--mnist-url", default=os.environ.get("AESERVE_MNIST_URL", MNIST_BASE_URL), help="MNIST base URL"
    )
    group.add_argument("--image-folder", type=Path, help="with --dataset folder: one subfolder per class")
    group.add_argument(
        "--image-shape", type=int, nargs=3, metavar=("C", "H", "W"), default=(1, 28, 28),
        help="with --dataset folder, and for export: channels (1 or 3), height, width the images are converted to",
    )  # fmt: skip
    group.add_argument("--limit", type=int, help="use only the first N training images (quick runs)")
    group.add_argument(
        "--eval-limit", type=int,
        help="use only the first N validation and test images, and as many samples (quick runs; the figures "
        "record their sample count)",
    )  # fmt: skip
    group.add_argument(
        "--judges-dir", type=Path,
        help="folder of the evaluation classifiers of this data, DATASET-DIGEST-cnn and -resnet, trained there "
        "on the whole training split if missing [default: classifiers/ beside the checkpoints written]",
    )  # fmt: skip


class _OneLineParser(argparse.ArgumentParser):
    """argparse's mistakes as one line (no usage block), status 2, like every other mistake here."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m training", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser(
        "train",
        help="train one model and write its evaluated checkpoint",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    train.add_argument("--model", choices=sorted(PRESETS), default="vae", help="preset to start from")
    train.add_argument("--out", type=Path, help="checkpoint path [default: checkpoints/MODEL.safetensors]")
    train.add_argument("--resume", action="store_true", help="continue from the epochs already in --out")
    train.add_argument(
        "--auxiliary-dir", type=Path,
        help="keep the second stage's auxiliary classifier in this folder and reuse it from there (e.g. "
        "checkpoints/auxiliary, where the default set keeps its own) [default: train it afresh]",
    )  # fmt: skip
    train.add_argument("--docs-dir", type=Path, help="also write the model's pictures under DIR/MODEL/")
    train.add_argument(
        "--evaluate-on", choices=["validation", "test"], default="validation",
        help="split the figures are measured on: choose settings on validation, report test once at the end",
    )  # fmt: skip
    hyper = train.add_argument_group("overrides of the preset (default: the preset's value)")
    hyper.add_argument("--epochs", type=int)
    hyper.add_argument("--latent-dim", type=int)
    hyper.add_argument("--architecture", choices=["mlp", "conv"])
    hyper.add_argument("--hidden", type=int, help="width of the fully connected layers")
    hyper.add_argument("--batch-size", type=int)
    hyper.add_argument("--learning-rate", type=float)
    hyper.add_argument("--auxiliary-weight", type=float, help="weight of an auxiliary classifier's loss on prior draws")
    hyper.add_argument("--unlabelled-fraction", type=float, help="label-prior AAE: share of codes shown without label")
    hyper.add_argument(
        "--neighbours", type=int,
        help="categorical AAE: y agrees with one of each image's K nearest training images by HOG features (0: none)",
    )  # fmt: skip
    hyper.add_argument("--seed", type=int)
    _common_arguments(train)

    evaluate = commands.add_parser("evaluate", help="recompute a checkpoint's evaluation and store it in the file")
    evaluate.add_argument("checkpoint", type=Path)
    evaluate.add_argument("--split", choices=["validation", "test"], default="test")
    _common_arguments(evaluate)

    calibrate = commands.add_parser(
        "calibrate", help="store the anomaly score's calibration in a checkpoint (held-out normal images)"
    )
    calibrate.add_argument("checkpoint", type=Path)
    calibrate.add_argument(
        "--folder", type=Path,
        help="calibrate on every image of this folder (one subfolder per class, or train/ and test/), all of "
        "them normal [default: the data set's validation split; the false-positive rate on its test split]",
    )  # fmt: skip
    calibrate.add_argument("--alpha", type=float, default=0.01, help="p-values below it flag an image [0.01]")
    _common_arguments(calibrate)

    oneclass = commands.add_parser("oneclass", help="one model per class, the other classes its anomalies (AUROC)")
    oneclass.add_argument("--split", choices=["validation", "test"], default="validation")
    oneclass.add_argument("--epochs", type=int, default=8)
    _common_arguments(oneclass)

    defaults = commands.add_parser("defaults", help="retrain the whole default set into checkpoints/")
    defaults.add_argument("--out-dir", type=Path, default=Path("checkpoints"))
    defaults.add_argument("--docs-dir", type=Path, default=Path("docs"))
    defaults.add_argument("--only", nargs="+", choices=sorted(PRESETS), help="retrain just these presets")
    defaults.add_argument(
        "--evaluate-on", choices=["validation", "test"], default="test",
        help="split the stored figures are measured on (test: the figures to report)",
    )  # fmt: skip
    _common_arguments(defaults)

    report = commands.add_parser(
        "report", help="rewrite docs/models.md from the committed set's stored figures; --check its targets"
    )
    report.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    report.add_argument("--docs-dir", type=Path, default=Path("docs"))
    report.add_argument(
        "--check", action="store_true",
        help="write nothing: exit 1 naming each target (training/targets.py) the stored figures miss, or a stale "
        "docs/models.md",
    )  # fmt: skip

    export = commands.add_parser(
        "export", help="write a data set as a folder of PNGs, OUT/{train,test}/CLASS/N.png, in --image-shape"
    )
    export.add_argument("out", type=Path)
    _common_arguments(export)

    study = commands.add_parser("study", help="semi-supervised and clustering AAEs against their baselines over seeds")
    study.add_argument("--split", choices=["validation", "test"], default="test")
    study.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    study.add_argument(
        "--parts", choices=PARTS, nargs="+", default=list(PARTS), help="rerun only these; keep the rest from --out"
    )
    study.add_argument("--ae", type=Path, default=Path("checkpoints/ae.safetensors"), help="the plain AE for k-means")
    study.add_argument("--out", type=Path, default=Path("docs/benchmarks/semi-supervised.json"))
    study.add_argument("--doc", type=Path, default=Path("docs/semi-supervised.md"), help="the figures as markdown")
    _common_arguments(study)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        _run(args)
    except (DataError, TrainingMistake) as mistake:  # the user's data or files: one line saying what is wrong
        print(f"python -m training: {mistake}", file=sys.stderr)
        raise SystemExit(2) from None


def _judges_dir(args: argparse.Namespace) -> Path:
    """Where the run's judges live: --judges-dir, else classifiers/ beside what the command writes."""
    if args.judges_dir is not None:
        return Path(args.judges_dir)
    if args.command == "train":
        return (args.out or Path("checkpoints") / f"{args.model}.safetensors").parent / "classifiers"
    if args.command == "evaluate":
        return Path(args.checkpoint).parent / "classifiers"
    return Path(args.out_dir) / "classifiers"


def _writable_folder(path: Path) -> None:
    """TrainingMistake unless `path` (or, where it does not exist yet, the folder that would hold it) can be
    written: found before the data is read and the training starts, not at the first save."""
    existing = next(folder for folder in (path, *path.parents) if folder.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise TrainingMistake(f"cannot write into {path} ({existing} is not a writable folder): choose another")


def _report(args: argparse.Namespace) -> None:
    if not args.check:
        return write_models_table(args.checkpoints, args.docs_dir / "models.md", args.docs_dir / QUALITY_BEFORE)
    for line in (missed := stale_or_missed(args.checkpoints, args.docs_dir)):
        print(f"missed: {line}", file=sys.stderr)
    if missed:
        raise SystemExit(1)
    print(f"{args.checkpoints}: every target in training/targets.py holds; docs/models.md is up to date")


def _run(args: argparse.Namespace) -> None:
    if args.command == "report":
        return _report(args)
    if args.command == "train":
        _writable_folder((args.out or Path("checkpoints") / f"{args.model}.safetensors").parent)
    elif args.command == "defaults":
        _writable_folder(Path(args.out_dir))
    elif args.command == "calibrate" and args.folder is not None:  # a user's own normal images
        args.dataset, args.image_folder = "folder", args.folder
    elif args.command == "export":
        _writable_folder(args.out)
        if args.out.is_dir() and any(args.out.iterdir()):  # an export never mixes with files already there
            raise TrainingMistake(f"{args.out} is not empty: export into a new folder")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    rank = _init_distributed(args)
    splits = load_splits(
        args.dataset, fashion_mnist_dir=args.fashion_mnist_dir, mnist_dir=args.mnist_dir,
        mnist_base_url=args.mnist_url, image_folder=args.image_folder, image_shape=tuple(args.image_shape),
    )  # fmt: skip
    if args.command == "calibrate":
        return print(calibrate_command(args.checkpoint, splits, args.folder, args.dataset, alpha=args.alpha,
                                       limit=args.eval_limit, device=args.device))  # fmt: skip
    if args.command == "export":
        sliced = Splits(splits.train.subset(args.limit), splits.test.subset(args.eval_limit))
        write_image_folder(sliced, args.out, tuple(args.image_shape))
        print(f"{args.out}: {len(sliced.train)} training and {len(sliced.test)} test images")
        return
    whole = splits = hold_out_validation(splits)
    splits = dataclasses.replace(
        splits, train=splits.train.subset(args.limit), test=splits.test.subset(args.eval_limit),
        validation=splits.validation and splits.validation.subset(args.eval_limit),
    )  # fmt: skip
    if args.command == "oneclass":  # figures to docs/oneclass.md and docs/benchmarks/oneclass.json
        return print(one_class_study(splits, split=args.split, epochs=args.epochs, docs_dir=Path("docs")))
    if args.command == "study":
        report = run_study(splits, args.split, args.seeds, args.ae, args.out, args.doc, tuple(args.parts))
        print(json.dumps(report["summary"], indent=1))
        return
    # under torchrun only rank 0 evaluates and writes; the others just train their shard
    # judges belong to the whole data set, so --limit changes what is trained, never what judges it
    judges = judges_for(whole, _judges_dir(args), args.dataset, device=args.device) if rank == 0 else None

    if args.command == "evaluate":
        assert judges is not None, "evaluate runs in one process"
        figures = reevaluate(args.checkpoint, splits, judges, split=args.split, device=args.device)
        print(one_line(args.checkpoint.stem, figures))
    elif args.command == "train":
        preset = with_overrides(
            PRESETS[args.model],
            {"latent_dim": args.latent_dim, "architecture": args.architecture, "hidden": args.hidden},
            {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
             "auxiliary_weight": args.auxiliary_weight, "unlabelled_fraction": args.unlabelled_fraction,
             "neighbours": args.neighbours, "seed": args.seed},
        )  # fmt: skip
        out = args.out or Path("checkpoints") / f"{args.model}.safetensors"
        figures = train_to_checkpoint(
            preset, splits, out, dataset=args.dataset, judges=judges, evaluate_on=args.evaluate_on,
            resume=args.resume, device=args.device, docs_dir=args.docs_dir, auxiliary_kept_in=args.auxiliary_dir,
        )  # fmt: skip
        if rank == 0:
            print(one_line(str(out), figures))
    else:
        started = time.perf_counter()
        for name in args.only or list(PRESETS):
            began = time.perf_counter()
            figures = train_to_checkpoint(
                PRESETS[name], splits, args.out_dir / f"{name}.safetensors", dataset=args.dataset,
                judges=judges, evaluate_on=args.evaluate_on, device=args.device, docs_dir=args.docs_dir / "models",
                auxiliary_kept_in=args.out_dir / "auxiliary",
            )  # fmt: skip
            print(one_line(name, figures) + f"  [{time.perf_counter() - began:.0f} s]", flush=True)
        print(f"default set trained in {time.perf_counter() - started:.0f} s")
        if rank == 0:
            write_models_table(args.out_dir, args.docs_dir / "models.md", args.docs_dir / QUALITY_BEFORE)
    if dist.is_initialized():
        dist.destroy_process_group()


def _init_distributed(args: argparse.Namespace) -> int:
    """Under torchrun (LOCAL_RANK set): join the process group, gloo on CPU, NCCL on GPUs; return the rank."""
    if "LOCAL_RANK" not in os.environ:
        return 0
    if args.device.startswith("cuda"):
        local_rank = int(os.environ["LOCAL_RANK"])
        torch.cuda.set_device(local_rank)
        args.device = f"cuda:{local_rank}"
    dist.init_process_group(backend="nccl" if args.device.startswith("cuda") else "gloo")
    return dist.get_rank()
