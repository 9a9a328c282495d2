"""Terminal tables for evaluation results (rich), kept apart from the numbers they show."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from gym_reason.eval.agent_policy import ExploitabilityResult
from gym_reason.eval.evaluation import TASK, EvalResult, Rate, Summary


def _rate(rate: Rate) -> str:
    return f"{rate.rate:6.1%} [{rate.ci.low:.1%}, {rate.ci.high:.1%}]"


def _row(label: str, seat: str, s: Summary) -> list[str]:
    return [
        escape(label),  # an agent spec may hold "[...]", which rich would read as a style
        seat,
        str(s.games),
        _rate(s.win),
        f"{s.loss.rate:.1%}",
        f"{s.draw.rate:.1%}",
        f"{s.forfeit.rate:.1%}",
        f"{s.mean_reward:+.3f} [{s.reward_ci.low:+.3f}, {s.reward_ci.high:+.3f}]",
        f"{s.invalid_moves.rate:.1%}",
        f"{s.mean_turns:.2f}",
        "-" if s.tokens_per_turn is None else f"{s.tokens_per_turn:.1f}",
        str(s.failed),
    ]


def eval_table(result: EvalResult) -> Table:
    """One row per opponent (all seats, paired), then one per seat the agent sat in; a task's one row
    reads success and mean return."""
    p = result.provenance
    pct = f"{p.confidence:.0%}"
    task = [r.opponent for r in result.results] == [TASK]
    table = Table(
        title=escape(f"{p.agent} on {p.env_id}: {p.games_per_opponent} games per opponent, seed {p.seed}")
        + (", paired seeds" if p.paired else "")
    )
    for column in (
        "opponent",
        "seat",
        "games",
        f"{'success' if task else 'win'} ({pct} CI)",
        "loss",
        "draw",
        "forfeit",
        f"mean {'return' if task else 'reward'} ({pct} CI)",
        "invalid",
        "turns",
        "tok/turn",
        "failed",
    ):
        table.add_column(column)
    for r in result.results:
        table.add_row(*_row(r.opponent, "all", r.overall))
        for seat, summary in r.by_seat.items() if not task else ():
            table.add_row(*_row("", seat, summary))
    return table


def exploitability_lines(result: ExploitabilityResult) -> list[str]:
    br = ", ".join(f"seat {p}: {v:+.6f}" for p, v in enumerate(result.best_response_values))
    own = ", ".join(f"seat {p}: {v:+.6f}" for p, v in enumerate(result.policy_values))
    return [
        f"{result.agent} on {result.env_id} ({result.information_states} information states)",
        f"  exploitability {result.exploitability:.9f}   NashConv {result.nash_conv:.9f}",
        f"  best response wins   {br}",
        f"  agent vs itself      {own}",
    ]
