"""TicTacToe: rules (``rules.py``), text (``template.py``) and fixed bots (``bots.py``), registered here."""

from gym_reason.envs.game_env import GameEnv
from gym_reason.envs.games.tic_tac_toe.bots import TicTacToeMinimax, TicTacToeOnePly
from gym_reason.envs.games.tic_tac_toe.rules import TicTacToe
from gym_reason.envs.games.tic_tac_toe.template import TicTacToeTemplate
from gym_reason.registry import register

register(
    id="gym_reason/TicTacToe-v0",
    entry_point=GameEnv.factory(
        TicTacToe,
        TicTacToeTemplate,
        bots={"minimax": TicTacToeMinimax, "heuristic": TicTacToeOnePly},
        strongest_bot="minimax",
    ),
    alias="tic_tac_toe",
    description="TicTacToe on a 3x3 board, cells numbered 0-8",
)
