"""TwentyQuestions' Guess Who variant (``board=True``): the board of candidates still possible, its state key
and the action grammar that lists, turn by turn, the questions that split the board and the candidates on it."""

from __future__ import annotations

import pytest

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.checker import check_env
from gym_reason.core import ACTION_GRAMMAR, STATE_KEY
from gym_reason.envs.kg.twenty_questions import board_grammar, universe
from gym_reason.envs.tool_calls import ToolCall
from gym_reason.grammar import accepts

EASY = "gym_reason/TwentyQuestionsEasy-v0"


def reply(name: str, **arguments: str) -> str:
    return "[" + ToolCall(name, arguments).to_json() + "]"


def board_of(key: str) -> list[str]:
    count, names, *_ = key.split("|")
    left = names.split("; ")
    assert int(count) == len(left)
    return left


def test_the_board_key_is_the_candidates_consistent_with_every_answer():
    env = gym_reason.make(EASY, board=True, split="test").unwrapped
    halving = make_agent("fixed:halving", env, seed=0)
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        world = universe(env.task.universe, env.task.split)
        assert board_of(info[STATE_KEY]) == list(world.candidates)
        assert info[STATE_KEY].endswith(f"|q20|t24|{env.task.universe}:test")
        sizes = [len(world.candidates)]
        while True:
            obs, _, terminated, truncated, info = env.step(halving.act([(obs, info)])[0])
            if terminated or truncated:
                break
            left = board_of(info[STATE_KEY])
            # exactly the candidates whose answers agree with the secret's, on every question asked so far
            expected = [
                c
                for c in world.candidates
                if all(p.holds(env.graph, c) == yes for p, yes in env._episode.progress.asked)
            ]
            assert left == expected and env.task.secret in left
            assert f"Board: {len(left)} candidate(s) still possible: {'; '.join(left)}." in obs
            sizes.append(len(left))
        assert sizes[-1] == 1 and sizes == sorted(sizes, reverse=True) and sizes[0] > 1
        assert terminated and info["outcome"].value == "win"


def test_equal_board_keys_are_equal_states_whatever_the_path():
    """Two orders of the same two questions reach one key (the key forgets the order, which no future depends on),
    and a tool error (a turn spent, no answer) changes it."""
    env = gym_reason.make(EASY, board=True).unwrapped
    keys = []
    for first, second in (("population > 1000000", "area > 100000"), ("area > 100000", "population > 1000000")):
        env.reset(seed=4)
        env.step(reply("ask", question=first))
        *_, info = env.step(reply("ask", question=second))
        keys.append(info[STATE_KEY])
    assert keys[0] == keys[1]
    env.reset(seed=4)
    *_, info = env.step(reply("ask", question="is it big"))
    assert info["reward_components"] == {"tool_error": -0.05}
    assert info[STATE_KEY].split("|")[2:4] == ["q20", "t23"]


def test_the_default_variant_keeps_its_key_and_free_question_grammar():
    plain, board = gym_reason.make(EASY).unwrapped, gym_reason.make(EASY, board=True).unwrapped
    _, info = plain.reset(seed=1)
    _, board_info = board.reset(seed=1)
    assert "Board:" not in plain._observation() and "|" in info[STATE_KEY] and not info[STATE_KEY][:2].isdigit()
    assert info[ACTION_GRAMMAR] != board_info[ACTION_GRAMMAR]


def test_the_board_grammar_holds_replies_to_questions_that_split_the_board_and_to_its_candidates():
    world = universe("Europe", "train")
    bracket = gym_reason.make(EASY).unwrapped.answer_format
    grammar = board_grammar("Europe", "train", world.full, bracket)
    assert all(accepts(grammar, reply("guess", entity=c)) for c in world.candidates)
    assert all(accepts(grammar, reply("ask", question=q.text)) for q in world.questions[1::7])
    assert not accepts(grammar, reply("ask", question="continent = Europe"))  # listed, but every candidate says yes
    assert not accepts(grammar, reply("guess", entity="Albania"))  # a test-split country: not a candidate here
    assert not accepts(grammar, reply("ask", question="population > 50 million"))  # readable, but not a listed question
    assert not accepts(grammar, reply("ask", question="Belgium"))
    # after "borders Germany? yes": only Germany's neighbours stay on the board, and only questions splitting them
    borders = next(q for q in world.questions if q.text == "borders Germany")
    alive = world.full & world.mask(borders)
    on_board = [c for i, c in enumerate(world.candidates) if alive >> i & 1]
    narrowed = board_grammar("Europe", "train", alive, bracket)
    assert 1 < len(on_board) < len(world.candidates)
    for i, candidate in enumerate(world.candidates):
        assert accepts(narrowed, reply("guess", entity=candidate)) == bool(alive >> i & 1), candidate
    for question, mask in zip(world.questions, world.question_masks, strict=True):
        splits = 0 < (alive & mask).bit_count() < alive.bit_count()
        assert accepts(narrowed, reply("ask", question=question.text)) == splits, question.text
    assert not accepts(narrowed, reply("ask", question="borders Germany"))  # every candidate left answers yes
    # no question left, or one candidate left: the grammar holds a guess only
    no_questions = board_grammar("Europe", "train", alive, bracket, asking=False)
    assert accepts(no_questions, reply("guess", entity=on_board[0]))
    assert not any(accepts(no_questions, reply("ask", question=q.text)) for q in world.questions)
    one = board_grammar("Europe", "train", 1 << world.candidates.index(on_board[0]), bracket)
    assert '"ask"' not in one.source and accepts(one, reply("guess", entity=on_board[0]))
    with pytest.raises(ValueError, match="must hold a candidate; got the empty mask 0"):
        board_grammar("Europe", "train", 0, bracket)


def test_the_env_offers_the_grammar_of_its_board_every_turn():
    """The info's grammar follows the board: the halving agent's replies (questions that split the board, then the
    last candidate) are in it every turn, and once the questions are spent it holds guesses only."""
    env = gym_reason.make(EASY, board=True, max_questions=3).unwrapped
    halving = make_agent("fixed:halving", env, seed=0)
    obs, info = env.reset(seed=2)
    world = universe(env.task.universe, env.task.split)
    for _ in range(3):
        action = halving.act([(obs, info)])[0]
        assert '"ask"' in action and accepts(info[ACTION_GRAMMAR], action)
        alive = env._episode.progress.alive
        assert info[ACTION_GRAMMAR] == board_grammar(world.name, "train", alive, env.answer_format)
        obs, _, terminated, _, info = env.step(action)
        assert not terminated
    left = board_of(info[STATE_KEY])
    assert len(left) > 1 and info[STATE_KEY].split("|")[2] == "q0"
    grammar = info[ACTION_GRAMMAR]
    assert '"ask"' not in grammar.source and all(accepts(grammar, reply("guess", entity=c)) for c in left)


@pytest.mark.slow
@pytest.mark.parametrize("split", ["train", "test"])
def test_the_board_variant_passes_check(split):
    report = check_env(lambda: gym_reason.make(EASY, board=True, split=split), episodes=20)
    assert report.ok, report


def test_board_must_be_a_bool():
    with pytest.raises(ValueError, match="board must be true or false, got 'yes'"):
        gym_reason.make(EASY, board="yes")


def test_the_train_commands_hints_evaluate_the_board_variant_it_trained_on(tmp_path, capsys):
    """`train` ends with "Evaluate it: gym-reason eval ..."; run as printed, that command plays the env the policy
    learnt (the board, the weights), not the default variant (whose state key and grammar it never saw), also where
    the env is named by its alias and its arguments by its full id (the trainer resolves both)."""
    import json
    import shlex

    from gym_reason.cli import main

    flags = ["--steps", "1", "--games-per-step", "2", "--eval-every", "0", "--run-dir", str(tmp_path),
             "--run-name", "tq", "--no-progress", "--threads", "1",
             "--env-args", '{"gym_reason/TwentyQuestions-v0": {"board": true, "difficulty": 1, "max_turns": 4, '
                          '"weights": {"success": 2.0}}}']  # fmt: skip
    assert main(["train", "--env", "twenty_questions", *flags]) == 0
    (hint,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Evaluate it: ")]
    command = shlex.split(hint.removeprefix("Evaluate it: "))
    assert command[:2] == ["gym-reason", "eval"]
    out = tmp_path / "eval.json"
    assert main([*command[1:], "--games", "2", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())["provenance"]["env_kwargs"]
    assert saved == {"board": True, "difficulty": 1, "max_turns": 4, "weights": {"success": 2.0}, "split": "test"}
