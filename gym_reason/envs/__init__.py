"""The built-in environments: every game folder of :mod:`gym_reason.envs.games` registers itself
(found by :func:`~gym_reason.envs.games.import_games`, no list to keep), then the code tasks and
the TextArena namespace."""

from gym_reason.envs.games import import_games
from gym_reason.envs.textarena import make_textarena_env
from gym_reason.envs.web.miniwob import register_tasks as register_miniwob_tasks
from gym_reason.registry import register, register_namespace

import_games()
register(
    id="gym_reason/CodeInterpreter-v0",
    entry_point="gym_reason.envs.code.interpreter:CodeInterpreterEnv",
    alias="code_interpreter",
    description="math and counting tasks solved with a sandboxed Python interpreter, then a final [answer]",
)
register(
    id="gym_reason/CodeTests-v0",
    entry_point="gym_reason.envs.code.code_tests:CodeTestsEnv",
    alias="code_tests",
    description="write a Python function until it passes hidden unit tests run in a sandbox",
)
register(
    id="gym_reason/ToolUse-v0",
    entry_point="gym_reason.envs.tools.env:ToolUseEnv",
    alias="tool_use",
    description="questions answered by calling tools (calculator, conversions, calendar, look-ups), levels 1-3",
)
register(
    id="gym_reason/ToolUseEasy-v0",
    entry_point="gym_reason.envs.tools.env:ToolUseEnv",
    kwargs={"difficulty": 1},
    description="ToolUse at level 1 only (one call)",
)
register(
    id="gym_reason/ToolUseMedium-v0",
    entry_point="gym_reason.envs.tools.env:ToolUseEnv",
    kwargs={"difficulty": 2},
    description="ToolUse at level 2 only (two or three calls)",
)
register(
    id="gym_reason/ToolUseHard-v0",
    entry_point="gym_reason.envs.tools.env:ToolUseEnv",
    kwargs={"difficulty": 3},
    description="ToolUse at level 3 only (four to seven dependent calls)",
)
register(
    id="gym_reason/KGNav-v0",
    entry_point="gym_reason.envs.kg.nav:KGNavEnv",
    alias="kg_nav",
    description="multi-hop questions over a geography knowledge graph, walked with tools, 1-4 hops",
)
register(
    id="gym_reason/KGNavEasy-v0",
    entry_point="gym_reason.envs.kg.nav:KGNavEnv",
    kwargs={"difficulty": (1, 2)},
    description="KGNav with 1-2 hops",
)
register(
    id="gym_reason/KGNavHard-v0",
    entry_point="gym_reason.envs.kg.nav:KGNavEnv",
    kwargs={"difficulty": (3, 4)},
    description="KGNav with 3-4 hops",
)
register(
    id="gym_reason/TwentyQuestions-v0",
    entry_point="gym_reason.envs.kg.twenty_questions:TwentyQuestionsEnv",
    alias="twenty_questions",
    description="find a secret country or city with yes/no questions the knowledge graph answers, then one guess",
)
register(
    id="gym_reason/TwentyQuestionsEasy-v0",
    entry_point="gym_reason.envs.kg.twenty_questions:TwentyQuestionsEnv",
    kwargs={"difficulty": 1},
    description="TwentyQuestions among the split's countries of one continent",
)
register(
    id="gym_reason/TwentyQuestionsHard-v0",
    entry_point="gym_reason.envs.kg.twenty_questions:TwentyQuestionsEnv",
    kwargs={"difficulty": 2},
    description="TwentyQuestions among all the split's countries (113 train, 139 test)",
)
register(
    id="gym_reason/TwentyQuestionsCities-v0",
    entry_point="gym_reason.envs.kg.twenty_questions:TwentyQuestionsEnv",
    kwargs={"difficulty": 3},
    description="TwentyQuestions among the split's cities of a million people or more (278 train, 282 test)",
)
register(
    id="gym_reason/WebShop-v0",
    entry_point="gym_reason.envs.web.shop_env:WebShopEnv",
    alias="webshop",
    description="buy what the instruction asks in a local web shop (backend='text' twin or 'browser': Chromium)",
)
register_miniwob_tasks(register)  # gym_reason/MiniWoB-<task>-v0, one per task of envs/web/miniwob.py's TASKS
register(
    id="gym_reason/TextToSQL-v0",
    entry_point="gym_reason.envs.sql.env:TextToSQLEnv",
    alias="text_to_sql",
    description="questions about SQLite databases (shop, school, flights) answered with one SQL query, levels 1-3",
)
register(
    id="gym_reason/TextToSQLEasy-v0",
    entry_point="gym_reason.envs.sql.env:TextToSQLEnv",
    kwargs={"difficulty": 1},
    description="TextToSQL at level 1 only (one table)",
)
register(
    id="gym_reason/TextToSQLMedium-v0",
    entry_point="gym_reason.envs.sql.env:TextToSQLEnv",
    kwargs={"difficulty": 2},
    description="TextToSQL at level 2 only (a join or a grouping)",
)
register(
    id="gym_reason/TextToSQLHard-v0",
    entry_point="gym_reason.envs.sql.env:TextToSQLEnv",
    kwargs={"difficulty": 3},
    description="TextToSQL at level 3 only (three-table joins, nesting, HAVING)",
)
register_namespace(
    "textarena",
    make_textarena_env,
    'any installed TextArena game, e.g. textarena/ConnectFour-v0 (pip install "gym-reason[textarena]")',
)
