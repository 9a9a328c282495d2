"""The self-play training loop, top to bottom: rollout -> returns -> advantages -> PPO update -> eval/log/checkpoint.

Every step's randomness (game seeds, sampling, opponents, minibatch order) is derived
from ``(config.seed, step)``, so a run resumed from a checkpoint (model, optimizer,
RAE baselines, magnet) repeats the metrics of an uninterrupted one on the CPU.
The rollouts come from :class:`~gym_reason.trainer.async_rollout.Rollouts`: played on the
spot, or with ``async_lag`` by a rollout thread ahead of the update.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
import os
import random
import shutil
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import gym_reason
from gym_reason.agents import make_agent, strongest_fixed_agent
from gym_reason.core import derive_seed
from gym_reason.eval.engine import LEARNER, TASK_AGENT
from gym_reason.eval.evaluation import TASK, Summary, held_out_kwargs
from gym_reason.policy import LMPolicy, load_causal_lm, save_policy, tiny_policy
from gym_reason.policy.checkpoints import CHECKPOINTS, checkpoint_folders, latest_checkpoint
from gym_reason.registry import resolve_id
from gym_reason.trainer.async_rollout import Rollouts
from gym_reason.trainer.config import SelfPlayConfig, load_config, save_config
from gym_reason.trainer.credit import assign_advantages
from gym_reason.trainer.league import build_league, league_opponent, league_snapshot, league_state, restore_league
from gym_reason.trainer.logs import keep_records
from gym_reason.trainer.policy_eval import can_measure_exploitability, evaluate_policy, lm_policy_exploitability
from gym_reason.trainer.rollout import Episode, EpisodeRequest
from gym_reason.trainer.update import update

STATE_FILE = "trainer_state.pt"


def build_policy(config: SelfPlayConfig, device: torch.device | str = "cpu") -> LMPolicy:
    """The policy ``config`` asks for, on ``device``: the tiny built-in model, or a local model (with LoRA adapters)."""
    decoding = dict(
        layout=config.prompt_layout(),
        decoding=config.decoding_mode(),
        think_tokens=config.think_tokens,
        max_new_tokens=config.max_new_tokens,
        context=config.context,
        temperature=config.temperature,
        system_prompt=config.system_prompt,
    )
    if config.backend == "vllm":  # fail before any model loads: vLLM reads a safetensors folder, not the tiny model
        from gym_reason.policy.vllm_backend import check_vllm_model

        check_vllm_model(config.model, config.gguf_file)
    if config.tiny():
        policy = tiny_policy(
            seed=config.seed,
            layers=config.tiny_layers,
            dim=config.tiny_dim,
            heads=config.tiny_heads,
            device=device,
            **decoding,
        )
        if config.gradient_checkpointing:
            policy.model.activation_checkpointing_enable({"use_reentrant": False})
        return policy
    model, tokenizer = load_causal_lm(config.model, config.gguf_file)
    if config.gradient_checkpointing:  # active in train mode only (the update), not while decoding
        model.activation_checkpointing_enable({"use_reentrant": False})
    if config.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                r=config.lora_rank, lora_alpha=2 * config.lora_rank, target_modules="all-linear", task_type="CAUSAL_LM"
            ),
        )
    model.to(device).eval()
    if config.backend == "vllm":  # sampling through a vLLM engine; scoring and the update stay in torch
        from gym_reason.policy.vllm_backend import VLLMPolicy

        engine = dict(device=config.vllm_device, gpu_memory_utilization=config.vllm_gpu_memory_utilization,
                      cpu_kv_cache_gib=config.vllm_cpu_kv_cache_gib, seed=config.seed)  # fmt: skip
        policy = VLLMPolicy(model, tokenizer, model_path=config.model, engine=engine, **decoding)
    else:
        policy = LMPolicy(model, tokenizer, **decoding)
    policy.source = {"model": str(Path(config.model).resolve()), "gguf_file": config.gguf_file, "lora": config.lora}
    return policy


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    checkpoint: Path
    step: int
    metrics: dict[str, Any]
    interrupted: bool = False


class _StopRequest:
    """Ctrl-C / SIGTERM: the first finishes the current step (then the loop checkpoints and returns),
    a second stops at once (the last step checkpoint stays; a step is never saved half-applied)."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


class Trainer:
    """State of one run. :func:`train` is the loop; this holds what it checkpoints."""

    def __init__(self, config: SelfPlayConfig, run_dir: Path) -> None:
        self.config = config
        self.run_dir = run_dir
        if config.threads:
            torch.set_num_threads(config.threads)
        self.device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
        )
        self.env_ids = [resolve_id(g) for g in config.games]
        self.env_args = {resolve_id(k): v for k, v in config.env_args.items()}
        unknown = set(self.env_args) - set(self.env_ids)
        if unknown:
            raise ValueError(f"env_args names env(s) {sorted(unknown)} that are not in games {config.games}")
        with torch.random.fork_rng(devices=[]):  # seeded weight init (e.g. LoRA's) without touching the caller's RNG
            torch.manual_seed(config.seed)
            self.policy: LMPolicy = build_policy(config, self.device)
        self.optimizer = torch.optim.AdamW(
            [p for p in self.policy.model.parameters() if p.requires_grad],
            lr=config.lr,
            weight_decay=config.weight_decay,
        )
        self.magnet = None
        if config.kl_coef > 0:
            self.magnet = copy.deepcopy(self.policy.model).eval()
            for p in self.magnet.parameters():
                p.requires_grad_(False)
        self.baselines: dict[tuple[str, str], float] = {}
        self.step = 0
        self.behaviour_weights: dict[int, dict[str, torch.Tensor]] = {}
        """Asynchronous rollouts: the trainable weights by version that sample the batches in flight."""
        self.pools: dict[str, list[Any]] = defaultdict(list)
        self.env_workers = None  # Ray actors holding the rollout envs (--env-workers N), or None: envs in this process
        if config.env_workers:
            from gym_reason.trainer.ray_workers import EnvWorkerPool

            self.env_workers = EnvWorkerPool(config.env_workers, address=config.ray_address)
        self.eval_envs = {env_id: self.make_env(env_id) for env_id in self.env_ids}
        self.league = build_league(self)  # None unless config.league names a sampler

    def make_env(self, env_id: str) -> Any:
        return gym_reason.make(env_id, **self.env_args.get(env_id, {}))

    def make_rollout_env(self, env_id: str) -> Any:
        """An env for the step's rollouts: a proxy of one on a Ray env worker with ``env_workers``, else a local one."""
        if self.env_workers is None:
            return self.make_env(env_id)
        return self.env_workers.make(env_id, **self.env_args.get(env_id, {}))

    # --- checkpoints -----------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        tmp = directory.with_name(directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        save_policy(self.policy, tmp)
        torch.save(
            {
                "step": self.step,
                "optimizer": self.optimizer.state_dict(),
                "baselines": self.baselines,
                "magnet": None if self.magnet is None else self.magnet.state_dict(),
                "league": league_state(self),  # pool, payoffs, gate history, draws: a resumed league repeats
                **(
                    {"behaviour_weights": {v: w for v, w in self.behaviour_weights.items() if v < self.step}}
                    if self.behaviour_weights
                    else {}
                ),  # asynchronous: the older weights that sample the batches in flight, played again on resume
            },
            tmp / STATE_FILE,
        )
        shutil.rmtree(directory, ignore_errors=True)
        tmp.rename(directory)  # a checkpoint is complete or absent, even after kill -9

    def load(self, directory: Path) -> None:
        from safetensors.torch import load_file

        if self.policy.source.get("lora"):
            from peft import set_peft_model_state_dict

            set_peft_model_state_dict(
                self.policy.model, load_file(str(directory / "adapter" / "adapter_model.safetensors"))
            )
        else:  # not strict: tied output embeddings are saved once; anything else missing is an error
            missing, unexpected = self.policy.model.load_state_dict(
                load_file(str(directory / "model.safetensors")), strict=False
            )
            untied = [k for k in missing if "lm_head" not in k]
            if unexpected or untied:
                raise RuntimeError(
                    f"checkpoint {str(directory)!r} does not fit this run's model (missing {untied}, unexpected "
                    f"{unexpected}); resume with the config the run was started with (its config.yaml)"
                )
        state = torch.load(directory / STATE_FILE, map_location=self.device, weights_only=False)
        self.step = int(state["step"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baselines = dict(state["baselines"])
        if self.magnet is not None and state.get("magnet") is not None:
            self.magnet.load_state_dict(state["magnet"])
        restore_league(self, state.get("league"))
        self.behaviour_weights = dict(state.get("behaviour_weights", {}))


# --- one step ------------------------------------------------------------------------------------
def plan_step(trainer: Trainer, step: int) -> list[EpisodeRequest]:
    """The league's snapshot when one is due, then the step's episodes (:func:`plan_games`)."""
    if trainer.league is not None and trainer.league.due(step):
        league_snapshot(trainer, step)
    return plan_games(trainer, step)


def plan_games(trainer: Trainer, step: int) -> list[EpisodeRequest]:
    """This step's episodes: ``games_per_step`` split over the envs, some seats given to fixed opponents
    (games only: a task's one seat is always the policy's)."""
    config = trainer.config
    rng = random.Random(derive_seed(config.seed, step, 1))
    requests = []
    opponents: dict[tuple[str, str], Any] = {}
    n_envs = len(trainer.env_ids)
    for e, env_id in enumerate(trainer.env_ids):
        count = config.games_per_step // n_envs + (1 if e < config.games_per_step % n_envs else 0)
        pool = trainer.pools[env_id]
        while len(pool) < count:
            pool.append(trainer.make_rollout_env(env_id))
        for g in range(count):
            env = pool[g]
            agents = list(getattr(env, "possible_agents", [TASK_AGENT]))
            players: list[Any] = [None] * len(agents)
            labels = [LEARNER] * len(agents)
            league = trainer.league
            if league is not None and league.entries and len(agents) > 1 and rng.random() < config.league_fraction:
                entry = league.sample(rng)
                seat = g % len(agents)
                players[seat], labels[seat] = league_opponent(trainer, entry, env), entry.name
            elif config.opponents and len(agents) > 1 and rng.random() < config.opponent_fraction:
                spec = rng.choice(config.opponents)
                seat = g % len(agents)
                if (env_id, spec) not in opponents:
                    opponents[env_id, spec] = make_agent(spec, env, seed=derive_seed(config.seed, step, 2, e))
                players[seat], labels[seat] = opponents[env_id, spec], spec
            seed = derive_seed(config.seed, step, 3, e, g)
            requests.append(EpisodeRequest(env_id, env, seed=seed, players=players, labels=labels))
    return requests


def rollout_metrics(episodes: list[Episode], elapsed: float) -> dict[str, float]:
    """Counts and rates of a step's episodes; ``failed_games`` includes the ``episodes_timed_out``."""
    played = [e for e in episodes if e.error is None]
    turns = [t for e in played for t in e.turns]
    tokens = sum(len(t.completion.prompt_ids) + len(t.completion.completion_ids) for t in turns)
    metrics: dict[str, float] = {
        "games": float(len(played)),
        "failed_games": float(len(episodes) - len(played)),
        "episodes_timed_out": float(sum(e.timed_out for e in episodes)),
        "games_per_s": len(episodes) / max(elapsed, 1e-9),
        "tokens_per_s": tokens / max(elapsed, 1e-9),
        "invalid_rate": sum(t.invalid for t in turns) / max(len(turns), 1),
        "turns_per_game": sum(sum(e.moves) for e in played) / max(len(played), 1),
    }
    by_role: dict[tuple[str, str], list[float]] = defaultdict(list)
    for episode in played:
        for agent in episode.policy_agents():
            by_role[episode.env_id.rpartition("/")[2], agent].append(episode.returns[agent])
    for (env, role), values in sorted(by_role.items()):
        metrics[f"return/{env}/{role}"] = sum(values) / len(values)
    return metrics


def evaluate_during_training(trainer: Trainer, step: int) -> dict[str, float]:
    """Games: matches against random and each game's strongest fixed opponent, exploitability where exact.
    Tasks: episodes on the held-out split, success rate and mean return with their intervals, turns and
    tokens per episode. The same seeds at every evaluation."""
    config = trainer.config
    policy = trainer.policy
    metrics: dict[str, float] = {}
    generator = torch.Generator().manual_seed(derive_seed(config.seed, step, 5))
    for e, env_id in enumerate(trainer.env_ids):
        env = trainer.eval_envs[env_id]
        name = env_id.rpartition("/")[2]
        game = getattr(env, "game", None)
        opponents = config.eval_opponents
        if opponents is None:
            opponents = ["random"]
            strongest = strongest_fixed_agent(game.name) if game is not None else None
            if strongest:
                opponents.append(strongest)
        held_out = held_out_kwargs(env, trainer.env_args.get(env_id, {}))
        results = evaluate_policy(
            policy, env_id, lambda env_id=env_id, kwargs=held_out: gym_reason.make(env_id, **kwargs), opponents,
            config.eval_games, seed=derive_seed(config.seed, 7, e), generator=generator,
        )  # fmt: skip
        for opponent, summary in results.items():
            task = opponent == TASK
            metrics.update(summary_metrics(f"eval/{name}" if task else f"eval/{name}/{opponent}", summary, task=task))
        if can_measure_exploitability(env, policy):
            metrics[f"eval/{name}/exploitability"] = lm_policy_exploitability(policy, env_id, env)
    return metrics


def summary_metrics(prefix: str, summary: Summary, task: bool = False) -> dict[str, float]:
    """An evaluation's numbers as flat metrics: win rate and mean reward (a task's success rate and mean
    return) with their intervals, invalid-move rate, turns and tokens per episode, failed episodes."""
    rate, mean = ("success_rate", "mean_return") if task else ("win_rate", "mean_reward")
    metrics = {
        f"{prefix}/{rate}": summary.win.rate,
        f"{prefix}/{rate}_low": summary.win.ci.low,
        f"{prefix}/{rate}_high": summary.win.ci.high,
        f"{prefix}/{mean}": summary.mean_reward,
        f"{prefix}/{mean}_low": summary.reward_ci.low,
        f"{prefix}/{mean}_high": summary.reward_ci.high,
        f"{prefix}/invalid_rate": summary.invalid_moves.rate,
        f"{prefix}/turns_per_episode": summary.mean_turns,
        f"{prefix}/failed": float(summary.failed),
    }
    if summary.tokens_per_turn is not None:
        metrics[f"{prefix}/tokens_per_episode"] = summary.tokens_per_turn * summary.mean_turns
    return metrics


# --- the loop -----------------------------------------------------------------------------------
def train(
    config: SelfPlayConfig,
    *,
    resume: str | Path | None = None,
    on_step: Callable[[int, dict[str, Any]], None] | None = None,
) -> RunResult:
    """Run self-play training; resumable; returns where the final checkpoint is.

    ``on_step(step, metrics)`` is called after every step (the CLI's progress bar uses it).
    """
    if resume is not None:
        run_dir = Path(resume)
    else:
        name = config.run_name or "{}-{}".format(
            "+".join(g.rpartition("/")[2] for g in config.games), datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        )
        run_dir = Path(config.run_dir) / name
        if (run_dir / CHECKPOINTS).exists():
            raise FileExistsError(
                f"run folder {str(run_dir)!r} already has checkpoints; pass --resume {run_dir} to continue it, or another --run-name"
            )
    trainer = Trainer(config, run_dir)  # first: a start that fails (bad model path, env) leaves no run folder
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    checkpoint = latest_checkpoint(run_dir) if resume is not None else None
    if checkpoint is not None:
        trainer.load(checkpoint)
    metrics_path = run_dir / "metrics.jsonl"
    kept = trainer.step if checkpoint is not None else -1  # no checkpoint: the run starts over, all is logged again
    keep_records(metrics_path, lambda record: record.get("step", 0) <= kept)
    if checkpoint is None:
        (run_dir / "league.jsonl").unlink(missing_ok=True)  # a run killed before its first checkpoint starts over
    wandb_run = _start_wandb(config, run_dir) if config.wandb else None

    interrupted = False
    stop = _StopRequest()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, stop)
    started = time.perf_counter()
    last: dict[str, Any] = {}
    rollouts = None
    try:
        if config.eval_at_start and trainer.step == 0 and checkpoint is None:
            initial = {"step": 0, **evaluate_during_training(trainer, 0), "wall_time": time.perf_counter() - started}
            _append(metrics_path, initial)  # the untrained policy: where the curve starts
            if wandb_run is not None:
                wandb_run.log(initial, step=0)
        rollouts = Rollouts(trainer, lambda step: plan_step(trainer, step))  # async_lag: a thread plays ahead
        while trainer.step < config.steps:
            step = trainer.step
            t0 = time.perf_counter()
            batch = rollouts.take(step)  # played now, or by the rollout thread with weights <= async_lag updates old
            episodes = batch.episodes
            turns = assign_advantages(trainer, [e for e in episodes if e.error is None])
            stats = trainer.policy.rescore([t.completion for t in turns])  # vLLM's log-probs -> torch's, gap measured
            stats.update(update(trainer, turns, step))
            trainer.policy.sync_weights()  # a vLLM engine samples the next step with the updated weights
            trainer.step = step + 1
            rollouts.updated()  # asynchronous: the new weights are snapshot and plan step+1+async_lag
            metrics: dict[str, Any] = {"step": trainer.step, **rollout_metrics(episodes, batch.seconds), **stats}
            metrics.update(trained_turns=len(turns), policy_lag=batch.lag)
            if config.async_lag:
                metrics["rollout_wait"] = batch.waited  # the share of the rollout the update did not hide
            for (env_id, role), value in sorted(trainer.baselines.items()):
                metrics[f"baseline/{env_id.rpartition('/')[2]}/{role}"] = value
            if (config.eval_every and trainer.step % config.eval_every == 0) or trainer.step == config.steps:
                metrics.update(evaluate_during_training(trainer, trainer.step))
            metrics["step_time"] = time.perf_counter() - t0
            metrics["wall_time"] = time.perf_counter() - started
            _append(metrics_path, metrics)
            if wandb_run is not None:
                wandb_run.log(metrics, step=trainer.step)
            last = metrics
            if on_step:
                on_step(trainer.step, metrics)
            if trainer.step % config.checkpoint_every == 0:
                _checkpoint(trainer)
            if stop.requested:
                interrupted = True
                break
            if config.time_limit and time.perf_counter() - started > config.time_limit:
                break
    except KeyboardInterrupt:
        interrupted = True
        restored = latest_checkpoint(run_dir)  # the model may hold half a step: go back to the last whole one
        if restored is None:
            raise  # nothing whole to save yet
        trainer.load(restored)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if rollouts is not None:
            rollouts.close()
        if trainer.env_workers is not None:
            trainer.env_workers.close()
    final = _checkpoint(trainer)
    summary = _summary(trainer, last, interrupted)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _plot(metrics_path, run_dir)
    if wandb_run is not None:
        wandb_run.finish()
    return RunResult(run_dir=run_dir, checkpoint=final, step=trainer.step, metrics=last, interrupted=interrupted)


def resume_config(run_dir: str | Path, overrides: dict[str, Any] | None = None) -> SelfPlayConfig:
    """The config a run was started with, with ``overrides`` (e.g. more ``steps``) on top."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{str(run_dir)!r} is not a run folder (no config.yaml); runs are folders under runs/")
    return load_config(path, overrides)


def _checkpoint(trainer: Trainer) -> Path:
    folder = trainer.run_dir / CHECKPOINTS
    target = folder / f"step_{trainer.step:07d}"
    if not target.exists():
        trainer.save(target)
    for old in checkpoint_folders(trainer.run_dir)[: -trainer.config.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _append(path: Path, metrics: dict[str, Any]) -> None:
    with path.open("a") as f:  # closed at once: a kill -9 loses at most the line being written
        f.write(json.dumps(metrics) + "\n")


def _summary(trainer: Trainer, last: dict[str, Any], interrupted: bool) -> dict[str, Any]:
    evals = {k: v for k, v in last.items() if k.startswith("eval/")}
    return {
        "run_dir": str(trainer.run_dir),
        "step": trainer.step,
        "steps": trainer.config.steps,
        "interrupted": interrupted,
        "games": trainer.config.games,
        "last_metrics": last,
        "final_eval": evals,
    }


def _plot(metrics_path: Path, run_dir: Path) -> None:
    """Exploitability (where defined) and eval win rates over steps, as ``curves.png``."""
    if not metrics_path.exists():
        return
    records = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for record in records:
        for key, value in record.items():
            if key.startswith("eval/") and key.endswith(("exploitability", "win_rate", "success_rate")):
                series[key].append((record["step"], value))
    if not series:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for key, points in sorted(series.items()):
        ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=key.removeprefix("eval/"))
    ax.set_xlabel("step")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"{run_dir.name}")
    fig.tight_layout()
    fig.savefig(run_dir / "curves.png", dpi=100)
    plt.close(fig)


def _start_wandb(config: SelfPlayConfig, run_dir: Path) -> Any:
    try:
        import wandb
    except ImportError:
        raise RuntimeError("--wandb needs the wandb package: pip install 'gym-reason[wandb]'") from None
    os.environ.setdefault("WANDB_MODE", "offline")
    return wandb.init(project=config.wandb_project, name=run_dir.name, dir=str(run_dir), config=config.model_dump())
