"""Purchase tasks for the shop, drawn from seeds, and their WebShop-style scores.

A :class:`Goal` names a category, attributes (the material and sometimes a feature), options (a color
and a size) and a price bound, all taken from one product of the catalog, so at least one product
satisfies it. Its score for a bought line follows WebShop (Yao et al., 2022): the share of goal
attributes, options and the price bound that the line matches, times 0 when the category is wrong.

**Splits** are disjoint by construction: a goal's *signature* (category, material, color, size) is
hashed into one of :data:`SPLIT_BUCKETS` buckets, bucket 0 is ``"test"`` and the rest ``"train"``;
a draw whose signature falls in the other split is drawn again. No test goal shares its signature
with any train goal.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

from gym_reason.envs.web.catalog import Catalog, Product
from gym_reason.envs.web.shop import Line

SPLITS = ("train", "test")
SPLIT_BUCKETS = 5
PAIRS = frozenset({"jeans", "shorts", "sneakers", "boots", "sandals", "socks"})


@dataclass(frozen=True, slots=True)
class Goal:
    category: str
    attributes: tuple[str, ...]
    color: str
    size: str
    max_price: float

    @property
    def signature(self) -> tuple[str, str, str, str]:
        return (self.category, self.attributes[0], self.color, self.size)

    @property
    def instruction(self) -> str:
        material, *features = self.attributes
        article = "a pair of" if self.category in PAIRS else "a"
        text = f"Buy {article} {self.color} {material} {self.category}"
        if features:
            text += f" that is {' and '.join(features)}"
        if self.size != "one size":
            text += f", in size {self.size}"
        return text + f", for less than ${self.max_price:.2f}."

    def matches(self, p: Product) -> bool:
        """Whether product ``p`` can satisfy the goal fully (with the right options chosen)."""
        return (
            p.category == self.category
            and set(self.attributes) <= p.attributes
            and p.price <= self.max_price
            and self.color in p.colors
            and self.size in p.sizes
        )

    def relevant(self, p: Product) -> bool:
        """Whether ``p`` is of the right category and attributes (a search that shows one is relevant)."""
        return p.category == self.category and set(self.attributes) <= p.attributes


def split_of(signature: tuple[str, ...]) -> str:
    """The split a goal signature belongs to (a stable hash, the same in every process).

    >>> split_of(("shirt", "cotton", "red", "M")) in SPLITS
    True
    """
    digest = hashlib.sha256("|".join(signature).encode()).digest()
    return "test" if digest[0] % SPLIT_BUCKETS == 0 else "train"


def draw_goal(products: Catalog, rng: random.Random, split: str) -> Goal:
    """A goal of ``split`` built from a random product (drawn again until its signature is in ``split``)."""
    while True:
        p = products.products[rng.randrange(len(products))]
        attributes = (p.material,) + ((rng.choice(p.features),) if rng.random() < 0.5 else ())
        color, size = rng.choice(p.colors), rng.choice(p.sizes)
        bound = math.ceil((p.price + rng.uniform(1, 15)) / 5) * 5
        goal = Goal(p.category, attributes, color, size, float(bound))
        if split_of(goal.signature) == split:
            return goal


def line_score(goal: Goal, product: Product, line: Line) -> float:
    """WebShop's reward for buying ``line`` (of ``product``): matched attributes, options and price over
    their number, zero for the wrong category.

    >>> from gym_reason.envs.web.catalog import catalog
    >>> p = catalog().get(1)
    >>> g = Goal(p.category, (p.material,), p.colors[0], p.sizes[0], p.price + 1)
    >>> line_score(g, p, Line(1, p.colors[0], p.sizes[0])), line_score(g, p, Line(1, p.colors[1], p.sizes[0]))
    (1.0, 0.75)
    """
    if product.category != goal.category:
        return 0.0
    matched = sum(a in product.attributes for a in goal.attributes)
    matched += (line.color == goal.color) + (line.size == goal.size) + (product.price <= goal.max_price)
    return matched / (len(goal.attributes) + 3)


def order_score(goal: Goal, products: Catalog, lines: list[Line]) -> float:
    """The mean line score of an order: buying extra things dilutes it."""
    if not lines:
        return 0.0
    return sum(line_score(goal, products.products[line.pid - 1], line) for line in lines) / len(lines)
