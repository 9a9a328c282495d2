"""The ``gym-reason`` command: a thin layer over library functions.

gym-reason list
gym-reason play --game kuhn_poker --players human,fixed:nash
gym-reason play --game tic_tac_toe --players fixed:minimax,random --games 100 --seed 0
gym-reason check gym_reason/KuhnPoker-v0      (or --all)
gym-reason bench-env code_interpreter         (the env-cost card: p50/p99 of reset/step, episodes/s, blocking calls)
gym-reason selfplay --game kuhn_poker         (--config FILE, --resume RUN_DIR, --<field> VALUE)
gym-reason train --env code_interpreter       (the same loop, config and checkpoints; tasks and games mixed)
gym-reason eval --agent runs/<run-id> --game kuhn_poker --opponents random,fixed:nash --games 512
gym-reason exploitability --agent runs/<run-id> --game kuhn_poker
gym-reason tournament --game kuhn_poker --pool random,fixed:nash,runs/a --games 256
gym-reason leaderboard --game kuhn_poker      (writes leaderboards/kuhn_poker.{json,md,png}; --force to replace)
gym-reason --import my_games check my_games/Nim-v0   (or: gym-reason check my_games:my_games/Nim-v0)

Errors: every usage or input error (a bad flag, value, env id, agent spec, config file, model
path) is printed to stderr as one line ``error: <what is wrong, the valid options, the fix>`` and
the command exits with status 2 (argparse's own status for usage errors). Ctrl-C exits with 130.
Progress: ``selfplay`` shows a live bar on a terminal (one compact line every ~10 s when piped, on
stdout); long ``eval``/``tournament``/``leaderboard`` runs show games done, agent requests in
flight, tokens/s and the ETA on stderr, so their stdout holds only the results.
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import importlib
import json
import os
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

import gym_reason
from gym_reason import registry
from gym_reason.agents.base import parse_value
from gym_reason.core import ANSWER_FORMATS, INVALID_MOVE_RULES, derive_seed

USAGE_ERROR = 2
"""The exit status of every usage or input error (argparse's own for usage errors)."""
INTERRUPTED = 130
"""The exit status after Ctrl-C (128 + SIGINT), as shells report it."""


class CliError(Exception):
    """A usage or input error: :func:`main` prints it as one line ``error: ...`` on stderr and exits 2."""


def _one_line(message: object) -> str:
    """A message on one line (a parser's multi-line context, a traceback-like detail, joined)."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def _message(error: BaseException) -> str:
    """What an exception says (a KeyError's message without the quotes ``str`` adds)."""
    return str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)


def _print_error(message: object) -> int:
    print(f"error: {_one_line(message)}", file=sys.stderr, flush=True)
    return USAGE_ERROR


def _did_you_mean(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


class _ArgumentParser(argparse.ArgumentParser):
    """argparse with the CLI's error convention: one line ``error: ...`` on stderr, exit status 2,
    and a did-you-mean for a mistyped subcommand or choice (Python 3.11's argparse suggests nothing)."""

    argv: Sequence[str] = ()
    """The command line being parsed (set by :func:`main`): a missing required flag is often a mistyped one."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if message.startswith("the following arguments are required"):
            flags = [s for action in self._actions for s in action.option_strings]
            typos = [a for a in _ArgumentParser.argv if a.startswith("--") and a != "--"
                     and not any(f.startswith(a.split("=", 1)[0]) for f in flags)]  # fmt: skip
            if typos:
                self.unknown_flags(typos)
        choice = re.search(r"invalid choice: '(.*?)' \(choose from (.*)\)", message)
        if choice:
            options = re.findall(r"'([^']*)'", choice[2])
            message += _did_you_mean(choice[1], options)
        _print_error(f"{message} (`{self.prog} --help` lists the options)")
        raise SystemExit(USAGE_ERROR)

    def unknown_flags(self, extras: Sequence[str]) -> None:
        """Report flags no parser took, each with the closest flags of this (sub)parser."""
        flags = [s for action in self._actions for s in action.option_strings if action.help != argparse.SUPPRESS]
        parts = []
        for k, extra in enumerate(extras):
            if extra.startswith("-"):
                flag = extra.split("=", 1)[0]
                parts.append(f"unknown flag {flag}{_did_you_mean(flag, flags)}")
            elif k == 0 or not extras[k - 1].startswith("-") or "=" in extras[k - 1]:  # not an unknown flag's value
                parts.append(f"unexpected argument {extra!r}")
        _print_error(f"{'; '.join(parts)} (`{self.prog} --help` lists the flags)")
        raise SystemExit(USAGE_ERROR)


def _count(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum`` (a count of games, episodes, ...)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = "count"
    return parse


def _half_open(high: float) -> Callable[[str], float]:
    """An argparse type: a number strictly between 0 and ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number between 0 and {high}, e.g. 0.1, got {text!r}"
            ) from None
        if not 0.0 < value < high:
            raise argparse.ArgumentTypeError(f"must be between 0 and {high} (exclusive), e.g. 0.1, got {text}")
        return value

    return parse


def _probability(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1 (a confidence level)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, e.g. 0.95, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), e.g. 0.95, got {text}")
    return value


def _import_modules(modules: Sequence[str]) -> None:
    """``--import MODULE``: import the user's modules (which register their envs) before the command runs.

    The working directory is searched too (appended to ``sys.path``, as ``python -m`` does first), so a
    ``my_games.py`` next to the user works from the ``gym-reason`` script as well."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise CliError(
                f"--import {module}: cannot import it ({exc}); give a module importable from the current "
                "directory or PYTHONPATH, e.g. --import my_games for ./my_games.py"
            ) from None


def _parse_env_args(pairs: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as int, float, true/false, JSON (a value that starts with ``{`` or
    ``[``: ``weights={"success": 2}``) or left as text."""
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--env-arg {pair!r} must look like key=value (e.g. --env-arg num_hands=3)")
        if value.startswith(("{", "[")):
            try:
                kwargs[key] = json.loads(value)
            except json.JSONDecodeError as error:
                raise CliError(
                    f"--env-arg {pair!r}: a value that starts with {value[0]!r} is read as JSON, and this is not JSON "
                    f"({error.msg} at character {error.pos}); e.g. --env-arg 'weights={{\"success\": 2}}'"
                ) from None
        else:
            kwargs[key] = parse_value(value)
    return kwargs


def _env_arg_flags(kwargs: dict[str, Any]) -> str:
    """``kwargs`` as the ``--env-arg`` flags that rebuild them (shell-quoted; numbers, booleans and nested values as
    JSON), with a leading space, or ``""``.

    >>> print(_env_arg_flags({"board": True, "weights": {"success": 2}}))
     --env-arg board=true --env-arg 'weights={"success": 2}'
    """
    flags = []
    for key, value in kwargs.items():
        text = value if isinstance(value, str) else json.dumps(value)
        flags.append(f" --env-arg {shlex.quote(f'{key}={text}')}")
    return "".join(flags)


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    table = Table(title="gym-reason environments")
    for column in ("id", "alias", "kind", "players", "description"):
        table.add_column(column)
    for spec in registry.list_envs():  # escaped: rich would read "[textarena]" in a description as a style
        table.add_row(*map(escape, (spec.id, spec.alias or "", spec.kind, str(spec.players), spec.description)))
    for namespace, description in registry.namespaces().items():
        table.add_row(*map(escape, (f"{namespace}/<id>", "", "game", "2+", description)))
    console.print(table)
    return 0


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    """Exit status 1 when an env fails a check, else 0. An env that cannot run on this machine (its sandbox,
    e.g. bubblewrap, is missing) is listed as ``unavailable: <how to install it>``: it was not checked, so it
    does not count as a pass, and it is not a failure either."""
    from gym_reason.checker import FAILED, NOT_APPLICABLE, OK, check_env

    if args.all == bool(args.env_id):
        raise CliError("give one env id or --all (e.g. gym-reason check gym_reason/KuhnPoker-v0)")
    if args.exclude and not args.all:
        raise CliError("--exclude goes with --all (e.g. gym-reason check --all --exclude 'gym_reason/MiniWoB-*')")
    ids = [spec.id for spec in registry.list_envs()] if args.all else [_resolve_id(args.env_id)]
    for pattern in args.exclude:
        kept = [env_id for env_id in ids if not fnmatch.fnmatchcase(env_id, pattern)]
        if len(kept) == len(ids):
            raise CliError(
                f"--exclude {pattern!r} matches no registered env; ids look like gym_reason/KuhnPoker-v0 "
                f"(shell-style patterns: gym_reason/MiniWoB-*); see gym-reason list"
            )
        ids = kept
    marks = {OK: "[green]ok[/]", FAILED: "[red]FAIL[/]", NOT_APPLICABLE: "[yellow]n/a[/]"}
    failed, unavailable = 0, []
    for env_id in ids:
        report = check_env(env_id, seed=args.seed, episodes=args.episodes, env_kwargs=_parse_env_args(args.env_arg))
        if report.status == "UNAVAILABLE":
            line = f"[bold yellow]{escape(report.env_id)}: unavailable: {escape(report.unavailable)}[/]"
            console.print(line, soft_wrap=True)
            unavailable.append(report.unavailable)
            continue
        style = "green" if report.ok else "red"
        console.print(f"[bold {style}]{escape(report.env_id)}: {report.status}[/]")
        for r in report.results:
            detail = f": {escape(r.detail)}" if r.detail else ""
            console.print(f"  [{marks[r.status]}] {escape(r.name)}{detail}", soft_wrap=True)  # one line per check
        if report.unavailable is not None:  # the sandbox went missing after a check had already failed
            console.print(f"  [yellow]unavailable[/]: {escape(report.unavailable)}", soft_wrap=True)
        failed += not report.ok
    if len(ids) > 1:
        summary = f"{len(ids) - failed - len(unavailable)} of {len(ids)} envs pass"
        if unavailable:
            summary += f", {len(unavailable)} unavailable ({'; '.join(dict.fromkeys(unavailable))})"
        console.print(escape(summary), soft_wrap=True)
    return 1 if failed else 0


def _env_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The env options the user gave (envs outside gym-reason's games, textarena/..., take other arguments)."""
    options = {"answer_format": args.answer_format, "invalid_move": args.invalid_move, "max_turns": args.max_turns}
    return {**{k: v for k, v in options.items() if v is not None}, **_parse_env_args(args.env_arg)}


def _resolve_id(env_id: str) -> str:
    """The full id of an id, alias or ``module:id`` (importing the module), or a CliError saying why not."""
    try:
        return registry.resolve_id(env_id)
    except (KeyError, ValueError) as exc:
        raise CliError(_message(exc)) from None


def _make_env(game: str, kwargs: dict[str, Any]) -> Any:
    try:
        return gym_reason.make(game, **kwargs)
    except (KeyError, TypeError, ValueError) as exc:
        raise CliError(_message(exc)) from None


def cmd_play(args: argparse.Namespace, console: Console) -> int:
    from gym_reason.agents import make_agent
    from gym_reason.eval.evaluation import play_games

    env = _make_env(args.game, _env_kwargs(args))
    seats = list(env.possible_agents) if hasattr(env, "agent_iter") else ["agent"]
    specs = [s.strip() for s in args.players.split(",")]
    if len(specs) != len(seats):
        example = "human,random" if len(seats) == 2 else ",".join(["random"] * len(seats))
        raise CliError(
            f"--players got {len(specs)} agent(s) {specs} but {args.game} has {len(seats)} seat{'s' * (len(seats) > 1)} "
            f"{seats}; "
            f"give one per seat, e.g. --players {example}"
        )
    try:
        agents = [make_agent(spec, env, seed=derive_seed(args.seed, i, 1)) for i, spec in enumerate(specs)]
    except AGENT_ERRORS as exc:
        raise CliError(_message(exc)) from None
    humans = [i for i, s in enumerate(specs) if s == "human"]
    show = args.show or bool(humans) or args.games == 1
    seat_of = {agent: k for k, agent in enumerate(seats)}

    def on_step(agent: str, obs: str, info: dict[str, Any], action: str | None) -> None:
        if humans:
            if action is None and seat_of[agent] in humans:
                print(f"\n{obs}", flush=True)  # the human's final view of the game
            elif action is not None and seat_of[agent] not in humans:
                print(f"{agent} ({specs[seat_of[agent]]}) answers: {action}", flush=True)
        elif show:
            print(f"--- {agent}\n{obs}\n>>> {action if action is not None else '(episode over)'}", flush=True)

    labels = [f"{spec} (seat {i})" if specs.count(spec) > 1 else spec for i, spec in enumerate(specs)]
    if args.alternate_seats:
        labels = specs
    try:
        summaries = play_games(
            env, agents, labels, args.games, seed=args.seed, alternate_seats=args.alternate_seats,
            on_step=on_step if show else None,
        )  # fmt: skip
    except (EOFError, *AGENT_ERRORS) as exc:  # stdin closed under a human; a server refusing its key, ...
        raise CliError(_message(exc)) from None
    finally:
        env.close()
    table = Table(title=escape(f"{args.game}: {args.games} game(s), seed {args.seed}"))
    columns = ["player", "games", "win", "loss", "draw", "forfeit", "truncated", "invalid moves", "failed"]
    for column in [*columns, "mean reward (95% CI)"]:
        table.add_column(column)
    for label, summary in summaries.items():
        low, high = summary.reward_ci.low, summary.reward_ci.high
        reward = f"{summary.mean_reward:+.3f}"
        ci = f"{reward} [{low:+.3f}, {high:+.3f}]" if summary.games > 1 else reward
        outcomes = [str(getattr(summary, o).count) for o in ("win", "loss", "draw", "forfeit", "truncated")]
        invalid = str(summary.invalid_moves.count)
        table.add_row(*map(escape, (label, str(summary.games), *outcomes, invalid, str(summary.failed), ci)))
    console.print(table)
    return 0


def _specs(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def _slug(text: str) -> str:
    """A file-name-safe form of an agent spec (``runs/2026-x`` -> ``runs_2026-x``)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("_.") or "agent"


AGENT_ERRORS = (ValueError, KeyError, FileNotFoundError, ConnectionError, PermissionError)
"""What a bad agent spec, model path or server raises: reported as ``error: ...``, exit status 2."""


def _fail(console: Console, error: BaseException) -> int:
    """Report ``error`` by the CLI's convention (one line on stderr) and return the usage-error status."""
    return _print_error(_message(error))


def _games_progress(label: str) -> Any:
    """The games display of eval/tournament/leaderboard, on stderr (stdout holds the results)."""
    from gym_reason.progress import GamesProgress

    return GamesProgress(Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160), label)


def cmd_eval(args: argparse.Namespace, console: Console) -> int:
    from gym_reason.agents import strongest_fixed_agent
    from gym_reason.eval.evaluation import evaluate
    from gym_reason.eval.report import eval_table

    kwargs = _env_kwargs(args)
    env = _make_env(args.game, kwargs)
    task = not hasattr(env, "agent_iter")
    env.close()
    if args.opponents:
        opponents = _specs(args.opponents)
    elif task:
        opponents = []  # a task is played alone: success rate and mean return on its held-out split
    else:
        strongest = strongest_fixed_agent(env.game.name) if hasattr(env, "game") else None
        opponents = ["random"] + ([strongest] if strongest else [])
    if args.teams:
        return _eval_teams(args, console, opponents, kwargs)
    if args.until_decided:
        return _eval_until_decided(args, console, opponents, kwargs)
    try:
        with _games_progress("eval") as progress:
            result = evaluate(
                args.agent, args.game, opponents, args.games, args.seed, env_kwargs=kwargs, paired=args.paired,
                concurrency=args.concurrency, ci=args.ci, confidence=args.confidence, transcripts=args.transcripts,
                command=["gym-reason", *sys.argv[1:]], progress=progress,
            )  # fmt: skip
    except AGENT_ERRORS as error:
        return _fail(console, error)
    console.print(eval_table(result))
    for note in result.notes:
        console.print(f"note: {escape(note)}")
    out = args.out or f"evals/{_slug(args.game)}/{_slug(args.agent)}_seed{args.seed}.json"
    console.print(f"Results: {escape(str(result.save(out)))}")
    if args.transcripts:
        console.print(f"Transcripts: {escape(str(args.transcripts))}")
    return 0


def _eval_until_decided(args: argparse.Namespace, console: Console, opponents: list[str], kwargs: dict) -> int:
    """``eval --until-decided``: one sequential paired test per opponent (:mod:`gym_reason.eval.sequential`)."""
    import json

    from gym_reason.eval.sequential import play_until_decided

    if not opponents:
        return _print_error("--until-decided needs a game with opponents (a head-to-head); this env is a task")
    results = []
    for opponent in opponents:
        try:
            result = play_until_decided(
                args.agent, opponent, args.game, delta=args.delta, alpha=args.alpha, beta=args.beta,
                max_games=args.games, seed=args.seed, env_kwargs=kwargs, concurrency=args.concurrency,
            )  # fmt: skip
        except AGENT_ERRORS as error:
            return _fail(console, error)
        console.print(escape(result.line()))
        results.append(result.model_dump(mode="json"))
    out = Path(args.out or f"evals/{_slug(args.game)}/{_slug(args.agent)}_seed{args.seed}_sequential.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"Results: {escape(str(out))}")
    return 0


def _eval_teams(args: argparse.Namespace, console: Console, opponents: list[str], kwargs: dict) -> int:
    """``eval --teams``: a game that deals teams (Hidden Roles), the agent on each team against each opponent on
    the other (:mod:`gym_reason.eval.teams`): each team's win rate and the deception measure, with intervals."""
    import json

    from gym_reason.eval.teams import TeamRate, team_evaluation

    if args.until_decided:
        return _print_error("--teams and --until-decided are separate evaluations; pass one of them")
    if not opponents:
        return _print_error("--teams needs a game that deals teams, e.g. hidden_roles; this env is a task")
    pairings = list(dict.fromkeys(p for o in opponents for p in ((args.agent, o), (o, args.agent))))  # self-play once
    results = []
    try:
        for loyal, hidden in pairings:
            result = team_evaluation(args.game, loyal=loyal, hidden=hidden, games=args.games, seed=args.seed,
                                     confidence=args.confidence, env_kwargs=kwargs)  # fmt: skip
            results.append(result)
    except AGENT_ERRORS as error:
        return _fail(console, error)
    level = f"{args.confidence:.0%}"
    title = f"{args.game}: {args.games} deal(s) per pairing, seed {args.seed}, {level} Wilson intervals"
    table = Table(title=escape(title))
    for column in ("loyal team", "hidden team", "deals", "loyal wins", "hidden wins", "hidden team identified",
                   "invalid moves", "failed"):  # fmt: skip
        table.add_column(column)

    def cell(rate: TeamRate) -> str:
        return f"{rate.rate:.3f} [{rate.interval[0]:.3f}, {rate.interval[1]:.3f}] ({rate.wins}/{rate.games})"

    for r in results:
        row = (r.loyal_agent, r.hidden_agent, str(r.games), cell(r.loyal), cell(r.hidden), cell(r.identified),
               str(r.invalid_moves), str(r.failed))  # fmt: skip
        table.add_row(*map(escape, row))
    console.print(table)
    console.print(
        "hidden team identified: loyal votes that rejected a proposed team holding a hidden player, out of loyal "
        "votes on such teams (the deception measure: lower means the hidden team deceived better)"
    )
    out = Path(args.out or f"evals/{_slug(args.game)}/{_slug(args.agent)}_seed{args.seed}_teams.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([r.model_dump(mode="json") for r in results], indent=2) + "\n")
    console.print(f"Results: {escape(str(out))}")
    return 0


def cmd_exploitability(args: argparse.Namespace, console: Console) -> int:
    from gym_reason.agents import make_agent
    from gym_reason.eval.agent_policy import agent_exploitability
    from gym_reason.eval.report import exploitability_lines

    env = _make_env(args.game, _env_kwargs(args))
    try:
        agent = make_agent(args.agent, env, seed=args.seed)
        result = agent_exploitability(agent, env, agent_name=args.agent)
    except AGENT_ERRORS as error:
        return _fail(console, error)
    for line in exploitability_lines(result):
        console.print(escape(line))
    if args.out:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(result.model_dump_json(indent=2) + "\n")
        console.print(f"Results: {escape(str(path))}")
    return 0


def _run_tournament(args: argparse.Namespace, console: Console, pool: list[str], directory: str) -> int:
    from rich.markdown import Markdown

    from gym_reason.eval.leaderboard import render_markdown, write_leaderboard
    from gym_reason.eval.tournament import tournament

    kwargs = _env_kwargs(args)
    _make_env(args.game, kwargs)  # a clear error for an unknown game before any agent loads
    name = _slug(args.game)
    existing = [Path(directory, f"{name}{ext}") for ext in (".json", ".md", ".png")]
    existing = [str(path) for path in existing if path.exists()]
    if existing and not args.force:
        raise CliError(
            f"{', '.join(existing)} already exist(s) (leaderboards/ holds the committed boards); pass --force to "
            f"replace them, or --dir DIR to write the board elsewhere"
        )
    try:
        with _games_progress(args.command) as progress:
            board = tournament(
                args.game, pool, args.games, args.seed, env_kwargs=kwargs, paired=args.paired,
                concurrency=args.concurrency, name=name, command=["gym-reason", *sys.argv[1:]], progress=progress,
            )  # fmt: skip
    except AGENT_ERRORS as error:
        return _fail(console, error)
    console.print(Markdown(render_markdown(board)))
    paths = write_leaderboard(board, directory)
    console.print("Written: " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_tournament(args: argparse.Namespace, console: Console) -> int:
    pool = _specs(args.pool)
    return _run_tournament(args, console, pool, args.dir)


def cmd_leaderboard(args: argparse.Namespace, console: Console) -> int:
    from gym_reason.eval.tournament import default_pool

    env = _make_env(args.game, _env_kwargs(args))
    pool = _specs(args.pool) if args.pool else default_pool(env, _slug(args.game), args.agents_dir)
    pool += [spec for spec in _specs(args.add or "") if spec not in pool]
    return _run_tournament(args, console, pool, args.dir)


def cmd_selfplay(args: argparse.Namespace, console: Console) -> int:
    from gym_reason.trainer.config import FIELDS, ConfigError, load_config
    from gym_reason.trainer.loop import resume_config, train

    overrides = {name: getattr(args, name) for name in FIELDS if getattr(args, name, None) is not None}
    if args.game is not None:
        overrides["games"] = args.game
    try:
        if args.resume:
            if args.config:
                raise ConfigError("--resume continues a run with its own config.yaml; drop --config")
            config = resume_config(args.resume, overrides)
        else:
            config = load_config(args.config, overrides)
    except (ConfigError, FileNotFoundError) as error:
        return _fail(console, error)
    from gym_reason.progress import SelfPlayProgress

    steps: list[int] = []
    progress = SelfPlayProgress(console, config.steps, registry.resolve_id(config.games[0]), enabled=config.progress)

    def on_step(step: int, metrics: dict[str, Any]) -> None:
        steps.append(step)
        progress.update(step, metrics)

    with progress:
        try:
            result = train(config, resume=args.resume, on_step=on_step)
        except (ValueError, KeyError, TypeError, OSError) as error:
            if steps:  # after the start, an error is a fault to debug, not a usage error: keep the traceback
                raise
            return _fail(console, error)
    state = "interrupted at" if result.interrupted else "finished"
    console.print(escape(f"Run {state} step {result.step}/{config.steps}: {result.run_dir}"))
    evals = {k: v for k, v in result.metrics.items() if k.startswith("eval/")}
    for key, value in sorted(evals.items()):
        console.print(f"  {key.removeprefix('eval/')}: {value:.4f}")
    console.print(escape(f"Checkpoint: {result.checkpoint}"))
    game = config.games[0]
    # the env the policy learnt (Twenty Questions' board); keys resolved as the trainer does (alias or full id)
    env_args = {registry.resolve_id(k): v for k, v in config.env_args.items()}
    flags = _env_arg_flags(env_args.get(registry.resolve_id(game), {}))
    # soft_wrap: a command longer than the terminal is wrapped by the terminal, so it copies as one line
    console.print(escape(f"Evaluate it: gym-reason eval --agent {result.run_dir} --game {game}{flags} --games 512 "
                         "--seed 1"), soft_wrap=True)  # fmt: skip
    players = ",".join([str(result.run_dir)] + ["random"] * (registry.spec(game).players - 1))
    console.print(escape(f"Watch it play: gym-reason play --game {game}{flags} --players {players} --games 1"),
                  soft_wrap=True)  # fmt: skip
    if result.interrupted:
        console.print(escape(f"Continue it: gym-reason {args.command} --resume {result.run_dir}"), soft_wrap=True)
    return 130 if result.interrupted else 0


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config field (``--games-per-step 64``; booleans also as ``--wandb`` / ``--no-wandb``)."""
    from gym_reason.trainer.config import FIELDS

    for name, field in FIELDS.items():
        flag = "--" + name.replace("_", "-")
        if name == "games":
            continue  # --game (below) takes the comma-separated list
        description = (field.description or "").replace("%", "%%")  # argparse %-formats help texts
        if field.annotation is bool:
            parser.add_argument(flag, dest=name, action="store_const", const="true", help=description)
            parser.add_argument(
                "--no-" + flag[2:], dest=name, action="store_const", const="false", help=argparse.SUPPRESS
            )
        else:
            parser.add_argument(flag, dest=name, metavar="VALUE", help=f"{description} (default: {field.default})")


def _add_env_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--answer-format", choices=list(ANSWER_FORMATS), help="default: bracket ([move])")
    p.add_argument("--invalid-move", choices=list(INVALID_MOVE_RULES), help="default: offender -1, other +1")
    p.add_argument("--max-turns", type=_count(1), default=None, help="turns before a game is cut (a draw)")
    p.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE", help="e.g. num_hands=3")


class _MainParser(_ArgumentParser):
    def subparser(self, command: str) -> _ArgumentParser:
        """The parser of one subcommand (whose flags a did-you-mean should offer)."""
        action = next(a for a in self._actions if isinstance(a, argparse._SubParsersAction))
        return action.choices[command]


IMPORT_HELP = "import this module first (it may register envs), e.g. --import my_games for ./my_games.py; repeatable"


def cmd_bench_env(args: argparse.Namespace, console: Console) -> int:
    """The env-cost card (:func:`gym_reason.eval.env_cost.env_cost`): p50/p99 of reset and step, episodes/s, and
    calls over ``--block-ms``; exit status 1 when a call blocked past it (``--fail-on-block``) or an episode failed."""
    import json

    from gym_reason.eval.env_cost import env_cost
    from gym_reason.sandboxes import SandboxUnavailable

    try:
        card = env_cost(_resolve_id(args.env_id), episodes=args.episodes, seed=args.seed, agent=args.agent,
                        block_ms=args.block_ms, env_kwargs=_parse_env_args(args.env_arg))  # fmt: skip
    except SandboxUnavailable as error:
        raise CliError(f"{args.env_id} cannot run on this machine: {error}") from None
    except ValueError as error:
        raise CliError(_message(error)) from None
    if args.json:
        print(json.dumps(card.as_dict(), indent=2))
    else:
        for line in card.lines():
            console.print(escape(line), soft_wrap=True)
    return int(bool(card.failed) or (args.fail_on_block and card.blocked))


def cmd_export_model(args: argparse.Namespace, console: Console) -> int:
    """A local model (a transformers folder, or a GGUF file in one) as a float32 safetensors folder, which
    engines that read checkpoints themselves load (``selfplay --backend vllm --model OUT``)."""
    from gym_reason.policy.export import export_model

    try:
        out = export_model(args.model, args.out, args.gguf_file, force=args.force)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        raise CliError(_message(error)) from None
    console.print(f"Written: {escape(str(out))} (use it as --model {escape(str(out))})")
    return 0


def build_parser() -> _MainParser:
    parser = _MainParser(prog="gym-reason", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"gym-reason {gym_reason.__version__}")
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE", help=IMPORT_HELP)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)

    p = sub.add_parser("list", help="list the registered environments")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("check", help="run the conformance checker on an env")
    p.add_argument("env_id", nargs="?", help="env id or alias, e.g. gym_reason/KuhnPoker-v0")
    p.add_argument("--all", action="store_true", help="check every registered env")
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="with --all: leave out the ids matching this shell-style pattern (repeatable), e.g. 'gym_reason/MiniWoB-*'",
    )
    p.add_argument("--episodes", type=_count(1), default=20, help="random episodes per check (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE", help="constructor argument")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "bench-env", help="the env-cost card: p50/p99 latency of reset and step, episodes/s, blocking calls"
    )
    p.add_argument("env_id", help="env id or alias, e.g. kuhn_poker or gym_reason/CodeInterpreter-v0")
    p.add_argument("--episodes", type=_count(1), default=20, help="seeded episodes to measure (default 20)")
    p.add_argument("--seed", type=int, default=0, help="the first episode's seed (then seed+1, ...)")
    p.add_argument("--agent", default="random", help="agent spec playing every seat (default random)")
    p.add_argument("--block-ms", type=float, default=1000.0, help="a call slower than this blocks (default 1000)")
    p.add_argument("--fail-on-block", action="store_true", help="exit 1 when any call blocked past --block-ms")
    p.add_argument("--json", action="store_true", help="print the card as JSON")
    p.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE", help="constructor argument")
    p.set_defaults(func=cmd_bench_env)

    p = sub.add_parser("play", help="play games between agents (human, random, fixed:<name>)")
    p.add_argument("--game", required=True, help="env id or alias, e.g. kuhn_poker")
    p.add_argument("--players", required=True, help="one agent spec per seat, comma-separated, e.g. human,fixed:nash")
    p.add_argument("--games", type=_count(1), default=1, help="games to play (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--alternate-seats", action="store_true", help="rotate the seats from game to game")
    p.add_argument("--show", action="store_true", help="print every observation and answer")
    _add_env_flags(p)
    p.set_defaults(func=cmd_play)

    p = sub.add_parser("eval", help="evaluate an agent against fixed opponents (paired seeds, confidence intervals)")
    p.add_argument("--agent", required=True, help="runs/<run-id>, hf:PATH, openai:MODEL@URL, fixed:<name>, random")
    p.add_argument("--game", required=True, help="env id or alias, e.g. kuhn_poker")
    p.add_argument("--opponents", help="comma-separated agent specs (default: random and the game's strongest bot; "
                   "none for a single-agent task, which is played alone on its held-out split)")  # fmt: skip
    p.add_argument("--games", type=_count(1), default=512, help="games per opponent (default 512)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-paired", dest="paired", action="store_false",
                   help="independent deals per game instead of each deal played from every seat")  # fmt: skip
    p.add_argument("--ci", choices=["t", "bootstrap"], default="t", help="interval of the mean reward (default t)")
    p.add_argument("--confidence", type=_probability, default=0.95, help="level of every interval (default 0.95)")
    p.add_argument("--concurrency", type=_count(1), default=256, help="games in flight (default 256)")
    p.add_argument("--out", help="results JSON (default evals/<game>/<agent>_seed<seed>.json)")
    p.add_argument("--transcripts", help="also write every game, move by move, to this JSONL file")
    p.add_argument("--until-decided", action="store_true",
                   help="stop each head-to-head once a sequential test on paired deals says better / worse / equal "
                   "within --delta (--games is then the cap per opponent)")  # fmt: skip
    p.add_argument("--delta", type=_half_open(0.5), default=0.1,
                   help="--until-decided: deal-win probability difference from 1/2 to detect (default 0.1)")  # fmt: skip
    p.add_argument("--alpha", type=_probability, default=0.05,
                   help="--until-decided: chance of calling better/worse when equal (default 0.05)")  # fmt: skip
    p.add_argument("--beta", type=_probability, default=0.05,
                   help="--until-decided: chance of missing a difference of delta (default 0.05)")  # fmt: skip
    p.add_argument("--teams", action="store_true",
                   help="a game that deals teams (hidden_roles): the agent plays each team against each opponent on "
                   "the other; prints each team's win rate and how often the loyal votes identified the hidden team, "
                   "with intervals (--games deals per pairing)")  # fmt: skip
    _add_env_flags(p)
    p.set_defaults(func=cmd_eval)

    from gym_reason.eval.exploitability import exact_analysis_games  # the games declare it; the registry lists them

    exact_games = ", ".join(exact_analysis_games())
    p = sub.add_parser("exploitability", help=f"exact exploitability of an agent ({exact_games})")
    p.add_argument("--agent", required=True, help="runs/<run-id>, hf:PATH, fixed:<name>, random")
    p.add_argument("--game", required=True, help=f"one of: {exact_games}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also save the result (with the agent's policy table) as JSON")
    _add_env_flags(p)
    p.set_defaults(func=cmd_exploitability)

    for name, helptext in (
        ("tournament", "every pair of a pool plays; Bradley-Terry and openskill ratings; writes <dir>/<game>.*"),
        (
            "leaderboard",
            "the game's standard tournament (random, every fixed bot, shipped checkpoints) into leaderboards/",
        ),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--game", required=True, help="env id or alias of a two-player game, e.g. kuhn_poker")
        if name == "tournament":
            p.add_argument("--pool", required=True, help="comma-separated agent specs, e.g. random,fixed:nash,runs/a")
            p.add_argument("--dir", default="tournaments", help="where to write <game>.json/.md/.png")
        else:
            p.add_argument("--pool", help="replace the standard pool (comma-separated agent specs)")
            p.add_argument("--add", help="agents to add to the pool, e.g. runs/<run-id>")
            p.add_argument("--agents-dir", default="leaderboards/agents",
                           help="shipped checkpoints, one folder per game alias")  # fmt: skip
            p.add_argument("--dir", default="leaderboards", help="where to write <game>.json/.md/.png")
        p.add_argument("--games", type=_count(1), default=256, help="games per pair (default 256)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--no-paired", dest="paired", action="store_false",
                       help="independent deals per game (default: each deal from both seats, scored per deal)")  # fmt: skip
        p.add_argument("--concurrency", type=_count(1), default=256, help="games in flight (default 256)")
        p.add_argument("--force", action="store_true", help="replace the board's files in --dir if they exist")
        _add_env_flags(p)
        p.set_defaults(func=cmd_tournament if name == "tournament" else cmd_leaderboard)

    p = sub.add_parser(
        "export-model", help="write a local model (e.g. a GGUF file) as a safetensors folder (for --backend vllm)"
    )
    p.add_argument("--model", required=True, help="a local transformers folder, or the folder holding --gguf-file")
    p.add_argument("--gguf-file", help="GGUF file name inside --model (e.g. SmolLM2-135M-Instruct.Q4_1.gguf)")
    p.add_argument("--out", required=True, help="the folder to write (config.json, model.safetensors, tokenizer)")
    p.add_argument("--force", action="store_true", help="overwrite a model already in --out")
    p.set_defaults(func=cmd_export_model)

    p = sub.add_parser("selfplay", help="train a model by self-play (default: tiny built-in model on the CPU)")
    p.add_argument("--game", help="env ids or aliases, comma-separated (default: kuhn_poker)")
    p.add_argument("--config", help="YAML config file (e.g. configs/selfplay_kuhn.yaml); flags override it")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its latest checkpoint")
    _add_config_flags(p)
    p.set_defaults(func=cmd_selfplay)

    p = sub.add_parser("train", help="train a model on tasks and/or games (selfplay's loop, config and checkpoints)")
    p.add_argument("--env", dest="game", help="env ids or aliases, comma-separated, tasks and games mixed "
                   "(e.g. code_interpreter or code_tests,kuhn_poker)")  # fmt: skip
    p.add_argument("--config", help="YAML config file (e.g. configs/train_code_interpreter.yaml); flags override it")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its latest checkpoint")
    _add_config_flags(p)
    p.set_defaults(func=cmd_selfplay)
    for command in sub.choices.values():  # --import also after the command (a subparser keeps its own dest)
        command.add_argument("--import", dest="imports_after", action="append", default=[], metavar="MODULE",
                             help=IMPORT_HELP)  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0, 2 for a usage or input error, 130 after Ctrl-C)."""
    parser = build_parser()
    _ArgumentParser.argv = list(sys.argv[1:] if argv is None else argv)
    args, extras = parser.parse_known_args(argv)
    if extras:
        parser.subparser(args.command).unknown_flags(extras)
    # Piped output (tests, logs) gets wide tables instead of rich's 80-column default.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    try:
        _import_modules([*args.imports, *args.imports_after])
        return args.func(args, console)
    except CliError as error:
        return _print_error(error)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
