"""Hidden Roles: rules (``rules.py``), text (``template.py``) and fixed bots (``bots.py``), registered here."""

from gym_reason.envs.game_env import GameEnv
from gym_reason.envs.games.hidden_roles.bots import HiddenRolesRules
from gym_reason.envs.games.hidden_roles.rules import HiddenRoles
from gym_reason.envs.games.hidden_roles.template import HiddenRolesTemplate
from gym_reason.registry import register

register(
    id="gym_reason/HiddenRoles-v0",
    entry_point=GameEnv.factory(
        HiddenRoles, HiddenRolesTemplate, bots={"rules": HiddenRolesRules}, strongest_bot="rules"
    ),
    alias="hidden_roles",
    description="Hidden Roles: Avalon-like social deduction for 5-7 players (hidden team, proposals, votes, talk)",
)
