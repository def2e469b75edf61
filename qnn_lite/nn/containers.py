"""`Sequential`: layers applied one after another, indexable like a list."""
from __future__ import annotations

from collections import OrderedDict

from .module import Module


class Sequential(Module):
    """``Sequential(m0, m1, ...)`` computes ``m1(m0(x))...``; children are named "0", "1", ...

    Also accepts one ``OrderedDict`` of named modules. Supports ``len``, iteration,
    ``seq[i]`` (a module) and ``seq[a:b]`` (a new Sequential sharing the modules).
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential takes Modules, got {type(m).__name__} for entry {name!r}")
            self.add_module(name, m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def append(self, module: Module) -> "Sequential":
        if not isinstance(module, Module):
            raise TypeError(f"module must be a Module, got {type(module).__name__}")
        self.add_module(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        mods = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        if not isinstance(index, int) or not -len(mods) <= index < len(mods):
            raise IndexError(f"index must be an int in [{-len(mods)}, {len(mods)}), got {index!r}")
        return mods[index]
