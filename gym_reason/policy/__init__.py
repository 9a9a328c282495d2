"""Language-model policies: models, tokenizers, prompts, decoding, scoring and checkpoint I/O.

The layer both ``agents/`` (an LM as a player) and ``trainer/`` (the policy being trained)
import; it imports neither. One module per job:

* :mod:`.lm_policy`: :class:`LMPolicy`, a model + tokenizer + decoding settings, whose methods call
* :mod:`.prompts`: a turn's prompt text (``state`` / ``observation`` layouts), its action grammar;
* :mod:`.decoding`: batched sampling held to the env's action grammar by llguidance, in three
  modes (constrained, think, free) (:class:`Completion`);
* :mod:`.scoring`: log-probabilities with gradients (:class:`Scores`), exact answer probabilities;
* :mod:`.forward`: batched forward passes: hidden states at chosen positions, and next-token
  logits over a KV cache;
* :mod:`.tiny`: the tiny built-in model (byte tokenizer, 2-layer GPT-2), no download;
* :mod:`.checkpoints`: loading local transformers/GGUF models, saving and loading policies,
  finding a run's checkpoints.
"""

from gym_reason.policy.checkpoints import (
    POLICY_FILE,
    latest_checkpoint,
    load_causal_lm,
    load_policy,
    resolve_checkpoint,
    save_policy,
)
from gym_reason.policy.decoding import DECODING_MODES, Completion
from gym_reason.policy.lm_policy import LMPolicy
from gym_reason.policy.prompts import action_grammar, legal_answers
from gym_reason.policy.scoring import Scores
from gym_reason.policy.tiny import byte_tokenizer, tiny_model, tiny_policy

__all__ = [
    "DECODING_MODES",
    "POLICY_FILE",
    "Completion",
    "LMPolicy",
    "Scores",
    "action_grammar",
    "byte_tokenizer",
    "latest_checkpoint",
    "legal_answers",
    "load_causal_lm",
    "load_policy",
    "resolve_checkpoint",
    "save_policy",
    "tiny_model",
    "tiny_policy",
]
