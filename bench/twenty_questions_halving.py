"""How many questions ``fixed:halving`` needs in Twenty Questions, against log2(candidates), the least any
strategy of yes/no questions can average over uniformly drawn secrets (within one question of it).

    python bench/twenty_questions_halving.py [--games 200]

Per level and split: mean questions before the guess, mean log2 of the candidate count, their difference,
the win rate, and the random agent's win rate and mean return beside it.
"""

from __future__ import annotations

import argparse
import math
import statistics

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.core import OUTCOME, REWARD_COMPONENTS
from gym_reason.envs.kg.twenty_questions import universe


def play(env_id: str, split: str, agent_spec: str, games: int) -> dict[str, float]:
    env = gym_reason.make(env_id, split=split)
    agent = make_agent(agent_spec, env, seed=0)
    questions, bounds, wins, returns = [], [], 0, []
    for seed in range(games):
        obs, info = env.reset(seed=seed)
        asked, total = 0, 0.0
        while True:
            obs, reward, terminated, truncated, info = env.step(agent.act([(obs, info)])[0])
            asked += "question_cost" in info[REWARD_COMPONENTS]
            total += reward
            if terminated or truncated:
                break
        questions.append(asked)
        bounds.append(math.log2(len(universe(env.task.universe, split).candidates)))
        wins += info[OUTCOME] == "win"
        returns.append(total)
    return {
        "questions": statistics.mean(questions),
        "log2": statistics.mean(bounds),
        "win": wins / games,
        "return": statistics.mean(returns),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=200)
    args = parser.parse_args()
    print(f"{args.games} games per row (seeds 0..{args.games - 1})")
    print(f"{'env':<26} {'split':<6} {'questions':>9} {'log2(n)':>8} {'excess':>7} {'win':>5} {'return':>7} "
          f"{'random win':>10} {'random return':>13}")  # fmt: skip
    for env_id in (
        "gym_reason/TwentyQuestionsEasy-v0",
        "gym_reason/TwentyQuestionsHard-v0",
        "gym_reason/TwentyQuestionsCities-v0",
    ):
        for split in ("train", "test"):
            halving = play(env_id, split, "fixed:halving", args.games)
            rand = play(env_id, split, "random", args.games)
            print(
                f"{env_id.split('/')[1]:<26} {split:<6} {halving['questions']:>9.2f} {halving['log2']:>8.2f} "
                f"{halving['questions'] - halving['log2']:>7.2f} {halving['win']:>5.2f} {halving['return']:>7.3f} "
                f"{rand['win']:>10.3f} {rand['return']:>13.3f}"
            )


if __name__ == "__main__":
    main()
