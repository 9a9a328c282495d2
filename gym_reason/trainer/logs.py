"""The run folder's JSON-lines logs (``metrics.jsonl``, ``league.jsonl``): what a resumed run keeps of them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def keep_records(path: Path, keep: Callable[[dict[str, Any]], bool]) -> None:
    """Rewrite the log at ``path`` with only the records ``keep`` accepts (the rest will be logged again);
    a line that does not parse, cut by ``kill -9``, goes too. A missing file stays missing."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if keep(record):
            kept.append(line)
    path.write_text("".join(line + "\n" for line in kept))
