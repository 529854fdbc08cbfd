"""The device manager: the playground's one piece of shared runtime state.

* picks the device: ``$PLAYGROUND_DEVICE`` if set, else CUDA, then MPS, then CPU;
* loads each model lazily, once, and caches it (thread-safe; at most
  ``$PLAYGROUND_MAX_GPU_MODELS`` models stay resident on an accelerator, least recently
  used first out);
* runs device work under ``torch.inference_mode`` in one of a few device slots
  (``manager.inference()``; ``$PLAYGROUND_CONCURRENCY`` slots, default 1 on a CPU, 2 on a GPU),
  granted first come, first served; long loops take a slot per step (``manager.steps``), so
  a short request is served between the steps of a long one instead of after all of them;
* hands out seeded ``torch.Generator``s: noise is always drawn on the CPU from the seed,
  so a seed gives the same latents on every device;
* reports its state for the UI's System panel;
* wraps GPU-bound functions with ``spaces.GPU`` on a Hugging Face ZeroGPU Space.
"""

from __future__ import annotations

import collections
import contextlib
import os
import platform
import threading
import time
from collections import OrderedDict
from typing import Callable

import torch

# the seed check lives with the other argument checks; re-exported here, where seeds are used
from .checks import MAX_SEED, check_int, short_repr, validate_seed  # noqa: F401


def pick_device(preference: str | None = None) -> torch.device:
    """``preference`` (or ``$PLAYGROUND_DEVICE``) if given, else the best available device."""
    preference = preference or os.environ.get("PLAYGROUND_DEVICE") or None
    if preference:
        try:
            device = torch.device(preference)
        except RuntimeError as e:
            raise ValueError(f"PLAYGROUND_DEVICE={preference!r} is not a torch device: {e}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {preference!r} requested but CUDA is not available")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device {preference!r} requested but MPS is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def bf16_fast(device: torch.device) -> bool:
    """Does ``device`` compute in bfloat16 natively, so that bfloat16 autocast is a speed-up? A CUDA
    GPU from Ampere on; a CPU with AVX512-BF16 or AMX. Elsewhere bfloat16 is emulated: measured on
    an AMD EPYC without them, DDPM sampling ran 10x slower under autocast than in float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


def on_zero_gpu() -> bool:
    if not os.environ.get("SPACES_ZERO_GPU"):
        return False
    try:
        import spaces  # noqa: F401
    except ImportError:
        return False
    return True


class DeviceSlots:
    """At most ``limit`` threads do device work at once; waiting threads are let in first come,
    first served (a released slot is handed straight to the longest waiter, waking only it).
    Re-entrant: a thread that holds a slot may enter again without waiting."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError(f"the device needs at least one slot, not {limit}")
        self.limit = limit
        self._lock = threading.Lock()
        self._waiting: collections.deque[threading.Event] = collections.deque()
        self._busy = 0
        self._held = threading.local()

    def _acquire(self) -> None:
        with self._lock:
            if self._busy < self.limit and not self._waiting:
                self._busy += 1
                return
            turn = threading.Event()
            self._waiting.append(turn)
        turn.wait()  # set by a releasing thread, which hands its slot over (``_busy`` unchanged)

    def _release(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._busy -= 1

    @contextlib.contextmanager
    def __call__(self):
        depth = getattr(self._held, "depth", 0)
        if depth:  # nested device work in the same thread
            self._held.depth = depth + 1
            try:
                yield
            finally:
                self._held.depth = depth
            return
        self._acquire()
        self._held.depth = 1
        try:
            yield
        finally:
            self._held.depth = 0
            self._release()

    def status(self) -> dict:
        with self._lock:
            return {"slots": self.limit, "busy": self._busy, "waiting": len(self._waiting)}


class DeviceManager:
    def __init__(self, device: str | torch.device | None = None, max_gpu_models: int | None = None,
                 slots: int | None = None):
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        if slots is None:
            slots = int(os.environ.get("PLAYGROUND_CONCURRENCY") or (1 if self.device.type == "cpu" else 2))
        self.slots = DeviceSlots(slots)
        if max_gpu_models is None:
            max_gpu_models = int(os.environ.get("PLAYGROUND_MAX_GPU_MODELS", "3"))
        self.max_gpu_models = max(1, max_gpu_models)
        self._models: OrderedDict[str, torch.nn.Module] = OrderedDict()
        self._load_seconds: dict[str, float] = {}
        self._lock = threading.RLock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._loading = threading.RLock()  # re-entrant: a loader may ask for another model
        self.zero_gpu = on_zero_gpu()

    # -- models -----------------------------------------------------------------------
    def get(self, key: str, loader: Callable[[], torch.nn.Module]) -> torch.nn.Module:
        """Return the cached model ``key``, calling ``loader()`` the first time (once, even
        when many threads ask at the same moment). The model is put in eval mode on the device."""
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            t0 = time.perf_counter()
            # one load at a time, whatever the model: transformers' from_pretrained keeps process-wide
            # state while it builds a model (two at once, e.g. the BERT and the GPT on page load, left
            # GPT-2's lm_head untied now and then)
            with self._loading:
                model = loader().to(self.device).eval()
            with self._lock:
                self._models[key] = model
                self._load_seconds[key] = round(time.perf_counter() - t0, 3)
                self._evict()
            return model

    def _evict(self) -> None:
        if self.device.type == "cpu":
            return
        while len(self._models) > self.max_gpu_models:
            key, _ = self._models.popitem(last=False)  # dropping the last reference frees its memory
            self._load_seconds.pop(key, None)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def unload(self, key: str | None = None) -> None:
        """Forget one cached model (or all of them)."""
        with self._lock:
            keys = [key] if key is not None else list(self._models)
            for k in keys:
                self._models.pop(k, None)
                self._load_seconds.pop(k, None)

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._models)

    # -- running ----------------------------------------------------------------------
    @staticmethod
    def generator(seed: int) -> torch.Generator:
        """A CPU ``torch.Generator`` seeded with ``seed`` (draw noise with it, then move it)."""
        return torch.Generator(device="cpu").manual_seed(validate_seed(seed))

    @contextlib.contextmanager
    def inference(self):
        """Device work: wait for a device slot, then run under ``torch.inference_mode``.
        Keep only the device-bound part inside (not image encoding or file writes)."""
        with self.slots(), torch.inference_mode():
            yield

    def steps(self, iterator):
        """Advance ``iterator`` (a denoising loop, a Gibbs chain) one item at a time, each inside
        ``inference()``: between its steps a long run gives the device up to whoever waits."""
        iterator = iter(iterator)
        while True:
            with self.inference():
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            yield item

    def gpu(self, fn: Callable | None = None, *, duration: int = 60):
        """Decorator for device-bound functions: ``spaces.GPU`` on ZeroGPU, else a no-op.

        Every function that does device work (``inference()``, ``steps()``) is under it, or is
        called only by one that is (``tests/test_device.py`` checks). Generator functions too
        (the streamed DDPM frames, the Gibbs chain): ``spaces.GPU`` holds the GPU until the
        generator is exhausted or closed. Decorate the generator function itself, not a function
        that returns a generator: that one would give the GPU back before the first step."""

        def wrap(f):
            if self.zero_gpu:
                import spaces

                return spaces.GPU(duration=duration)(f)
            return f

        return wrap(fn) if fn is not None else wrap

    # -- reporting --------------------------------------------------------------------
    def status(self) -> dict:
        with self._lock:
            models = {
                key: {
                    "parameters": sum(p.numel() for p in m.parameters()),
                    "load_seconds": self._load_seconds.get(key),
                }
                for key, m in self._models.items()
            }
        info = {
            "device": str(self.device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "zero_gpu": self.zero_gpu,
            "python": platform.python_version(),
            "loaded_models": models,
            "device_slots": self.slots.status(),
            "max_models_on_accelerator": self.max_gpu_models,
        }
        if self.device.type == "cuda" and not self.zero_gpu:  # ZeroGPU: no CUDA calls outside spaces.GPU
            info["gpu"] = torch.cuda.get_device_name(self.device)
            info["gpu_memory_allocated_mb"] = round(torch.cuda.memory_allocated(self.device) / 2**20, 1)
            info["gpu_memory_reserved_mb"] = round(torch.cuda.memory_reserved(self.device) / 2**20, 1)
        elif self.device.type == "mps":
            info["mps_memory_allocated_mb"] = round(torch.mps.current_allocated_memory() / 2**20, 1)
        info["process_rss_mb"] = _rss_mb()
        return info


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None


manager = DeviceManager()
