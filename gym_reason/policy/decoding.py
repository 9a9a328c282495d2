"""Decoding: one sampled completion per prompt, for a whole batch at once, with its log-probabilities.

Two modes:

* **constrained**: the completion is one of the env's legal answers (``info["legal_actions"]``).
  The legal answers are tokenised into a trie (:func:`answer_trie`); at each position the
  next-token distribution is masked to the trie's children and renormalised. Positions with a
  single child are forced and cost no forward pass, so a Kuhn Poker decision (``[check]`` vs
  ``[bet]``) is one model call and one sampled token. The recorded log-probability is that of
  the masked distribution, which is exactly the distribution that was sampled. Scoring each
  legal string by its unmasked log-probability instead is length-biased (a short answer is many
  nats likelier at random init) and does not learn.
* **free**: ordinary sampling of up to ``max_new_tokens`` tokens (``generate``), stopping at the
  answer format's closing mark or EOS. Real LMs think, then answer.

The functions take the :class:`~gym_reason.policy.lm_policy.LMPolicy` whose model, tokenizer,
temperature and memos they use; :meth:`LMPolicy.sample` is the entry point.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from gym_reason.core import AnswerFormat
from gym_reason.policy.forward import last_logits

if TYPE_CHECKING:
    from gym_reason.policy.lm_policy import LMPolicy


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


def answer_trie(tokenizer: Any, answers: Sequence[str]) -> dict:
    """The answers' token sequences, each ended by EOS, as nested ``{token: subtree}`` dicts (a leaf is ``{}``)."""
    trie: dict = {}
    eos = tokenizer.eos_token_id
    for answer in answers:
        node = trie
        for token in [*tokenizer(answer, add_special_tokens=False)["input_ids"], eos]:
            node = node.setdefault(token, {})
    return trie


@torch.no_grad()
def sample(
    policy: LMPolicy,
    prompts: Sequence[str],
    legal: Sequence[Sequence[str] | None],
    generator: torch.Generator,
    answer_format: Sequence[AnswerFormat] | None = None,
) -> list[Completion]:
    """One completion per prompt; ``legal[i]`` is the list of legal answers or ``None``.

    Rows with legal answers are decoded constrained when the policy is; the others are sampled
    free, stopping at their own answer format's closing mark (bracket format when none is given).
    """
    out: list[Completion | None] = [None] * len(prompts)
    guided = [i for i in range(len(prompts)) if policy.constrained and legal[i]]
    free = [i for i in range(len(prompts)) if not (policy.constrained and legal[i])]
    if guided:
        rows = _sample_constrained(policy, [prompts[i] for i in guided], [legal[i] for i in guided], generator)
        for i, c in zip(guided, rows, strict=True):
            out[i] = c
    # Free rows are sampled in groups that share their stop strings: generate() stops every row at
    # any of the batch's stop strings, so one env's closing mark must not cut another env's reply.
    groups: dict[tuple[str, ...], list[int]] = {}
    for i in free:
        fmt = answer_format[i] if answer_format else AnswerFormat.named("bracket")
        groups.setdefault(fmt.stops, []).append(i)
    for stops, rows in groups.items():
        for i, c in zip(rows, _sample_free(policy, [prompts[i] for i in rows], stops, generator), strict=True):
            out[i] = c
    return out  # type: ignore[return-value]


def _sample_constrained(
    policy: LMPolicy, prompts: Sequence[str], legal: Sequence[Sequence[str]], generator: torch.Generator
) -> list[Completion]:
    """One legal answer per prompt, drawn token by token from the masked distribution along its trie."""
    tokenizer = policy.tokenizer
    prompt_ids = [policy.encode_prompt(p) for p in prompts]
    nodes = [policy.answer_trie(answers) for answers in legal]
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
        logits = last_logits(policy.model, [prompt_ids[i] + completions[i] for i in active], tokenizer.pad_token_id)
        allowed = [tuple(nodes[i]) for i in active]
        width = max(len(a) for a in allowed)
        index = torch.tensor([a + (a[0],) * (width - len(a)) for a in allowed], device=logits.device)
        valid = torch.tensor([[j < len(a) for j in range(width)] for a in allowed], device=logits.device)
        sub = (logits.gather(1, index).float() / policy.temperature).masked_fill(~valid, -math.inf)
        logp = torch.log_softmax(sub, dim=-1)
        picks = torch.multinomial(logp.exp(), 1, generator=generator)
        picked_logp = logp.gather(1, picks).squeeze(1).tolist()
        for row, (i, pick) in enumerate(zip(active, picks.squeeze(1).tolist(), strict=True)):
            token = allowed[row][pick]
            decisions[i].append((len(completions[i]), allowed[row]))
            logprobs[i].append(picked_logp[row])
            completions[i].append(token)
            nodes[i] = nodes[i][token]
    eos = tokenizer.eos_token_id
    return [
        Completion(
            text=tokenizer.decode([t for t in completions[i] if t != eos]),
            prompt_ids=prompt_ids[i],
            completion_ids=completions[i],
            decisions=list(decisions[i]),
            logprobs=logprobs[i],
        )
        for i in range(len(prompts))
    ]


def _sample_free(
    policy: LMPolicy, prompts: Sequence[str], stops: Sequence[str], generator: torch.Generator
) -> list[Completion]:
    """Free-form completions that end at EOS, at ``max_new_tokens``, or right after one of ``stops``."""
    tokenizer, model, device = policy.tokenizer, policy.model, policy.device
    prompt_ids = [policy.encode_prompt(p) for p in prompts]
    eos = _end_ids(model, tokenizer)
    closers = set(stops)
    width = max(len(p) for p in prompt_ids)
    ids = torch.full((len(prompts), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, seq in enumerate(prompt_ids):  # left padding: every prompt ends where generation starts
        ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
        mask[row, width - len(seq) :] = 1
    ids, mask = ids.to(device), mask.to(device)
    # Sampling draws from torch's global generator inside generate(); seed it from ours so runs repeat.
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=True,
            temperature=policy.temperature,
            top_k=0,
            top_p=1.0,
            # Override sampling knobs a model's generation_config.json may set: the recorded
            # log-probabilities must be those of softmax(logits / temperature), as in score().
            min_p=None,
            typical_p=1.0,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            max_new_tokens=policy.max_new_tokens,
            stop_strings=sorted(closers) or None,
            tokenizer=tokenizer,
            pad_token_id=tokenizer.pad_token_id,
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
        tokens = tokens[: _sampled_length(tokenizer, tokens, eos, closers)]  # generate() pads finished rows
        text = tokenizer.decode([t for t in tokens if t not in eos], skip_special_tokens=True)
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


def _end_ids(model: Any, tokenizer: Any) -> list[int]:
    """The tokens that end a free completion: the tokenizer's EOS and the model's own (chat models often
    end a turn with a token other than the tokenizer's EOS, listed in their ``generation_config``)."""
    ids = [tokenizer.eos_token_id]
    extra = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for token in extra if isinstance(extra, (list, tuple)) else [extra]:
        if token is not None and token not in ids:
            ids.append(int(token))
    return ids


def _sampled_length(tokenizer: Any, tokens: list[int], eos: Sequence[int], closers: set[str]) -> int:
    """How many of ``tokens`` (one row of ``generate``'s output) were sampled.

    A row ends at its first EOS or at the first token that completes a closing mark (the
    stop strings); ``generate`` fills the rest of the batch's width with the pad token, which
    must not count as a decision (the pad token may or may not be EOS).
    """
    end = next((j + 1 for j, t in enumerate(tokens) if t in eos), len(tokens))

    def closed(n: int) -> bool:
        text = tokenizer.decode(tokens[:n], skip_special_tokens=True)
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
