"""The gibbs tab: Chinese text by Gibbs sampling from a BERT masked LM (small Chinese BERT trained here).

    from playground import gibbs
    gibbs.sample(length=16, n=4, seed=0)                        # four 16-character texts
    gibbs.sample("科学技术____生产力。", anneal=0.0, seed=0)      # a template, annealed to greedy
    for step in gibbs.chain(length=8, n=2, steps=40, burn_in=8):  # one dict per Gibbs step
        print(step["step"], step["texts"], step["positions"])
    gibbs.sample(length=16, method="mh", seed=0)                 # Metropolis-Hastings (Goyal et al., 2022)
    gibbs.sample(length=16, steps=10, burn_in=0, method="mask-predict")  # parallel decoding, 10 passes
    gibbs.sample(length=16, domain="review", seed=0)             # a review, not news (gibbs.domains() lists them)
"""

from .api import (DEFAULT_DOMAIN, DEFAULT_METHOD, MAX_CHAINS, MAX_STEPS, MAX_TEMPERATURE, MAX_TOP_K, METHODS, SHIPPED,  # noqa: F401
                  TokenTable, chain, domains, info, load_model, model_dir, parse_anneal, parse_template, sample, temperatures)
from .models import MAX_CHARS  # noqa: F401

__all__ = ["DEFAULT_DOMAIN", "DEFAULT_METHOD", "MAX_CHAINS", "MAX_CHARS", "MAX_STEPS", "MAX_TEMPERATURE", "MAX_TOP_K", "METHODS",
           "SHIPPED", "TokenTable", "chain", "domains", "info", "load_model", "model_dir", "parse_anneal", "parse_template", "sample",
           "temperatures"]
