"""Which parameter of which torch.nn module plays which role, with the fans Keras computes for the matching
Keras layer.

Roles (Keras 3's meaning): *kernel* (Dense, Conv, ConvTranspose kernels; an attention projection; an RNN's
input-to-hidden weights), *recurrent* (an RNN's hidden-to-hidden weights: Keras' `recurrent_kernel`),
*embedding* (Keras' `embeddings`). Biases start at zero and normalization layers at ones and zeros, as in
Keras. A parameter no rule here knows (a user's own nn.Parameter, a parametrized weight) is the module's own.

Fans, with Keras' layout in mind: torch stores a Dense kernel as (out, in), Keras as (in, out); a conv kernel
as (out, in/groups, *k) against Keras' (*k, in/groups, out); a transposed conv's as (in, out, *k) against
Keras' (*k, out, in); an RNN's gates as (gates*units, in) against Keras' (in, units*gates). Each time
torch.nn.init's fan rule on torch's tensor gives Keras' fans, so they are taken from the tensor. Embedding
(torch (num, dim), Keras (input_dim, output_dim)), Bilinear and the packed attention projections get theirs
set here. No torch at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    import torch
    from torch import nn

Role = Literal["kernel", "recurrent", "embedding"]  # what --apply-to names
ROLES: tuple[Role, ...] = get_args(Role)
# Every kind of parameter: the three roles, then what Keras starts at a constant, then the module's own.
Kind = Literal["kernel", "recurrent", "embedding", "bias", "scale", "own"]
BIAS: Kind = "bias"
SCALE: Kind = "scale"  # a normalization layer's weight (gamma): ones
OWN: Kind = "own"


@dataclass
class Part:
    """Rows of a weight drawn as one Keras weight, with its fans (the q, k, v of a packed in_proj_weight)."""

    rows: slice
    fan_in: int
    fan_out: int


@dataclass
class Slot:
    """One parameter of a model and how its role initializes it."""

    name: str  # as model.named_parameters() names it
    module: str  # the owning module's type, e.g. "LSTM"
    kind: Kind
    tensor: torch.Tensor
    parts: tuple[Part, ...] = ()  # roles only: drawn part by part, each with its own fans
    ones: slice | None = None  # an LSTM's forget-gate rows of bias_ih: 1 (Keras' unit_forget_bias)
    zero_row: int | None = None  # an Embedding's padding_idx row: kept at zero, as the module promises

    @property
    def fans(self) -> tuple[int, int] | None:
        """(fan_in, fan_out) of a weight with a role (its first part's); None for constants and own ones."""
        return (self.parts[0].fan_in, self.parts[0].fan_out) if self.parts else None


def _whole(w: torch.Tensor, fan_in: int | None = None, fan_out: int | None = None) -> tuple[Part, ...]:
    """The whole tensor as one part: Keras' fans where given, else torch.nn.init's rule (which is Keras')."""
    if fan_in is None or fan_out is None:
        from torch.nn.init import _calculate_fan_in_and_fan_out

        fan_in, fan_out = _calculate_fan_in_and_fan_out(w)
    return (Part(slice(0, w.shape[0]), int(fan_in), int(fan_out)),)


def _attention(m: nn.MultiheadAttention, own: dict[str, torch.Tensor], module: str) -> list[Slot]:
    """q, k and v are three Dense projections, each with its own fans (packed or not); out_proj is a Linear
    child; bias_k and bias_v are biases."""
    e, slots = m.embed_dim, []
    for name, p in own.items():
        if name == "in_proj_weight":  # (3E, E): rows q, k, v
            parts = tuple(Part(slice(i * e, (i + 1) * e), e, e) for i in range(3))
            slots.append(Slot(name, module, "kernel", p, parts))
        elif name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):  # (E, E), (E, kdim), (E, vdim)
            slots.append(Slot(name, module, "kernel", p, _whole(p, p.shape[1], p.shape[0])))
        elif name in ("in_proj_bias", "bias_k", "bias_v"):
            slots.append(Slot(name, module, BIAS, p))
        else:
            slots.append(Slot(name, module, OWN, p))
    return slots


def _recurrent(m: nn.Module, own: dict[str, torch.Tensor], module: str) -> list[Slot]:
    """RNN, GRU, LSTM and their cells: weight_ih is the kernel, weight_hh the recurrent kernel, an LSTM's
    projection weight_hr a kernel (a Dense on h); both biases zero, but an LSTM's forget gate sums to 1."""
    from torch import nn

    lstm = isinstance(m, (nn.LSTM, nn.LSTMCell))
    hidden = m.hidden_size
    slots = []
    for name, p in own.items():
        if name.startswith(("weight_ih", "weight_hr")):
            slots.append(Slot(name, module, "kernel", p, _whole(p)))
        elif name.startswith("weight_hh"):
            slots.append(Slot(name, module, "recurrent", p, _whole(p)))
        elif name.startswith("bias_ih") and lstm:  # gates i, f, g, o: Keras' unit_forget_bias=True
            slots.append(Slot(name, module, BIAS, p, ones=slice(hidden, 2 * hidden)))
        elif name.startswith(("bias_ih", "bias_hh")):
            slots.append(Slot(name, module, BIAS, p))
        else:
            slots.append(Slot(name, module, OWN, p))
    return slots


def type_name(m: nn.Module) -> str:
    """The module's class name; a private class of torch by its public torch.nn base (MultiheadAttention's
    out_proj is a NonDynamicallyQuantizableLinear: a Linear)."""
    from torch import nn

    for cls in type(m).__mro__:
        if not cls.__module__.startswith("torch.") or hasattr(nn, cls.__name__):
            return cls.__name__
    return type(m).__name__


def _module_slots(m: nn.Module, prefix: str) -> list[Slot]:
    """The slots of one module's own parameters (not its children's), named in full."""
    from torch import nn
    from torch.nn.modules.batchnorm import _NormBase

    own = dict(m.named_parameters(recurse=False))
    if not own:
        return []
    module = type_name(m)
    if isinstance(m, nn.MultiheadAttention):
        slots = _attention(m, own, module)
    elif isinstance(m, (nn.RNNBase, nn.RNNCellBase)):
        slots = _recurrent(m, own, module)
    else:
        slots = []
        norm = isinstance(m, (_NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm))
        kernel = isinstance(m, (nn.Linear, nn.Bilinear, nn.modules.conv._ConvNd))
        embedding = isinstance(m, (nn.Embedding, nn.EmbeddingBag))
        for name, p in own.items():
            if name == "bias" and (kernel or norm):
                slots.append(Slot(name, module, BIAS, p))
            elif name != "weight":
                slots.append(Slot(name, module, OWN, p))
            elif norm:
                slots.append(Slot(name, module, SCALE, p))
            elif isinstance(m, nn.Bilinear):  # a Dense on the outer product x1 x2: (in1*in2, out)
                slots.append(Slot(name, module, "kernel", p, _whole(p, p.shape[1] * p.shape[2], p.shape[0])))
            elif kernel:
                slots.append(Slot(name, module, "kernel", p, _whole(p)))
            elif embedding:  # Keras' (input_dim, output_dim): fan_in = the vocabulary
                slots.append(Slot(name, module, "embedding", p, _whole(p, p.shape[0], p.shape[1]),
                                  zero_row=getattr(m, "padding_idx", None)))
            else:
                slots.append(Slot(name, module, OWN, p))
    for s in slots:
        s.name = f"{prefix}.{s.name}" if prefix else s.name
    return slots


def slots(model: nn.Module) -> list[Slot]:
    """Every parameter of `model` once (a shared one where it is first registered), in the order the model
    registers its modules: the order the initializer draws them in."""
    out, seen = [], set()
    for prefix, m in model.named_modules():
        for s in _module_slots(m, prefix):
            if id(s.tensor) not in seen:
                seen.add(id(s.tensor))
                out.append(s)
    return out


def rebound(plan: list[Slot], model: nn.Module) -> list[Slot]:
    """`plan` (the slots of a model built from the same spec) with `model`'s own tensors: what `slots(model)`
    gives, without reading every module again. A built-in model's architecture is its spec's alone, so its
    slots differ from copy to copy only by their tensors; a model whose parameters are named otherwise than
    the plan's gets its slots read afresh."""
    from dataclasses import replace

    named = list(model.named_parameters())
    if len(named) != len(plan) or any(n != s.name or t.shape != s.tensor.shape for (n, t), s in zip(named, plan)):
        return slots(model)
    return [replace(s, tensor=t) for (_, t), s in zip(named, plan)]


def kernel_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules whose kernel is their `.weight` and whose forward returns one tensor (Linear and its subclasses,
    Conv, ConvTranspose, Bilinear), by path in registration order; MultiheadAttention's out_proj is left out,
    since attention reads its weight without calling it."""
    from torch import nn

    kinds = (nn.Linear, nn.Bilinear, nn.modules.conv._ConvNd)
    inside_attention = {id(c) for m in model.modules() if isinstance(m, nn.MultiheadAttention) for c in m.children()}
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, kinds) and id(m) not in inside_attention
            and isinstance(m._parameters.get("weight"), nn.Parameter)]
