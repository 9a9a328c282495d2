"""The import graph follows DESIGN.md's layering: no module of gym_reason imports a layer above its own.

Every ``import`` and ``from ... import`` (absolute or relative) counts, at module level and inside
functions alike: a function-level import is still a dependency, it only hides a cycle until run time.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gym_reason"

LAYERS = [
    # Bottom to top. A module may import modules of its own layer and of the layers below it, never above.
    ("core", "registry", "grammar"),  # the env contracts, the registry of env ids, action grammars' engine
    ("sandboxes",),  # running untrusted code, which the code envs need
    ("envs",),  # envs and games (rules, templates, bots): they see only the layers above this line
    ("policy",),  # models, tokenizers, prompts, decoding, scoring, checkpoint I/O
    ("agents",),  # players behind one act() protocol: random, fixed bots, LM (a policy), OpenAI, human
    ("checker",),  # conformance checks of any env, played by the random agent
    ("eval",),  # matches, exploitability, ratings, leaderboards: of any agent
    ("trainer",),  # the self-play loop; it evaluates its policy with eval/
    ("cli", "progress"),  # the command line and its progress displays: may import everything
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}

ROOT_IMPORTS = {"registry", "envs"}
"""What ``gym_reason/__init__.py`` may import: ``import gym_reason`` gives ``make``/``register`` and the built-in envs."""

ROOT_LAYER = "envs"
"""The layer ``import gym_reason`` (or ``from gym_reason import make``) counts as: it runs the envs' registrations."""


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str, package: Path) -> bool:
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    base = package / relative
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported_modules(path: Path, package: Path) -> list[tuple[int, str]]:
    """``(line, gym_reason module)`` for every import of the package in ``path``, anywhere in the file."""
    name = _module_name(path, package)
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved from this module's package
                parts = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                target = f"{base}.{alias.name}"
                found.append((node.lineno, target if _is_module(target, package) else base))
    return sorted({(line, target) for line, target in found if target.split(".")[0] == package.name})


def _layer(module: str) -> str:
    parts = module.split(".")
    return ROOT_LAYER if len(parts) == 1 else parts[1]


def layering_violations(package: Path = PACKAGE) -> list[str]:
    """``file:line: ...`` for every import of a higher layer (and every module no layer holds)."""
    problems = []
    for path in sorted(package.rglob("*.py")):
        module = _module_name(path, package)
        where = path.relative_to(package.parent)
        if module == package.name:
            for line, target in imported_modules(path, package):
                if len(target.split(".")) == 1 or _layer(target) not in ROOT_IMPORTS:
                    problems.append(
                        f"{where}:{line}: the package root imports {target} (allowed: {sorted(ROOT_IMPORTS)})"
                    )
            continue
        layer = _layer(module)
        if layer not in RANK:
            problems.append(
                f"{where}:1: {module} belongs to no layer; add {layer!r} to LAYERS in {Path(__file__).name}"
            )
            continue
        for line, target in imported_modules(path, package):
            above = _layer(target)
            if above not in RANK:
                problems.append(f"{where}:{line}: {module} imports {target}, which belongs to no layer")
            elif RANK[above] > RANK[layer]:
                problems.append(f"{where}:{line}: {module} ({layer}) imports {target} ({above}), a layer above it")
    return problems


def test_no_module_imports_a_layer_above_its_own():
    problems = layering_violations()
    assert not problems, "imports against the layering (tests/test_layering.py LAYERS):\n" + "\n".join(problems)


def test_upward_imports_are_found_in_functions_and_relative_imports(tmp_path):
    """The check itself can fail: a function-level import, a relative one and an unplaced module are all reported."""
    package = tmp_path / "gym_reason"
    files = {
        "__init__.py": "from gym_reason.registry import make\nimport gym_reason.envs\n",
        "registry.py": "",
        "core.py": "",
        "envs/__init__.py": "from . import games\n",
        "envs/games.py": "def bots():\n    from ..agents import base\n",
        "agents/__init__.py": "",
        "agents/base.py": "import gym_reason.core\n",
        "agents/lm.py": "def resolve():\n    from gym_reason.trainer.loop import latest_checkpoint\n",
        "trainer/__init__.py": "",
        "trainer/loop.py": "from gym_reason.agents import base\nimport gym_reason\n",
        "engine.py": "",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    problems = layering_violations(package)
    assert problems == [
        "gym_reason/agents/lm.py:2: gym_reason.agents.lm (agents) imports gym_reason.trainer.loop (trainer), a layer above it",
        "gym_reason/engine.py:1: gym_reason.engine belongs to no layer; add 'engine' to LAYERS in test_layering.py",
        "gym_reason/envs/games.py:2: gym_reason.envs.games (envs) imports gym_reason.agents.base (agents), a layer above it",
    ]
    (package / "__init__.py").write_text("from gym_reason.registry import make\nfrom gym_reason import cli\n")
    (package / "cli.py").write_text("")
    assert "gym_reason/__init__.py:2: the package root imports gym_reason.cli" in layering_violations(package)[0]


def test_importing_the_agents_loads_neither_the_trainer_nor_torch():
    """Playing needs no training loop; the policy layer (torch) loads when an LM agent is made."""
    code = (
        "import sys, gym_reason.agents\n"
        "print(sorted(m for m in sys.modules if m.startswith(('gym_reason.trainer', 'gym_reason.eval', 'torch'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout
