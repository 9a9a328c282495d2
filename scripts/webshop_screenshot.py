"""Writes docs/webshop_product.png and docs/webshop_product.txt: what an agent sees of WebShop-v0 in the browser
(screenshot mode) after the oracle's search and click, seed 0 of the test split.

    python scripts/webshop_screenshot.py
"""

from __future__ import annotations

from pathlib import Path

from gym_reason.envs.web.base import SCREENSHOT
from gym_reason.envs.web.oracles import ShopOracle
from gym_reason.envs.web.shop_env import WebShopEnv


def main() -> None:
    out = Path(__file__).resolve().parent.parent / "docs"
    out.mkdir(exist_ok=True)
    env = WebShopEnv(backend="browser", split="test", obs_mode="text+screenshot")
    try:
        obs, info = env.reset(seed=0)
        assert env.goal is not None
        oracle = ShopOracle(env.goal, env.catalog)
        for _ in range(2):  # search for the product, open its page
            obs, _reward, _terminated, _truncated, info = env.step(oracle(obs))
        (out / "webshop_product.png").write_bytes(info[SCREENSHOT])
        (out / "webshop_product.txt").write_text(obs + "\n")
    finally:
        env.close()
    print(f"wrote {out / 'webshop_product.png'} and {out / 'webshop_product.txt'}")


if __name__ == "__main__":
    main()
