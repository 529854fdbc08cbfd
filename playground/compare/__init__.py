"""Compare: every shipped image model side by side from one seed, on the project's one metric."""

from .api import MAX_COUNT, MAX_NEIGHBOURS, coverage, generate, models, nearest, table

__all__ = ["MAX_COUNT", "MAX_NEIGHBOURS", "coverage", "generate", "models", "nearest", "table"]
