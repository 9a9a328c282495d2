"""The built-in games, one folder each (rules, text template, fixed bots, its ``register`` line).

:func:`import_games` imports every game folder here, so a new folder is registered
with no list to edit. The shared contracts are :mod:`gym_reason.envs.games.base`
(rules, template) and :mod:`gym_reason.envs.games.bots` (fixed bots).
"""

from __future__ import annotations

import importlib
import pkgutil


def import_games() -> list[str]:
    """Import every game folder (sub-package) of this package, which registers its env; returns their names.

    >>> "kuhn_poker" in import_games()
    True
    """
    names = [m.name for m in pkgutil.iter_modules(__path__) if m.ispkg]
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return names
