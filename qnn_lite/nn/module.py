"""`Module` and `Parameter`: the bookkeeping every layer shares, PyTorch's API in miniature.

A Module finds its parts by looking at its attributes: assigning a `Parameter`
registers a learnable tensor, assigning a `Module` registers a child, and
``register_buffer`` registers state that is saved but not learned (BatchNorm's
running statistics). From that one registry come ``parameters()``,
``state_dict()``, ``train()``/``eval()`` and ``zero_grad()``.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Iterator

import numpy as np

from ..autograd.tensor import Tensor
from ..validate import check_bool


class Parameter(Tensor):
    """A Tensor that a Module learns: ``requires_grad=True`` by default, float32 from Python data.

    The values are always *copied* (as ``torch.nn.Parameter(torch.tensor(w))``): an optimizer
    step never writes into the caller's array, whatever its dtype.
    """

    def __init__(self, data, requires_grad: bool = True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)
        if _shares(self.data, data):
            self.data = self.data.copy()    # float32 (or dtype=) arrays would otherwise be aliased

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def _shares(array: np.ndarray, source) -> bool:
    source = source.data if isinstance(source, Tensor) else source
    return isinstance(source, np.ndarray) and np.shares_memory(array, source)


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of layers and models: subclass it, set parts in ``__init__``, write ``forward``."""

    def __init__(self):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_modules"] = OrderedDict()

    # ----- registration -------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"call Module.__init__() in {type(self).__name__}.__init__ "
                               f"before assigning {name!r}")
        if name in self._buffers and (value is None or isinstance(value, np.ndarray)):
            self._buffers[name] = value  # re-assigning a buffer keeps it a buffer
            object.__setattr__(self, name, value)
            return
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, array: np.ndarray | None) -> None:
        """Keep ``array`` in ``state_dict()`` without learning it (e.g. ``running_mean``)."""
        if array is not None and not isinstance(array, np.ndarray):
            raise TypeError(f"buffer {name!r} must be an np.ndarray or None, got {type(array).__name__}")
        object.__setattr__(self, name, array)
        self._buffers[name] = array

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or None, for an absent bias) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"param {name!r} must be a Parameter or None, got {type(param).__name__}")
        self.__setattr__(name, param)
        self._parameters[name] = param

    def add_module(self, name: str, module: "Module | None") -> None:
        self.__setattr__(name, module)
        self._modules[name] = module

    # ----- calling ------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ----- walking the tree ---------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """This module and every descendant, each once, with dotted names (``""`` for self)."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop(0)
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            stack[:0] = [((f"{name}." if name else "") + n, m)
                         for n, m in module._modules.items() if m is not None]

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, Parameter)`` pairs; a parameter shared by two layers is listed once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mname, module in modules:
            for pname, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}." if mname else "") + pname, p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for mname, module in self.named_modules(prefix):
            for bname, b in module._buffers.items():
                if b is not None:
                    yield (f"{mname}." if mname else "") + bname, b

    def buffers(self) -> Iterator[np.ndarray]:
        for _, b in self.named_buffers():
            yield b

    def apply(self, fn) -> "Module":
        """Call ``fn(m)`` on every descendant, then on self (PyTorch's order); return self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ----- modes and gradients ------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (batch statistics, dropout on) on self and all descendants."""
        mode = check_bool(mode, "mode")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> "Module":
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad`` (to None, or to zeros with ``set_to_none=False``)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad[...] = 0

    # ----- saving and loading -------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer array, by dotted name (PyTorch's keys)."""
        out = OrderedDict()
        for mname, module in self.named_modules():
            dot = f"{mname}." if mname else ""
            for pname, p in module._parameters.items():
                if p is not None:
                    out[dot + pname] = p.data.copy()
            for bname, b in module._buffers.items():
                if b is not None:
                    out[dot + bname] = b.copy()
        return out

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state_dict`` into the parameters and buffers, in place.

        ``strict=True`` raises ValueError on missing or unexpected keys; a shape
        mismatch always raises. Returns ``(missing_keys, unexpected_keys)``.
        """
        targets = OrderedDict()
        for mname, module in self.named_modules():
            dot = f"{mname}." if mname else ""
            for pname, p in module._parameters.items():
                if p is not None:
                    targets[dot + pname] = p
            for bname, b in module._buffers.items():
                if b is not None:
                    targets[dot + bname] = b
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        if strict and (missing or unexpected):
            raise ValueError(f"state_dict does not match {type(self).__name__}: "
                             f"missing keys {missing}, unexpected keys {unexpected}")
        for key, dst in targets.items():
            if key not in state_dict:
                continue
            if isinstance(dst, Tensor):      # a parameter: its new values are a new version
                dst._version += 1
                dst = dst.data
            src = state_dict[key]
            src = np.asarray(src.data if isinstance(src, Tensor) else src)
            if src.shape != dst.shape:
                raise ValueError(f"state_dict[{key!r}] has shape {src.shape}, "
                                 f"but the model expects {dst.shape}")
            np.copyto(dst, src, casting="unsafe")
        return IncompatibleKeys(missing, unexpected)

    # ----- printing -------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (layers override it)."""
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = "\n  ".join(([extra] if extra else []) + lines)
        return f"{type(self).__name__}(\n  {body}\n)"
