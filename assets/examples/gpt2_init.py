"""GPT-2's initialization as a user's initializer: `--init assets/examples/gpt2_init.py:gpt2` (or
`assets/examples/gpt2_init.py:gpt2:std=0.02,layers=12`). initdash calls gpt2(model, generator, **params) on each
freshly built model and draws nothing else for it."""

import math

import torch
from torch import nn


def gpt2(model: nn.Module, generator: torch.Generator, std: float = 0.02, layers: float = 1) -> None:
    """N(0, std) on every Linear and Embedding weight, biases zero; the projections that end a residual branch
    (attention's out_proj, and any Linear named c_proj) scaled by 1/sqrt(2 * layers) (Radford et al. 2019)."""
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                residual = name.endswith(("out_proj", "c_proj"))
                m.weight.normal_(0.0, std / math.sqrt(2 * layers) if residual else std, generator=generator)
                if getattr(m, "bias", None) is not None:
                    m.bias.zero_()
