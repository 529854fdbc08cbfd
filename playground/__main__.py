"""Command line: ``python -m playground serve | train | sample | eval | bench``."""

from __future__ import annotations

import argparse
import shlex
import sys


def _add_threads(p):
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def cmd_train(args) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    command = "python -m playground " + shlex.join(sys.argv[1:])
    if args.model == "gan":
        from .gan.train import TrainConfig, train

        config = TrainConfig.for_arch(
            args.arch, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
            penalty=args.penalty, ema_decay=args.ema_decay,
            bf16=None if args.bf16 is None else args.bf16 == "on",
        )
        out = args.out or f"runs/gan-{args.arch}"
        summary = train(config, out, export_dir=args.export, data_dir=args.data_dir,
                        max_minutes=args.max_minutes, save_minutes=args.save_minutes,
                        sample_every=args.sample_every, progress=not args.no_progress, command=command)
    elif args.model == "classifier":
        from .metrics import train_classifier

        summary = train_classifier(out_dir=args.export or "checkpoints/fmnist-classifier",
                                   epochs=args.epochs, seed=args.seed, data_dir=args.data_dir, command=command)
    print({k: v for k, v in summary.items() if k != "config"})
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m playground", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model (resumable: run the same command again to continue)")
    p.add_argument("model", choices=["gan", "classifier"])
    p.add_argument("--arch", default="dcgan", choices=["dcgan", "su2017"])
    p.add_argument("--steps", type=int, default=None, help="generator steps")
    p.add_argument("--epochs", type=int, default=4, help="classifier epochs")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--penalty", type=float, default=None, help="gradient-penalty weight")
    p.add_argument("--ema-decay", type=float, default=None)
    p.add_argument("--bf16", choices=["on", "off"], default=None, help="bfloat16 autocast")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="run folder for resumable state (default runs/gan-ARCH)")
    p.add_argument("--export", default=None, help="where to write the finished model (e.g. checkpoints/gan-dcgan)")
    p.add_argument("--data-dir", default=None, help="Fashion-MNIST folder (default $FASHION_MNIST_DIR or Debian's)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this long")
    p.add_argument("--save-minutes", type=float, default=3.0)
    p.add_argument("--sample-every", type=int, default=1000)
    p.add_argument("--no-progress", action="store_true")
    _add_threads(p)
    p.set_defaults(func=cmd_train)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
