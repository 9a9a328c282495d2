"""Language-model policies: models, tokenizers, prompts, decoding, scoring and checkpoint I/O.

The layer both ``agents/`` (an LM as a player) and ``trainer/`` (the policy being trained)
import; it imports neither. One module per job:

* :mod:`.lm_policy`: :class:`LMPolicy`, a model + tokenizer + decoding settings, whose methods call
* :mod:`.prompts`: a turn's prompt text (``state`` / ``observation`` layouts), the legal answers;
* :mod:`.decoding`: batched sampling, constrained to the legal answers (trie) or free (:class:`Completion`);
* :mod:`.scoring`: log-probabilities with gradients (:class:`Scores`), exact answer probabilities;
* :mod:`.forward`: the batched forward pass that returns logits at chosen positions only;
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
from gym_reason.policy.decoding import Completion
from gym_reason.policy.lm_policy import LMPolicy
from gym_reason.policy.prompts import legal_answers
from gym_reason.policy.scoring import Scores
from gym_reason.policy.tiny import byte_tokenizer, tiny_model, tiny_policy

__all__ = [
    "POLICY_FILE",
    "Completion",
    "LMPolicy",
    "Scores",
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
