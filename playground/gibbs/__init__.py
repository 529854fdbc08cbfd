"""The gibbs tab: Chinese text by Gibbs sampling from a BERT masked LM (small Chinese BERT trained here).

    from playground import gibbs
    gibbs.sample(length=16, n=4, seed=0)                        # four 16-character texts
    gibbs.sample("科学技术____生产力。", anneal=0.0, seed=0)      # a template, annealed to greedy
    for step in gibbs.chain(length=8, n=2, steps=40, burn_in=8):  # one dict per Gibbs step
        print(step["step"], step["texts"], step["positions"])
"""

from .api import (MAX_CHAINS, MAX_STEPS, MAX_TEMPERATURE, MAX_TOP_K, SHIPPED, TokenTable, chain, info,  # noqa: F401
                  load_model, model_dir, parse_anneal, parse_template, sample, temperatures)
from .models import MAX_CHARS  # noqa: F401

__all__ = ["MAX_CHAINS", "MAX_CHARS", "MAX_STEPS", "MAX_TEMPERATURE", "MAX_TOP_K", "SHIPPED", "TokenTable", "chain",
           "info", "load_model", "model_dir", "parse_anneal", "parse_template", "sample", "temperatures"]
