"""Command line: ``python -m playground serve | train | eval | bench | sample | data | sweep | prior``.

Every command but ``serve`` and ``bench`` takes a tab (``python -m playground train ddpm ...``);
the tabs, and what each offers, come from the registry (``playground.tabs``): a tab's ``tab.py``
defines the hooks (``training``, ``evaluate``, ``sample``, ``make_data``, ``sweep``, ``fit_prior``) and the
arguments they take. ``train``'s flags come from the tab's config dataclass, so
``python -m playground train ddpm --help`` lists DDPM's flags only.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from . import tabs

# command -> (hook that runs it, hook that adds its arguments, help)
TAB_COMMANDS = {
    "train": ("training", None, "train a model (resumable: run the same command again to continue)"),
    "eval": ("evaluate", "add_eval_arguments", "score a model and optionally rewrite its card (--write-card)"),
    "sample": ("sample", "add_sample_arguments", "write a grid of samples to a PNG"),
    "data": ("make_data", "add_data_arguments", "make training data (xiangqi: Fairy-Stockfish games)"),
    "sweep": ("sweep", "add_sweep_arguments", "a hyperparameter sweep (eae: the card's one-at-a-time sweep)"),
    "prior": ("fit_prior", "add_prior_arguments", "fit an ex-post prior to a model's training codes (eae: a mixture)"),
}


def _command_line() -> str:
    return "python -m playground " + shlex.join(sys.argv[1:])


def _threads(args) -> None:
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def cmd_train(args) -> int:
    from .cliargs import run_options

    _threads(args)
    training = tabs.get(args.tab).entry.training()
    overrides = {name: getattr(args, name) for name in args.config_fields if getattr(args, name) is not None}
    config = training.build(overrides)
    out = args.out or training.out.format(**vars(config))
    options = dict(run_options(args), progress=not args.no_progress, command=_command_line())
    summary = training.train(config, out, export_dir=args.export, data_dir=args.data_dir or training.data_dir,
                             **options)
    print({k: v for k, v in summary.items() if k != "config"})
    return 0


def cmd_tab(args) -> int:
    """eval, sample, data, sweep, prior: the tab's own hook."""
    _threads(args)
    hook = getattr(tabs.get(args.tab).entry, TAB_COMMANDS[args.command][0])
    if args.command == "sample":
        from .images import grid, save_png, tag

        images, name = hook(args)
        nrow = args.nrow or max(1, int(round(args.n ** 0.5)))
        save_png(tag(grid(images, nrow=nrow), {"model": name, "seed": args.seed, "n": args.n}), args.out)
        print(f"wrote {args.n} samples to {args.out}")
        return 0
    return hook(args, _command_line())


def cmd_serve(args) -> int:
    from .ui import build_demo, launch

    launch(build_demo(), server_name=args.host, server_port=args.port, inbrowser=args.open, share=args.share)
    return 0


def cmd_bench(args) -> int:
    """Warm latency of every tab's ``bench_cases``; ``--http`` and ``--load`` go through the app."""
    import statistics
    import time

    import torch

    _threads(args)
    if args.load:  # only the load test: N concurrent users through a launched app
        from .bench import bench_load

        if args.mixed:
            from .bench import bench_mixed

            report = bench_mixed(args.load, args.mixed, url=args.url)
        else:
            report = bench_load(args.load, url=args.url)
        return 1 if any(r["failures"] for r in report.values()) else 0
    if args.page:  # only the page load in a real browser
        from .bench import bench_page

        bench_page(url=args.url)
        return 0
    if args.costs:  # only the work budget's per-unit costs against this machine
        from .bench import bench_costs

        bench_costs()
        return 0
    from .device import manager

    chosen = [args.tab] if args.tab else tabs.names("bench_cases")
    cases = [case for name in chosen for case in tabs.get(name).entry.bench_cases()]
    print(f"device: {manager.device}, torch threads: {torch.get_num_threads()}, repeats: {args.repeats}")
    for name, fn in cases:
        fn()  # warm-up: loads the model, first-call allocations
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        print(f"{name:44s} median {1000 * statistics.median(times):7.1f} ms   min {1000 * min(times):7.1f} ms")
    for name in tabs.names("bench_extra"):
        tabs.get(name).entry.bench_extra(args)
    if args.http:
        from .bench import bench_http

        bench_http(args.repeats)
    return 0


def _add_threads(p) -> None:
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def _tab_parser(sub, command: str, name: str, selected: bool):
    """``python -m playground <command> <name>``: the tab's own arguments (for ``train``, only when
    ``selected``: building them imports the tab's trainer)."""
    tab = tabs.get(name)
    p = sub.add_parser(name, help=tab.title, description=f"{TAB_COMMANDS[command][2]}: {tab.title}")
    p.set_defaults(tab=name, command=command, func=cmd_train if command == "train" else cmd_tab)
    if command == "train":
        if selected:
            from .cliargs import add_config_flags, add_run_flags

            training = tab.entry.training()
            p.set_defaults(config_fields=add_config_flags(p, training))
            add_run_flags(p, training)
    else:
        getattr(tab.entry, TAB_COMMANDS[command][1])(p)
        for flag, kwargs in (("--seed", dict(type=int, default=0)), ("--data-dir", dict(default=None))):
            if not any(flag in a.option_strings for a in p._actions):
                p.add_argument(flag, **kwargs)
        if command == "eval":
            p.add_argument("--write-card", action="store_true", help="store metrics.json and rewrite the model card")
        if command == "sample":
            p.add_argument("--n", type=int, default=64)
            p.add_argument("--nrow", type=int, default=None, help="images per row (default: square)")
            p.add_argument("--out", default="samples.png")
    if command in ("train", "eval", "sweep", "prior"):
        _add_threads(p)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m playground", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for command, (hook, _, text) in TAB_COMMANDS.items():
        p = sub.add_parser(command, help=text)
        per_tab = p.add_subparsers(dest="tab", required=True, metavar="TAB")
        for name in tabs.names(hook):
            _tab_parser(per_tab, command, name, selected=argv[:2] == [command, name])

    p = sub.add_parser("serve", help="launch the Gradio app")
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1; 0.0.0.0 to share on a LAN)")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--open", action="store_true", help="open the app in the default browser")
    p.add_argument("--share", action="store_true", help="create a public gradio.live link (needs internet)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("bench", help="warm latency of every tab's calls")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--tab", default=None, choices=tabs.names("bench_cases"), help="only this tab's calls")
    p.add_argument("--http", action="store_true", help="also time the endpoints through a launched app")
    p.add_argument("--load", type=int, default=0, metavar="USERS",
                   help="only the load test: USERS concurrent gradio_client users over the tabs' main endpoints")
    p.add_argument("--costs", action="store_true",
                   help="only each tab's declared work cost per unit (the public-server budget) against this machine")
    p.add_argument("--mixed", type=int, default=0, metavar="HEAVY",
                   help="with --load: under a Space's limits, HEAVY of the USERS clients send the heaviest request "
                        "the work budget allows, the others light ones (beside an all-light burst)")
    p.add_argument("--page", action="store_true",
                   help="only the page load in headless Chromium: seconds to the Compare tab's first row, warm")
    p.add_argument("--url", default=None, help="--load or --page against this running app instead of launching one")
    for name in tabs.names("add_bench_arguments"):
        tabs.get(name).entry.add_bench_arguments(p)
    _add_threads(p)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as e:
        parser.exit(2, f"error: {e}\n")


if __name__ == "__main__":
    sys.exit(main())
