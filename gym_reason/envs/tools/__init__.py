"""Tool-calling task envs: ``ToolUse`` (calculator, conversions, calendar, table look-ups) and the base
class the SQL env shares (:mod:`gym_reason.envs.tools.base`)."""
