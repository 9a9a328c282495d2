"""The built-in environments. Each is one ``register`` line."""

from gym_reason.envs.game_env import GameEnv
from gym_reason.envs.games.kuhn_poker import KuhnPoker
from gym_reason.envs.games.leduc_holdem import LeducHoldem
from gym_reason.envs.games.simple_negotiation import SimpleNegotiation
from gym_reason.envs.games.tic_tac_toe import TicTacToe
from gym_reason.envs.templates.kuhn_poker import KuhnPokerTemplate
from gym_reason.envs.templates.leduc_holdem import LeducHoldemTemplate
from gym_reason.envs.templates.simple_negotiation import SimpleNegotiationTemplate
from gym_reason.envs.templates.tic_tac_toe import TicTacToeTemplate
from gym_reason.envs.textarena import make_textarena_env
from gym_reason.registry import register, register_namespace

register(
    id="gym_reason/KuhnPoker-v0",
    entry_point=GameEnv.factory(KuhnPoker, KuhnPokerTemplate),
    alias="kuhn_poker",
    description="Kuhn Poker (J/Q/K, ante 1, bets of 1); one hand or a match of num_hands",
)
register(
    id="gym_reason/LeducHoldem-v0",
    entry_point=GameEnv.factory(LeducHoldem, LeducHoldemTemplate),
    alias="leduc_holdem",
    description="Leduc Hold'em: two suits of J/Q/K, two betting rounds, a public card (OpenSpiel's leduc_poker)",
)
register(
    id="gym_reason/TicTacToe-v0",
    entry_point=GameEnv.factory(TicTacToe, TicTacToeTemplate),
    alias="tic_tac_toe",
    description="TicTacToe on a 3x3 board, cells numbered 0-8",
)
register(
    id="gym_reason/SimpleNegotiation-v0",
    entry_point=GameEnv.factory(SimpleNegotiation, SimpleNegotiationTemplate),
    alias="simple_negotiation",
    description="Simple Negotiation: trade five resources valued privately; the bigger value gain wins",
)
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
register_namespace(
    "textarena",
    make_textarena_env,
    'any installed TextArena game, e.g. textarena/ConnectFour-v0 (pip install "gym-reason[textarena]")',
)
