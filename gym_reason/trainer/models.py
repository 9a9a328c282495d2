"""Language-model policies: the tiny built-in model, real causal LMs, and how they decode.

A :class:`LMPolicy` wraps any transformers causal LM and its tokenizer. It turns an
env's ``(observation, info)`` into a prompt, samples a completion for a whole batch
at once, and later recomputes the completion's log-probabilities (with gradients)
for the policy-gradient update. Two decoding modes:

* **constrained** (the default of the tiny model): the completion is one of the
  env's legal answers (``info["legal_actions"]``). The legal answers are tokenised
  into a trie; at each position the next-token distribution is masked to the trie's
  children and renormalised. Positions with a single child are forced and cost no
  forward pass, so a Kuhn Poker decision (``[check]`` vs ``[bet]``) is one model
  call and one sampled token. The recorded log-probability is that of the masked
  distribution, which is exactly the distribution that was sampled. Scoring each
  legal string by its unmasked log-probability instead is length-biased (a short
  answer is many nats likelier at random init) and does not learn.
* **free**: ordinary sampling of up to ``max_new_tokens`` tokens (``generate``),
  stopping at the answer format's closing mark or EOS. Real LMs think, then answer.

The tiny model is a 2-layer GPT-2 with a byte-level tokenizer, both built in code
(no download), small enough to learn Kuhn Poker from scratch on a laptop CPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gym_reason.core import LEGAL_ACTIONS, ROLE, STATE_KEY, AnswerFormat

PROMPT_LAYOUTS = ("state", "observation")
"""How a prompt is built from a turn (see :meth:`LMPolicy.prompt`)."""

POLICY_FILE = "gym_reason_policy.json"
"""Decoding settings saved beside the model, so a checkpoint plays as it was trained."""


@dataclasses.dataclass
class Completion:
    """One sampled answer.

    ``decisions`` lists, for each position of ``completion_ids`` where the policy
    chose among several tokens, ``(position, allowed token ids or None for the whole
    vocabulary)``; ``logprobs`` holds the sampling log-probability at each of them.
    Forced positions (one legal continuation) carry no decision and no gradient.
    """

    text: str
    prompt_ids: list[int]
    completion_ids: list[int]
    decisions: list[tuple[int, tuple[int, ...] | None]]
    logprobs: list[float]


@dataclasses.dataclass
class Scores:
    """Decisions scored under a model, flat over all decisions of a batch of completions, in order.

    ``owner[k]`` is the index of the completion decision ``k`` belongs to; ``distributions``
    holds each decision's log-distribution over the vocabulary, ``-inf`` outside ``valid``
    (the tokens that decision could choose).
    """

    logprobs: torch.Tensor
    entropies: torch.Tensor
    owner: torch.Tensor
    distributions: torch.Tensor
    valid: torch.Tensor


def byte_tokenizer() -> Any:
    """A byte-level tokenizer built in code: one token per UTF-8 byte plus ``<pad>``, ``<eos>``, ``<bos>``.

    >>> tok = byte_tokenizer()
    >>> ids = tok("[bet]", add_special_tokens=False)["input_ids"]
    >>> len(ids), tok.decode(ids), len(tok)
    (5, '[bet]', 259)
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    core = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        clean_up_tokenization_spaces=False,
    )
    return tokenizer


def tiny_model(tokenizer: Any, *, layers: int = 2, dim: int = 64, heads: int = 4, context: int = 256, seed: int = 0):
    """A randomly initialised GPT-2 (``layers`` x ``dim``) for ``tokenizer``, built in code, dropout off."""
    from transformers import GPT2Config, GPT2LMHeadModel

    if dim % heads:
        raise ValueError(f"tiny model dim ({dim}) must be a multiple of heads ({heads}); e.g. dim=64, heads=4")
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=context,
        n_embd=dim,
        n_layer=layers,
        n_head=heads,
        activation_function="gelu",  # torch's fused GELU; GPT-2's tanh form is several Python-level ops
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GPT2LMHeadModel(config)


class LMPolicy:
    """A causal LM that plays text envs: prompt building, batched sampling, log-probabilities.

    Args:
        model, tokenizer: a transformers causal LM and its tokenizer.
        layout: ``"observation"``: the env's text observation (with the model's chat
            template when it has one); ``"state"``: ``env | role | information-state key``,
            a compact prompt for models that cannot read English (the tiny model).
        constrained: decode over the legal answers when the env lists them (free
            sampling otherwise, and for envs that list none).
        max_new_tokens: budget of a free completion.
        context: the most prompt tokens kept (the tail; the newest state is at the end).
        temperature: sampling temperature, used identically when log-probabilities are recomputed.
        system_prompt: prepended as a system message when a chat template is used.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        layout: str = "observation",
        constrained: bool = True,
        max_new_tokens: int = 256,
        context: int = 2048,
        temperature: float = 1.0,
        system_prompt: str | None = None,
    ) -> None:
        if layout not in PROMPT_LAYOUTS:
            raise ValueError(f"unknown prompt layout {layout!r}; valid: {list(PROMPT_LAYOUTS)}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.layout = layout
        self.constrained = constrained
        self.max_new_tokens = max_new_tokens
        self.context = context
        self.temperature = temperature
        self.system_prompt = system_prompt
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.source: dict[str, Any] = {}
        """Where the weights came from (``model``, ``gguf_file``, ``lora``), saved with checkpoints."""
        self._trie_memo: dict[tuple[str, ...], dict] = {}
        self._prompt_memo: dict[str, list[int]] = {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # --- prompts -------------------------------------------------------------------------------
    def prompt(self, env_id: str, observation: str, info: dict[str, Any]) -> str:
        """The prompt text for one turn, per :attr:`layout`."""
        if self.layout == "state" and isinstance(info.get(STATE_KEY), str):
            return f"{env_id.rpartition('/')[2]}|{info.get(ROLE, '')}|{info[STATE_KEY]}|"
        if self.layout == "state":
            # No readable information state (e.g. a hashed TextArena key): the text it is, then.
            return f"{info.get(ROLE, '')}|{observation}|"
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
            messages.append({"role": "user", "content": observation})
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return observation

    def encode_prompt(self, prompt: str) -> list[int]:
        ids = self._prompt_memo.get(prompt)
        if ids is None:
            ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"][-self.context :]
            if len(self._prompt_memo) > 100_000:
                self._prompt_memo.clear()
            self._prompt_memo[prompt] = ids
        return ids

    # --- sampling ------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        prompts: Sequence[str],
        legal: Sequence[Sequence[str] | None],
        generator: torch.Generator,
        answer_format: Sequence[AnswerFormat] | None = None,
    ) -> list[Completion]:
        """One completion per prompt; ``legal[i]`` is the list of legal answers or ``None``."""
        out: list[Completion | None] = [None] * len(prompts)
        guided = [i for i in range(len(prompts)) if self.constrained and legal[i]]
        free = [i for i in range(len(prompts)) if not (self.constrained and legal[i])]
        if guided:
            for i, c in zip(
                guided,
                self._sample_constrained([prompts[i] for i in guided], [legal[i] for i in guided], generator),
                strict=True,
            ):
                out[i] = c
        # Free rows are sampled in groups that share their stop strings: generate() stops every row at
        # any of the batch's stop strings, so one env's closing mark must not cut another env's reply.
        groups: dict[tuple[str, ...], list[int]] = {}
        for i in free:
            fmt = answer_format[i] if answer_format else AnswerFormat.named("bracket")
            groups.setdefault(fmt.stops, []).append(i)
        for stops, rows in groups.items():
            for i, c in zip(rows, self._sample_free([prompts[i] for i in rows], stops, generator), strict=True):
                out[i] = c
        return out  # type: ignore[return-value]

    def _trie(self, answers: Sequence[str]) -> dict:
        key = tuple(answers)
        trie = self._trie_memo.get(key)
        if trie is None:
            trie = {}
            eos = self.tokenizer.eos_token_id
            for answer in answers:
                node = trie
                for token in [*self.tokenizer(answer, add_special_tokens=False)["input_ids"], eos]:
                    node = node.setdefault(token, {})
            if len(self._trie_memo) > 10_000:
                self._trie_memo.clear()
            self._trie_memo[key] = trie
        return trie

    def _sample_constrained(
        self, prompts: Sequence[str], legal: Sequence[Sequence[str]], generator: torch.Generator
    ) -> list[Completion]:
        prompt_ids = [self.encode_prompt(p) for p in prompts]
        nodes = [self._trie(answers) for answers in legal]
        completions: list[list[int]] = [[] for _ in prompts]
        decisions: list[list[tuple[int, tuple[int, ...]]]] = [[] for _ in prompts]
        logprobs: list[list[float]] = [[] for _ in prompts]
        while True:
            active = []
            for i, node in enumerate(nodes):
                while len(node) == 1:  # forced: no choice, no forward pass
                    ((token, node),) = node.items()
                    completions[i].append(token)
                nodes[i] = node
                if node:
                    active.append(i)
            if not active:
                break
            logits = self._last_logits([prompt_ids[i] + completions[i] for i in active])
            allowed = [tuple(nodes[i]) for i in active]
            width = max(len(a) for a in allowed)
            index = torch.tensor([a + (a[0],) * (width - len(a)) for a in allowed], device=logits.device)
            valid = torch.tensor([[j < len(a) for j in range(width)] for a in allowed], device=logits.device)
            sub = (logits.gather(1, index).float() / self.temperature).masked_fill(~valid, -math.inf)
            logp = torch.log_softmax(sub, dim=-1)
            picks = torch.multinomial(logp.exp(), 1, generator=generator)
            picked_logp = logp.gather(1, picks).squeeze(1).tolist()
            for row, (i, pick) in enumerate(zip(active, picks.squeeze(1).tolist(), strict=True)):
                token = allowed[row][pick]
                decisions[i].append((len(completions[i]), allowed[row]))
                logprobs[i].append(picked_logp[row])
                completions[i].append(token)
                nodes[i] = nodes[i][token]
        eos = self.tokenizer.eos_token_id
        return [
            Completion(
                text=self.tokenizer.decode([t for t in completions[i] if t != eos]),
                prompt_ids=prompt_ids[i],
                completion_ids=completions[i],
                decisions=list(decisions[i]),
                logprobs=logprobs[i],
            )
            for i in range(len(prompts))
        ]

    def _last_logits(self, sequences: Sequence[Sequence[int]]) -> torch.Tensor:
        """Next-token logits after each sequence."""
        return self._logits_at(self.model, sequences, [(i, len(s) - 1) for i, s in enumerate(sequences)])

    def _logits_at(
        self, model: Any, sequences: Sequence[Sequence[int]], positions: Sequence[tuple[int, int]]
    ) -> torch.Tensor:
        """Logits at ``positions`` (``(sequence index, token index)`` pairs), one row per pair.

        Identical sequences are run once (self-play batches repeat the same few positions many
        times; gradients still flow to every use), the batch is right-padded (causal, so padding
        is never attended), and the output layer is applied only at the requested positions.
        """
        unique: dict[tuple[int, ...], int] = {}
        inverse = [unique.setdefault(tuple(s), len(unique)) for s in sequences]
        ids, lengths = self._pad(list(unique))
        mask = (torch.arange(ids.shape[1], device=ids.device) < lengths[:, None]).long()
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True, logits_to_keep=1)
        hidden = out.hidden_states[-1]
        rows = torch.tensor([inverse[i] for i, _ in positions], device=hidden.device)
        cols = torch.tensor([p for _, p in positions], device=hidden.device)
        return model.get_output_embeddings()(hidden[rows, cols])

    def _pad(self, sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = torch.tensor([len(s) for s in sequences])
        ids = torch.full((len(sequences), int(lengths.max())), self.tokenizer.pad_token_id, dtype=torch.long)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        return ids.to(self.device), lengths.to(self.device)

    def _sample_free(
        self, prompts: Sequence[str], stops: Sequence[str], generator: torch.Generator
    ) -> list[Completion]:
        """Free-form completions that end at EOS, at ``max_new_tokens``, or right after one of ``stops``."""
        prompt_ids = [self.encode_prompt(p) for p in prompts]
        eos = self._end_ids()
        closers = set(stops)
        width = max(len(p) for p in prompt_ids)
        ids = torch.full((len(prompts), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, seq in enumerate(prompt_ids):  # left padding: every prompt ends where generation starts
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        # Sampling draws from torch's global generator inside generate(); seed it from ours so runs repeat.
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=True,
                temperature=self.temperature,
                top_k=0,
                top_p=1.0,
                # Override sampling knobs a model's generation_config.json may set: the recorded
                # log-probabilities must be those of softmax(logits / temperature), as in score().
                min_p=None,
                typical_p=1.0,
                repetition_penalty=1.0,
                no_repeat_ngram_size=0,
                max_new_tokens=self.max_new_tokens,
                stop_strings=sorted(closers) or None,
                tokenizer=self.tokenizer,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=eos,
                return_dict_in_generate=True,
                output_scores=True,
            )
        new = out.sequences[:, width:]
        scores = torch.stack(out.scores, dim=1).float()  # (batch, steps, vocab), temperature applied
        logp = torch.log_softmax(scores, dim=-1).gather(-1, new.unsqueeze(-1)).squeeze(-1)
        completions = []
        for row in range(len(prompts)):
            tokens = new[row].tolist()
            tokens = tokens[: self._sampled_length(tokens, eos, closers)]  # generate() pads finished rows
            text = self.tokenizer.decode([t for t in tokens if t not in eos], skip_special_tokens=True)
            completions.append(
                Completion(
                    text=text,
                    prompt_ids=prompt_ids[row],
                    completion_ids=tokens,
                    decisions=[(j, None) for j in range(len(tokens))],
                    logprobs=[float(x) for x in logp[row, : len(tokens)]],
                )
            )
        return completions

    def _end_ids(self) -> list[int]:
        """The tokens that end a free completion: the tokenizer's EOS and the model's own (chat models often
        end a turn with a token other than the tokenizer's EOS, listed in their ``generation_config``)."""
        ids = [self.tokenizer.eos_token_id]
        extra = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for token in extra if isinstance(extra, (list, tuple)) else [extra]:
            if token is not None and token not in ids:
                ids.append(int(token))
        return ids

    def _sampled_length(self, tokens: list[int], eos: Sequence[int], closers: set[str]) -> int:
        """How many of ``tokens`` (one row of ``generate``'s output) were sampled.

        A row ends at its first EOS or at the first token that completes a closing mark (the
        stop strings); ``generate`` fills the rest of the batch's width with the pad token, which
        must not count as a decision (the pad token may or may not be EOS).
        """
        end = next((j + 1 for j, t in enumerate(tokens) if t in eos), len(tokens))

        def closed(n: int) -> bool:
            text = self.tokenizer.decode(tokens[:n], skip_special_tokens=True)
            return any(closer in text for closer in closers)

        if not closed(end):
            return end
        low, high = 1, end  # the shortest prefix holding a closing mark (a prefix's text only grows)
        while low < high:
            middle = (low + high) // 2
            if closed(middle):
                high = middle
            else:
                low = middle + 1
        return low

    # --- training ------------------------------------------------------------------------------
    def score(self, completions: Sequence[Completion], *, model: Any = None) -> Scores:
        """Every decision of ``completions`` under the model, with gradients (see :class:`Scores`).

        ``model`` defaults to the policy's own; pass another (a reference, a magnet) to score
        the same decisions under it.
        """
        model = self.model if model is None else model
        sequences = [c.prompt_ids + c.completion_ids for c in completions]
        positions, chosen, allowed_lists, owner = [], [], [], []
        for k, c in enumerate(completions):
            start = len(c.prompt_ids) - 1  # logits at position t predict token t + 1
            for position, allowed in c.decisions:
                positions.append((k, start + position))
                chosen.append(c.completion_ids[position])
                allowed_lists.append(allowed)
                owner.append(k)
        device = self.device
        if not positions:
            empty = torch.zeros(0, device=device)
            return Scores(
                empty, empty, torch.zeros(0, dtype=torch.long, device=device), empty.view(0, 1), empty.view(0, 1).bool()
            )
        picked = self._logits_at(model, sequences, positions).float() / self.temperature
        # One mask over the vocabulary per decision: the allowed tokens of a constrained decision,
        # everything for a free one, so both kinds share a batch (and a KL term).
        valid = torch.ones_like(picked, dtype=torch.bool)
        constrained_rows = [r for r, allowed in enumerate(allowed_lists) if allowed is not None]
        if constrained_rows:
            valid[constrained_rows] = False
            for r in constrained_rows:
                valid[r, list(allowed_lists[r])] = True  # type: ignore[arg-type]
        logp_all = torch.log_softmax(picked.masked_fill(~valid, -math.inf), dim=-1)
        target = torch.tensor(chosen, device=device)
        logprobs = logp_all.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        entropies = -(logp_all.exp() * logp_all.masked_fill(~valid, 0.0)).sum(-1)
        return Scores(logprobs, entropies, torch.tensor(owner, device=device), logp_all, valid)

    @torch.no_grad()
    def answer_probabilities(self, prompts: Sequence[str], legal: Sequence[Sequence[str]]) -> list[dict[str, float]]:
        """The exact probability of each legal answer under constrained decoding (for exploitability).

        The product of the masked next-token probabilities along each answer's path in
        the trie, i.e. the distribution :meth:`sample` draws from; the answers' probabilities sum to 1.
        """
        prompt_ids = [self.encode_prompt(prompt) for prompt in prompts]
        eos = self.tokenizer.eos_token_id
        probs: list[dict[str, float]] = [{} for _ in prompts]
        # Breadth-first over the tries' branching nodes, all prompts together: one batched forward per depth.
        frontier = [(i, [], self._trie(answers), 1.0) for i, answers in enumerate(legal)]
        while frontier:
            branching = []
            for i, path, node, p in frontier:
                while len(node) == 1:
                    ((token, node),) = node.items()
                    path = [*path, token]
                if node:
                    branching.append((i, path, node, p))
                else:
                    text = self.tokenizer.decode([t for t in path if t != eos])
                    probs[i][text] = probs[i].get(text, 0.0) + p
            frontier = []
            for start in range(0, len(branching), 256):
                chunk = branching[start : start + 256]
                logits = self._last_logits([prompt_ids[i] + path for i, path, _, _ in chunk])
                for row, (i, path, node, p) in enumerate(chunk):
                    allowed = list(node)
                    q = torch.softmax(logits[row, allowed].double() / self.temperature, dim=-1)
                    frontier.extend((i, [*path, t], node[t], p * float(q[j])) for j, t in enumerate(allowed))
        return [{a: found.get(a, 0.0) for a in answers} for found, answers in zip(probs, legal, strict=True)]

    @torch.no_grad()
    def sequence_probabilities(
        self, prompts: Sequence[str], legal: Sequence[Sequence[str]], batch_size: int = 64
    ) -> list[dict[str, float]]:
        """Each legal answer's probability as a free-form continuation, normalised over the legal answers.

        The probability that the model (at its sampling temperature) starts its completion with the
        answer's tokens, as the tokenizer writes the answer; other spellings of the same move are not
        counted. For models that answer free-form, where :meth:`answer_probabilities` does not apply.
        """
        rows: list[tuple[int, str, list[int], int]] = []  # (prompt index, answer, sequence, prompt length)
        for i, (prompt, answers) in enumerate(zip(prompts, legal, strict=True)):
            prompt_ids = self.encode_prompt(prompt)
            for answer in answers:
                answer_ids = self.tokenizer(answer, add_special_tokens=False)["input_ids"]
                rows.append((i, answer, prompt_ids + answer_ids, len(prompt_ids)))
        logps: list[float] = []
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            positions = [(k, t - 1) for k, (_, _, seq, n) in enumerate(chunk) for t in range(n, len(seq))]
            targets = [seq[t] for _, _, seq, n in chunk for t in range(n, len(seq))]
            logits = self._logits_at(self.model, [seq for _, _, seq, _ in chunk], positions).double()
            token_logp = torch.log_softmax(logits / self.temperature, dim=-1)
            token_logp = token_logp.gather(-1, torch.tensor(targets, device=logits.device)[:, None]).squeeze(-1)
            owner = torch.tensor([k for k, (_, _, seq, n) in enumerate(chunk) for _ in range(n, len(seq))])
            totals = torch.zeros(len(chunk), dtype=torch.float64).index_add_(0, owner, token_logp.cpu())
            logps.extend(totals.tolist())
        results: list[dict[str, float]] = [{} for _ in prompts]
        for (i, answer, _, _), logp in zip(rows, logps, strict=True):
            results[i][answer] = logp
        for i, table in enumerate(results):
            if table:
                top = max(table.values())
                weights = {a: math.exp(v - top) for a, v in table.items()}
                total = sum(weights.values())
                results[i] = {a: w / total for a, w in weights.items()}
        return results

    # --- persistence -----------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "constrained": self.constrained,
            "max_new_tokens": self.max_new_tokens,
            "context": self.context,
            "temperature": self.temperature,
            "system_prompt": self.system_prompt,
            "source": self.source,
        }

    def save(self, directory: str | Path) -> None:
        """Save model, tokenizer and decoding settings so :func:`load_policy` rebuilds this policy."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with _quiet_transformers():
            if self.source.get("lora"):
                self.model.save_pretrained(
                    directory / "adapter"
                )  # the adapter; the base model's path is in the settings
            else:
                self.model.save_pretrained(directory)
            self.tokenizer.save_pretrained(directory)
        (directory / POLICY_FILE).write_text(json.dumps(self.settings(), indent=2) + "\n")


@contextlib.contextmanager
def _quiet_transformers():
    """No per-file progress bars from transformers while checkpoints are written or read."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def build_policy(config: Any, device: torch.device | str = "cpu") -> LMPolicy:
    """The policy a :class:`~gym_reason.trainer.config.SelfPlayConfig` asks for, on ``device``."""
    if config.tiny():
        tokenizer = byte_tokenizer()
        context = min(config.context, 512)
        model = tiny_model(
            tokenizer,
            layers=config.tiny_layers,
            dim=config.tiny_dim,
            heads=config.tiny_heads,
            context=context + config.max_new_tokens,
            seed=config.seed,
        )
        source: dict[str, Any] = {"model": None}
    else:
        model, tokenizer = load_causal_lm(config.model, config.gguf_file)
        context = config.context
        source = {"model": str(Path(config.model).resolve()), "gguf_file": config.gguf_file, "lora": config.lora}
        if config.lora:
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(
                model,
                LoraConfig(
                    r=config.lora_rank,
                    lora_alpha=2 * config.lora_rank,
                    target_modules="all-linear",
                    task_type="CAUSAL_LM",
                ),
            )
    model.to(device).eval()
    policy = LMPolicy(
        model,
        tokenizer,
        layout=config.prompt_layout(),
        constrained=config.decode_constrained(),
        max_new_tokens=config.max_new_tokens,
        context=context,
        temperature=config.temperature,
        system_prompt=config.system_prompt,
    )
    policy.source = source
    return policy


def load_causal_lm(path: str | Path, gguf_file: str | None = None) -> tuple[Any, Any]:
    """A local transformers causal LM and its tokenizer (no download: ``local_files_only``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"model path {str(path)!r} is not a folder; give a local transformers model folder "
            "(config.json + weights) or a folder holding a GGUF file with --gguf-file NAME"
        )
    kwargs: dict[str, Any] = {"local_files_only": True}
    if gguf_file:
        if not (path / gguf_file).is_file():
            found = sorted(p.name for p in path.glob("*.gguf"))
            raise FileNotFoundError(f"no GGUF file {gguf_file!r} in {str(path)!r}; found: {found}")
        kwargs["gguf_file"] = gguf_file
    with _quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model_kwargs = dict(kwargs)
        if gguf_file:
            try:  # newer transformers keep GGUF blocks packed (frozen, unsaveable) unless told to unpack
                from transformers import GgufConfig

                model_kwargs["quantization_config"] = GgufConfig(dequantize=True)
            except ImportError:  # older ones always de-quantise
                pass
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **model_kwargs)
        if getattr(model, "hf_quantizer", None) is not None:
            model = _plain_copy(model)
    return model, tokenizer


def _plain_copy(model: Any) -> Any:
    """The same weights in a fresh model with no quantizer attached (one ``save_pretrained`` accepts).

    A model loaded from a GGUF file keeps its GGUF quantizer even when every weight was
    de-quantised to dense float32, and ``save_pretrained`` refuses any non-serialisable quantizer.
    """
    import copy

    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(model.config)
    config.__dict__.pop("quantization_config", None)
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(model.state_dict(), strict=True)
    fresh.generation_config = model.generation_config
    return fresh


def load_policy(directory: str | Path, device: torch.device | str = "cpu") -> LMPolicy:
    """Rebuild a policy saved by :meth:`LMPolicy.save` (a training checkpoint or a run's final folder)."""
    directory = Path(directory)
    settings_file = directory / POLICY_FILE
    if not settings_file.is_file():
        raise FileNotFoundError(f"{str(directory)!r} holds no gym-reason policy ({POLICY_FILE} missing)")
    settings = json.loads(settings_file.read_text())
    source = settings.pop("source", {}) or {}
    if source.get("lora"):
        from peft import PeftModel

        base, tokenizer = load_causal_lm(source["model"], source.get("gguf_file"))
        model = PeftModel.from_pretrained(base, directory / "adapter")
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True)
    model.to(device).eval()
    policy = LMPolicy(model, tokenizer, **settings)
    policy.source = source
    return policy


def legal_answers(info: dict[str, Any]) -> list[str] | None:
    """The env's legal answers for this turn, or ``None`` when it lists none."""
    legal = info.get(LEGAL_ACTIONS)
    return list(legal) if legal else None
