import sys
import threading
import time
import types

import pytest
import torch

from playground import device as device_mod
from playground.device import DeviceManager, pick_device, validate_seed


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_pick_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.delenv("PLAYGROUND_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert pick_device().type == expected


def test_env_override_and_bad_values(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DEVICE", "cpu")
    assert pick_device().type == "cpu"
    monkeypatch.setenv("PLAYGROUND_DEVICE", "not-a-device")
    with pytest.raises(ValueError, match="not a torch device"):
        pick_device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("PLAYGROUND_DEVICE", "cuda")
        with pytest.raises(ValueError, match="CUDA is not available"):
            pick_device()


def test_model_loaded_once_under_concurrency():
    mgr = DeviceManager(device="cpu")
    calls = []

    def loader():
        calls.append(1)
        time.sleep(0.2)
        return torch.nn.Linear(2, 2)

    results = []
    threads = [threading.Thread(target=lambda: results.append(mgr.get("m", loader))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert all(r is results[0] for r in results)
    assert not results[0].training  # handed out in eval mode
    assert mgr.loaded() == ["m"]
    mgr.unload("m")
    assert mgr.loaded() == []


def test_accelerator_cap_evicts_least_recently_used():
    mgr = DeviceManager(device=torch.device("meta"), max_gpu_models=2)
    for key in ("a", "b"):
        mgr.get(key, lambda: torch.nn.Linear(2, 2))
    mgr.get("a", lambda: torch.nn.Linear(2, 2))  # a becomes most recent
    mgr.get("c", lambda: torch.nn.Linear(2, 2))
    assert mgr.loaded() == ["a", "c"]


def test_cpu_has_no_cap():
    mgr = DeviceManager(device="cpu", max_gpu_models=1)
    for key in "abc":
        mgr.get(key, lambda: torch.nn.Linear(2, 2))
    assert mgr.loaded() == ["a", "b", "c"]


def test_seeded_generators_repeat():
    a = torch.randn(5, generator=DeviceManager.generator(7))
    b = torch.randn(5, generator=DeviceManager.generator(7))
    c = torch.randn(5, generator=DeviceManager.generator(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "3", True, [1], float("nan")])
def test_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        validate_seed(bad)


def test_seed_none_draws_and_integral_numbers_accepted():
    import numpy as np

    assert 0 <= validate_seed(None) <= device_mod.MAX_SEED
    assert validate_seed(5.0) == 5 and validate_seed(np.int64(7)) == 7 and validate_seed(np.uint32(2**32 - 1)) == 2**32 - 1
    for bad in (float("nan"), float("inf"), np.float32(0.5)):
        with pytest.raises(ValueError):
            validate_seed(bad)


def test_inference_mode():
    mgr = DeviceManager(device="cpu")
    with mgr.inference():
        assert torch.is_inference_mode_enabled()


def test_status_reports_device_and_models():
    mgr = DeviceManager(device="cpu")
    mgr.get("lin", lambda: torch.nn.Linear(3, 4))
    s = mgr.status()
    assert s["device"] == "cpu"
    assert s["loaded_models"]["lin"]["parameters"] == 16
    assert s["process_rss_mb"] > 0


def test_gpu_decorator_noop_off_zero_gpu(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    mgr = DeviceManager(device="cpu")

    def f():
        return 1

    assert mgr.gpu(f) is f


def _zero_gpu_manager(monkeypatch, fake, GPU) -> DeviceManager:
    """A manager that believes it runs on ZeroGPU, with ``GPU`` as the fake ``spaces.GPU``."""
    fake.GPU = GPU
    monkeypatch.setitem(sys.modules, "spaces", fake)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    return DeviceManager(device="cpu")


def test_gpu_decorator_uses_spaces_on_zero_gpu(monkeypatch):
    wrapped = []
    fake = types.ModuleType("spaces")

    def GPU(duration=60):
        def deco(fn):
            wrapped.append((fn, duration))
            return fn

        return deco

    mgr = _zero_gpu_manager(monkeypatch, fake, GPU)
    assert mgr.zero_gpu

    @mgr.gpu
    def g():
        return 2

    assert g() == 2 and wrapped and wrapped[0][1] == 60


def test_device_slots_first_come_first_served_limited_and_reentrant():
    import threading
    import time

    from playground.device import DeviceSlots

    for limit in (1, 2):
        slots, order, active, peak = DeviceSlots(limit), [], [0], [0]
        lock = threading.Lock()

        def work(i):
            with slots():
                with slots():  # nested device work in the same thread does not wait for itself
                    with lock:
                        active[0] += 1
                        peak[0] = max(peak[0], active[0])
                        order.append(i)
                    time.sleep(0.02)
                    with lock:
                        active[0] -= 1

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
            time.sleep(0.005)  # arrive in order
        for t in threads:
            t.join()
        assert order == list(range(6)) and peak[0] == limit
        assert slots.status() == {"slots": limit, "busy": 0, "waiting": 0}


def test_long_runs_give_the_device_up_between_steps():
    import threading
    import time

    from playground.device import DeviceManager

    mgr = DeviceManager("cpu", slots=1)
    events = []

    def slow_steps():
        for i in range(5):
            time.sleep(0.02)
            yield i

    def short():
        time.sleep(0.03)
        with mgr.inference():
            events.append("short")

    t1 = threading.Thread(target=lambda: [events.append(f"long{i}") for i in mgr.steps(slow_steps())])
    t2 = threading.Thread(target=short)
    for t in (t1, t2):
        t.start()
    for t in (t1, t2):
        t.join()
    assert events.index("short") < len(events) - 1  # served between the long run's steps, not after
    assert [e for e in events if e != "short"] == [f"long{i}" for i in range(5)]


def test_gpu_decorator_passes_generator_functions_to_spaces(monkeypatch):
    """On ZeroGPU a streamed run (DDPM frames, the Gibbs chain) must hold the GPU while it yields:
    ``spaces.GPU`` gets the generator function itself, and gives one back that still streams."""
    import inspect

    seen = []
    fake = types.ModuleType("spaces")

    def GPU(duration=60):
        def deco(fn):
            seen.append(inspect.isgeneratorfunction(fn))
            if inspect.isgeneratorfunction(fn):  # what spaces does: a generator wrapper around the task
                def task(*args, **kwargs):
                    yield from fn(*args, **kwargs)
                return task
            return fn

        return deco

    mgr = _zero_gpu_manager(monkeypatch, fake, GPU)

    @mgr.gpu(duration=120)
    def frames(n):
        yield from range(n)

    assert seen == [True] and inspect.isgeneratorfunction(frames) and list(frames(3)) == [0, 1, 2]


def _device_functions(path):
    """(functions that do device work, those decorated with ``manager.gpu``, who calls whom) in one module."""
    import ast

    tree = ast.parse(path.read_text())
    device_work, decorated, calls = set(), set(), {}
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if any("manager.gpu" in ast.unparse(d) for d in fn.decorator_list):
            decorated.add(fn.name)
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                if name in ("manager.inference", "manager.steps"):
                    device_work.add(fn.name)
                calls.setdefault(name, set()).add(fn.name)
    return device_work, decorated, calls


def test_device_work_runs_under_manager_gpu():
    """Every function that does device work (``manager.inference()`` / ``manager.steps()``) is
    decorated with ``manager.gpu`` (``spaces.GPU`` on ZeroGPU: CUDA outside it fails there), or is
    a helper called only from functions that are. Generators included: the streamed views too."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "playground"
    checked = 0
    for path in sorted(root.rglob("*.py")):
        if path.name == "device.py":
            continue
        device_work, decorated, calls = _device_functions(path)
        for name in device_work - decorated:
            callers = calls.get(name, set())
            where = f"{path.relative_to(root)}: {name}"
            assert name.startswith("_") and callers and callers <= decorated, \
                f"{where} does device work outside manager.gpu (called by {callers or 'nobody'})"
        checked += len(device_work)
    assert checked >= 12
    streamed = {"ddpm/api.py": {"_frames", "_sample", "_interpolate"}, "gibbs/api.py": {"sample", "_stream"}}
    for path, names in streamed.items():
        assert names <= _device_functions(root / path)[1], path
