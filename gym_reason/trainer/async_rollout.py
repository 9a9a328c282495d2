"""Where each training step's episodes come from: played on the spot, or by a rollout thread ahead of the learner.

:class:`Rollouts` hands the loop one :class:`Batch` per step (``take(step)``) and hears after every
update (``updated()``).

**Synchronous** (``async_lag: 0``, the default): ``take(step)`` plans and plays the step's episodes
right there with the trainer's policy; nothing runs beside the update. This is the loop as it always
was, bit for bit.

**Asynchronous** (``async_lag: K >= 1``, ``--async-lag K``): a rollout thread plays the episodes with a
*behaviour policy*, its own copy of the model, while the learner thread scores and updates. Step
``s``'s episodes are sampled by the weights of version ``max(s - K, 0)`` (version ``v`` = the weights
after ``v`` updates; a resumed run starts at its checkpoint's version), so the policy lag is exactly
``K`` once the pipeline is full and never more: the batch the update of step ``t`` trains on was
sampled by weights at most ``K`` updates old. After each update the learner snapshots its trainable
weights (the LoRA adapters alone with ``--lora``) and plans step ``t+1+K`` with them; the rollout
thread loads a job's snapshot into the behaviour model before playing it. With ``K = 1`` the rollout
of step ``t+1`` runs while step ``t`` is scored and updated. A deeper lag buffers more (an uneven
rollout time is absorbed) for staler samples. The lag is fixed rather than "the newest weights
available" so that which weights sampled which step does not depend on timing (see Determinism).

*Off-policy correction.* Every sampled token's log-probability under the behaviour weights is recorded
in its :class:`~gym_reason.policy.Completion` (``logprobs``); the update's PPO ratio is
``exp(log p_learner - log p_recorded)`` (:func:`~gym_reason.trainer.loss.clipped_policy_loss`), so the
recorded behaviour log-probs are its denominator and the clipped ratio corrects for (and bounds the
step against) the lag, as in a synchronous run's second PPO epoch. The advantage estimators are
unchanged: RAE's baselines, group statistics and returns are computed from the batch's outcomes;
Monte-Carlo step values play their continuations with the learner's current weights.

*Not with* a league (its opponents are agents shared across steps and reseeded for each one, which the
rollout thread would play while the loop plans the next step) or the vLLM backend (its engine holds one copy
of the weights): both are refused at the start with the fix.

*Threads.* The two threads split the CPU threads torch may use (``threads``, else torch's count):
half (rounded down, at least 1) sample, the rest update; the learner thread's count is restored when
the run ends. Torch releases the GIL in its kernels, but Python-heavy decoding (the tiny model) still
contends for it: the overlap pays most when the envs are slow or the model is large.

*Determinism.* Without timeouts an asynchronous run is reproducible like a synchronous one: each
step's requests, its sampling generator (from ``(seed, step)``) and the weights that sample it
(version ``max(s - K, 0)``) are fixed, whatever the threads' timing, and the learner consumes batches
in step order, so two runs with one seed log the same metrics (timings aside) and end with the same
weights. It is not the synchronous run's trajectory (the samples come from older weights). With
``episode_timeout``, which episodes are cut, and which batch a straggler joins, depend on wall time:
such runs are not reproducible whenever a cut or a straggler happens.

*Resume.* A checkpoint is taken at a step boundary (``trainer.step = t``): it holds the model (version
``t``) and, in ``trainer_state.pt``, the snapshots of versions ``t-K .. t-1`` that sample the batches
still in flight (steps ``t .. t+K-1``). On ``--resume`` those batches are planned and played again from
the same seeds and weights, so a resumed run repeats the uninterrupted one; the work in flight at the
interruption is discarded. A checkpoint without the snapshots (a synchronous run resumed with
``--async-lag``, or a larger lag) samples those steps with the checkpoint's own weights instead (a
smaller lag, which the bound allows).

**Timeouts** (``episode_timeout``, both modes): the episode engine cuts an episode past its wall-time
limit without waiting for a blocked env call (:mod:`gym_reason.eval.engine`, *Timeouts*). A cut
episode is recorded as timed out and failed, so the update drops it like any failed episode (never a
zero reward; counted in ``failed_games`` and in ``episodes_timed_out``). Dropping favours episodes that
finish in time, which is the point of the limit; set it well above the normal episode's duration.
Its env is discarded (the engine closes it, or the blocked call's thread does when it returns) and a
new one takes its place in the trainer's pool, also in requests planned before the cut.
"""

from __future__ import annotations

import copy
import dataclasses
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from gym_reason.core import derive_seed
from gym_reason.policy import LMPolicy
from gym_reason.trainer.rollout import Episode, EpisodeRequest, play_episodes

if TYPE_CHECKING:
    from gym_reason.trainer.loop import Trainer

Weights = dict[str, torch.Tensor]
"""A snapshot of the trainable parameters by name."""


@dataclasses.dataclass
class Batch:
    """One step's episodes, the version of the weights that sampled them, and what they cost in time."""

    step: int
    episodes: list[Episode]
    policy_version: int
    seconds: float
    """Wall time of planning and playing the episodes."""
    waited: float
    """How long the learner waited for the batch (asynchronous: the part of the rollout the update did not hide)."""

    @property
    def lag(self) -> int:
        return self.step - self.policy_version


@dataclasses.dataclass
class _Job:
    step: int
    version: int
    weights: Weights
    """The trainable weights of version ``version``, to load into the behaviour model."""
    requests: list[EpisodeRequest]


def trainable_weights(model: Any) -> Weights:
    """A copy of the model's trainable parameters (all of them, or the LoRA adapters)."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def behaviour_copy(policy: LMPolicy) -> LMPolicy:
    """A copy of ``policy`` for the rollout thread: its own model (no gradients), tokenizer and memos."""
    settings = policy.settings()
    source = settings.pop("source")
    model = copy.deepcopy(policy.model).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    behaviour = LMPolicy(model, copy.deepcopy(policy.tokenizer), **settings)
    behaviour.source = dict(source)
    return behaviour


class Rollouts:
    """One :class:`Batch` per step for the training loop, synchronous or from a rollout thread (module docstring).

    ``plan(step)`` gives a step's requests (called on the loop's thread, in step order). Use as a context
    manager, or call :meth:`close`.
    """

    def __init__(self, trainer: Trainer, plan: Callable[[int], list[EpisodeRequest]]) -> None:
        config = trainer.config
        self.trainer = trainer
        self.plan = plan
        self.lag = config.async_lag
        self._pools = threading.Lock()  # the trainer's env pools: planned on the loop's thread, mended on the rollout's
        self._replaced: list[tuple[Any, Any, int]] = []  # (discarded env, replacement, step): for requests planned
        self._closing = False  # before the cut; kept while such requests may be in flight
        if self.lag == 0:
            return
        backend = getattr(config, "backend", "hf")
        if backend != "hf":
            raise ValueError(
                f"--async-lag {self.lag} needs the torch sampler (--backend hf), got --backend {backend}: the vLLM "
                "engine holds one copy of the weights, pushed after every update; use --async-lag 0 with it"
            )
        if getattr(config, "league", "off") != "off":
            raise ValueError(
                f"--async-lag {self.lag} cannot run with --league {config.league}: the league's opponents are agents "
                "shared across steps and reseeded for each, which the rollout thread would play while the next step "
                "is planned; use --async-lag 0 with a league"
            )
        total = config.threads or torch.get_num_threads()
        self._rollout_threads = max(1, total // 2)
        self._learner_threads_before = torch.get_num_threads()
        torch.set_num_threads(max(1, total - self._rollout_threads))
        self.behaviour = behaviour_copy(trainer.policy)
        self._loaded = trainer.step  # the version the behaviour model holds
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._done: dict[int, Batch | BaseException] = {}
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="rollouts", daemon=True)
        self._thread.start()
        saved = trainer.behaviour_weights  # from the checkpoint being resumed, if any
        trainer.behaviour_weights = {trainer.step: trainable_weights(trainer.policy.model)}
        try:
            for step in range(trainer.step, min(trainer.step + self.lag + 1, config.steps)):
                version = max(step - self.lag, 0)
                if version in saved:
                    trainer.behaviour_weights[version] = saved[version]
                elif version not in trainer.behaviour_weights:  # not in the checkpoint: its own weights (smaller lag)
                    version = trainer.step
                self._submit(step, version)
        except BaseException:
            self.close()
            raise

    # --- the loop's side ---------------------------------------------------------------------
    def take(self, step: int) -> Batch:
        """Step ``step``'s batch: played now (synchronous), or the rollout thread's (waiting for it if need be)."""
        if self.lag == 0:
            started = time.perf_counter()
            requests = self.plan(step)
            episodes = self._play(self.trainer.policy, requests, step, step)
            seconds = time.perf_counter() - started
            return Batch(step, episodes, step, seconds, seconds)
        started = time.perf_counter()
        with self._ready:
            while step not in self._done:
                if not self._thread.is_alive():
                    raise RuntimeError(f"the rollout thread stopped before step {step}'s episodes were played")
                self._ready.wait(1.0)
            outcome = self._done.pop(step)
        if isinstance(outcome, BaseException):
            raise outcome
        outcome.waited = time.perf_counter() - started
        return outcome

    def updated(self) -> None:
        """After an update (``trainer.step`` is now ``t``): snapshot version ``t``, plan step ``t+K`` with it."""
        if self.lag == 0:
            return
        trainer = self.trainer
        version = trainer.step
        trainer.behaviour_weights[version] = trainable_weights(trainer.policy.model)
        for old in [v for v in trainer.behaviour_weights if v < version - self.lag]:
            del trainer.behaviour_weights[old]  # no batch in flight or planned samples with it any more
        if version + self.lag < trainer.config.steps:
            self._submit(version + self.lag, version)

    def close(self) -> None:
        """Stop the rollout thread (after the batch it is playing) and give the learner thread its CPU threads back."""
        if self.lag == 0 or self._closing:
            return
        self._closing = True  # jobs still queued are dropped
        self._jobs.put(None)
        self._thread.join()
        torch.set_num_threads(self._learner_threads_before)

    def __enter__(self) -> Rollouts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _submit(self, step: int, version: int) -> None:
        with self._pools:
            requests = self.plan(step)
        weights = self.trainer.behaviour_weights[version]
        self._jobs.put(_Job(step, version, weights, requests))

    # --- the rollout thread --------------------------------------------------------------------
    def _work(self) -> None:
        torch.set_num_threads(self._rollout_threads)  # per thread (OpenMP): the learner's count is its own
        while True:
            job = self._jobs.get()
            if job is None or self._closing:
                return
            started = time.perf_counter()
            try:
                if job.version != self._loaded:
                    with torch.no_grad():
                        for name, p in self.behaviour.model.named_parameters():
                            if name in job.weights:
                                p.copy_(job.weights[name])
                    self._loaded = job.version
                with self._pools:
                    self._replaced = [r for r in self._replaced if r[2] + self.lag >= job.step]
                    requests = [self._current(r) for r in job.requests]
                episodes = self._play(self.behaviour, requests, job.step, job.version)
                outcome: Batch | BaseException = Batch(
                    job.step, episodes, job.version, time.perf_counter() - started, 0.0
                )
            except BaseException as error:  # the loop raises it when it takes this step
                outcome = error
            with self._ready:
                self._done[job.step] = outcome
                self._ready.notify_all()
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                return

    # --- both --------------------------------------------------------------------------------
    def _play(self, policy: LMPolicy, requests: list[EpisodeRequest], step: int, version: int) -> list[Episode]:
        """Step ``step``'s episodes, sampled by ``policy`` (weights of ``version``); timed-out envs replaced."""
        config = self.trainer.config
        generator = torch.Generator().manual_seed(derive_seed(config.seed, step, 6))
        episodes = play_episodes(
            policy,
            requests,
            generator,
            transcripts=config.advantage == "monte_carlo",
            episode_timeout=config.episode_timeout,
        )
        for episode in episodes:
            episode.policy_version = version
        timed_out = [r for r, e in zip(requests, episodes, strict=True) if e.timed_out]
        if timed_out:
            with self._pools:
                for request in timed_out:
                    self._replace(request, step)
        return episodes

    def _replace(self, request: EpisodeRequest, step: int) -> None:
        """A new env in the pool slot of a timed-out episode's (discarded) env."""
        pool = self.trainer.pools[request.env_id]
        for i, env in enumerate(pool):
            if env is request.env:
                pool[i] = self.trainer.make_rollout_env(request.env_id)
                if self.lag:
                    self._replaced.append((env, pool[i], step))

    def _current(self, request: EpisodeRequest) -> EpisodeRequest:
        """``request`` with its env swapped for the replacement if that env was discarded after it was planned."""
        env = request.env
        for old, new, _ in self._replaced:  # in order of replacement: follows a replacement discarded in turn
            if env is old:
                env = new
        return request if env is request.env else dataclasses.replace(request, env=env)
