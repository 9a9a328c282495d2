"""Team evaluation of games whose seats are dealt to teams by chance (Hidden Roles): one player per team.

In a hidden-role game the seat does not say the team: the deal does. :class:`TeamAgent` seats one
agent per team at every seat and hands each turn to the agent of the team the seat was dealt (read
from the structured view, ``info["game_observation"]["team"]``). :func:`team_evaluation` plays
``games`` deals with such seats on the episode engine and reports each team's win rate with a Wilson
interval and the **deception measure**: how often the loyal players' votes rejected a proposed team
that held a hidden player (the hidden team *identified*), over every such vote, with its interval.
A hidden team that deceives well keeps that rate low.

>>> result = team_evaluation("hidden_roles", loyal="fixed:rules", hidden="random", games=20, seed=0)
>>> result.games, result.loyal.wins + result.hidden.wins
(20, 20)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from gym_reason.core import GAME_OBSERVATION, METRICS
from gym_reason.eval.engine import EpisodeRequest, play_episodes
from gym_reason.eval.stats import CONFIDENCE, wilson_interval

LOYAL, HIDDEN = "loyal", "hidden"
TEAM_GAMES = ("hidden_roles",)
"""The built-in games that deal teams."""


def team_game(env: Any) -> bool:
    """Whether ``env``'s game deals the loyal and hidden teams this module evaluates (its ``Game.teams``).

    >>> import gym_reason
    >>> team_game(gym_reason.make("hidden_roles")), team_game(gym_reason.make("kuhn_poker"))
    (True, False)
    """
    return set(getattr(getattr(env, "game", None), "teams", ())) == {LOYAL, HIDDEN}


class TeamAgent:
    """Plays every seat: each turn goes to the agent of the team the seat was dealt.

    ``agents`` maps a team name (``view["team"]``) to an agent; a team without an agent is an error
    that names the teams given.
    """

    def __init__(self, agents: Mapping[str, Any], name: str = "teams") -> None:
        self.agents = dict(agents)
        self.name = name

    def act(self, batch: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        answers: list[str | None] = [None] * len(batch)
        by_team: dict[str, list[int]] = {}
        for k, (_obs, info) in enumerate(batch):
            view = info.get(GAME_OBSERVATION)
            if view is None or "team" not in view:
                raise ValueError(
                    "TeamAgent needs info['game_observation']['team'] (a game that deals teams, e.g. hidden_roles)"
                )
            by_team.setdefault(view["team"], []).append(k)
        for team, rows in by_team.items():
            if team not in self.agents:
                raise ValueError(f"no agent for team {team!r}; TeamAgent has agents for {sorted(self.agents)}")
            for k, answer in zip(rows, self.agents[team].act([batch[k] for k in rows]), strict=True):
                answers[k] = answer
        return answers  # type: ignore[return-value]


class TeamRate(BaseModel):
    """A count out of a number of trials, its rate and Wilson interval."""

    wins: int
    games: int
    rate: float
    interval: tuple[float, float]


class TeamResult(BaseModel):
    env_id: str
    env_kwargs: dict[str, Any]
    loyal_agent: str
    hidden_agent: str
    games: int
    """Deals played to their end (failed episodes are counted apart)."""
    failed: int
    loyal: TeamRate
    """The loyal team's wins."""
    hidden: TeamRate
    """The hidden team's wins."""
    identified: TeamRate
    """Loyal votes that rejected a team holding a hidden player, out of loyal votes on such teams
    (the deception measure: lower means the hidden team deceived better)."""
    invalid_moves: int
    confidence: float


def _rate(wins: int, trials: int, confidence: float) -> TeamRate:
    return TeamRate(
        wins=wins,
        games=trials,
        rate=wins / trials if trials else 0.0,
        interval=wilson_interval(wins, trials, confidence),
    )


def team_evaluation(
    env_id: str,
    *,
    loyal: str,
    hidden: str,
    games: int,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    env_kwargs: Mapping[str, Any] | None = None,
) -> TeamResult:
    """Play ``games`` deals (seeds ``seed`` .. ``seed + games - 1``) with agent spec ``loyal`` on the loyal
    team and ``hidden`` on the hidden team; see the module docstring for what is reported."""
    import gym_reason
    from gym_reason.agents import make_agent

    if games < 1:
        raise ValueError(f"games must be at least 1, got {games}")
    kwargs = dict(env_kwargs or {})
    env = gym_reason.make(env_id, **kwargs)
    if not team_game(env):
        raise ValueError(
            f"team evaluation needs a game that deals teams ({', '.join(TEAM_GAMES)}); {env_id} has none. "
            f"A head-to-head game is evaluated by evaluate() (gym-reason eval without --teams)"
        )
    team_agent = TeamAgent(
        {LOYAL: make_agent(loyal, env, seed=seed), HIDDEN: make_agent(hidden, env, seed=seed + 1)},
        name=f"{loyal}|{hidden}",
    )
    n = len(env.possible_agents)
    buffer: list[dict[str, float]] = []  # the final metrics of the episode being finished
    per_episode: list[tuple[Any, list[dict[str, float]]]] = []

    def on_step(_agent: str, _obs: str, info: dict[str, Any], action: str | None) -> None:
        if action is None:
            buffer.append(info.get(METRICS) or {})

    def on_episode(episode: Any) -> None:
        # The engine shows an episode's final views and then reports it, before any other episode's.
        per_episode.append((episode, buffer[:]))
        buffer.clear()

    requests = [EpisodeRequest(env_id, seed=seed + g, players=[team_agent] * n) for g in range(games)]
    play_episodes(requests, make_env=lambda: gym_reason.make(env_id, **kwargs), on_step=on_step, on_episode=on_episode)
    loyal_wins = played = failed = invalid = votes = rejections = 0
    for episode, finals in per_episode:
        if episode.failed or len(finals) != n:
            failed += 1
            continue
        played += 1
        invalid += sum(episode.invalid_moves)
        loyal_seats = [k for k, m in enumerate(finals) if not m.get("hidden_team")]
        if not loyal_seats:
            raise ValueError(f"{env_id} reports no loyal seat in its final metrics (metrics['hidden_team'])")
        loyal_wins += episode.rewards[loyal_seats[0]] > 0
        for k in loyal_seats:
            votes += int(finals[k].get("votes_on_hidden_teams", 0))
            rejections += int(finals[k].get("rejected_hidden_teams", 0))
    return TeamResult(
        env_id=env_id,
        env_kwargs=kwargs,
        loyal_agent=loyal,
        hidden_agent=hidden,
        games=played,
        failed=failed,
        loyal=_rate(loyal_wins, played, confidence),
        hidden=_rate(played - loyal_wins, played, confidence),
        identified=_rate(rejections, votes, confidence),
        invalid_moves=invalid,
        confidence=confidence,
    )


def team_table(results: Sequence[TeamResult]) -> str:
    """A Markdown table of team evaluations: each team's win rate and the deception measure, with intervals."""

    def cell(rate: TeamRate) -> str:
        lo, hi = rate.interval
        return f"{rate.rate:.3f} [{lo:.3f}, {hi:.3f}] ({rate.wins}/{rate.games})"

    lines = [
        "| loyal team | hidden team | games | loyal wins | hidden wins | hidden team identified by loyal votes |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.loyal_agent} | {r.hidden_agent} | {r.games} | {cell(r.loyal)} | {cell(r.hidden)} | {cell(r.identified)} |"
        )
    return "\n".join(lines)
