"""Code environments: a Python tool for reasoning tasks, and functions written against hidden tests.

* :mod:`~gym_reason.envs.code.interpreter`: ``gym_reason/CodeInterpreter-v0``, procedural tasks
  (:mod:`~gym_reason.envs.code.tasks`) solved with a persistent sandboxed interpreter;
* :mod:`~gym_reason.envs.code.code_tests`: ``gym_reason/CodeTests-v0``, the problem set of
  :mod:`~gym_reason.envs.code.problems` judged by :mod:`~gym_reason.envs.code.harness`;
* :mod:`~gym_reason.envs.code.replies`: reading code blocks out of a reply (shared).

Both run model code only through a :mod:`gym_reason.sandboxes` backend (``bwrap`` by default).
"""
