"""The shop's products: a fixed catalog generated from one seed, and its search index.

Every product has a category, a brand, a material, one or two features (its *attributes*, as WebShop
calls them), a price, a rating, and the colors and sizes it comes in (its *options*). The catalog is
the same in every process (:data:`CATALOG_SEED`), so a task drawn on one machine names products that
exist on every other; tasks (:mod:`gym_reason.envs.web.tasks`) are drawn from it.
"""

from __future__ import annotations

import functools
import random
import re
from collections import defaultdict
from dataclasses import dataclass

CATALOG_SEED = 20261206
CATALOG_SIZE = 1200

APPAREL_SIZES = ("XS", "S", "M", "L", "XL")
SHOE_SIZES = ("6", "7", "8", "9", "10", "11", "12")
ONE_SIZE = ("one size",)

CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], float]] = {
    # category: (materials, sizes, typical price)
    "t-shirt": (("cotton", "linen", "polyester", "bamboo"), APPAREL_SIZES, 18.0),
    "shirt": (("cotton", "linen", "polyester", "silk"), APPAREL_SIZES, 32.0),
    "sweater": (("wool", "cotton", "cashmere", "fleece"), APPAREL_SIZES, 48.0),
    "hoodie": (("cotton", "fleece", "polyester"), APPAREL_SIZES, 40.0),
    "jacket": (("leather", "denim", "nylon", "wool"), APPAREL_SIZES, 85.0),
    "jeans": (("denim", "cotton"), APPAREL_SIZES, 55.0),
    "shorts": (("cotton", "linen", "nylon", "denim"), APPAREL_SIZES, 25.0),
    "dress": (("cotton", "silk", "linen", "polyester"), APPAREL_SIZES, 60.0),
    "sneakers": (("canvas", "leather", "suede", "mesh"), SHOE_SIZES, 70.0),
    "boots": (("leather", "suede", "rubber"), SHOE_SIZES, 110.0),
    "sandals": (("leather", "rubber", "cork"), SHOE_SIZES, 35.0),
    "backpack": (("nylon", "canvas", "leather", "polyester"), ONE_SIZE, 50.0),
    "hat": (("wool", "cotton", "straw", "felt"), ONE_SIZE, 22.0),
    "scarf": (("wool", "cashmere", "silk", "cotton"), ONE_SIZE, 28.0),
    "socks": (("cotton", "wool", "bamboo"), ("S", "M", "L"), 9.0),
}
COLORS = ("black", "white", "red", "blue", "green", "navy", "grey", "beige", "brown", "pink", "yellow", "purple")
FEATURES = (
    "machine washable",
    "water resistant",
    "slim fit",
    "relaxed fit",
    "organic",
    "recycled",
    "lightweight",
    "breathable",
    "insulated",
    "stretch",
)
STYLE_WORDS = {
    "machine washable": "Easy-care",
    "water resistant": "Weatherproof",
    "slim fit": "Slim",
    "relaxed fit": "Relaxed",
    "organic": "Organic",
    "recycled": "Recycled",
    "lightweight": "Light",
    "breathable": "Airy",
    "insulated": "Insulated",
    "stretch": "Stretch",
}
"""The word a product's name takes from its first feature."""
BRANDS = (
    "Northwind",
    "Alder & Co",
    "Bluepeak",
    "Cobblestone",
    "Driftwood",
    "Everly",
    "Foxglove",
    "Granite",
    "Harbor",
    "Ironbark",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Oakridge",
    "Pinecrest",
    "Quarry",
    "Redfern",
    "Saltmarsh",
)


@dataclass(frozen=True, slots=True)
class Product:
    pid: int
    name: str
    category: str
    brand: str
    material: str
    features: tuple[str, ...]
    price: float
    rating: float
    colors: tuple[str, ...]
    sizes: tuple[str, ...]
    description: str

    @property
    def attributes(self) -> frozenset[str]:
        """What a goal's attributes are matched against: the material and the features."""
        return frozenset((self.material, *self.features))


_TOKEN = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lower-case words and numbers of ``text`` (how queries and products are indexed).

    >>> tokens("Red T-Shirt, size M!")
    ['red', 't', 'shirt', 'size', 'm']
    """
    return _TOKEN.findall(text.lower())


def _make_product(pid: int, rng: random.Random) -> Product:
    category = rng.choice(sorted(CATEGORIES))
    materials, sizes, typical = CATEGORIES[category]
    material = rng.choice(materials)
    brand = rng.choice(BRANDS)
    features = tuple(sorted(rng.sample(FEATURES, rng.choice((1, 1, 2)))))
    price = round(max(4.0, typical * rng.uniform(0.5, 1.7)), 0) - 0.01
    colors = tuple(sorted(rng.sample(COLORS, rng.randint(2, 4)), key=COLORS.index))
    if len(sizes) > 1:
        first = rng.randint(0, max(0, len(sizes) - 3))
        sizes = sizes[first : first + rng.randint(3, len(sizes) - first)] if len(sizes) > 3 else sizes
    code = f"{brand[:2].upper()}-{pid:04d}"
    style = STYLE_WORDS[features[0]]
    name = f"{brand} {style} {material.capitalize()} {category.capitalize()} {code}"
    kind = f"{', '.join(features)} {category}"
    description = (
        f"{'An' if kind[0] in 'aeiou' else 'A'} {kind} in {material} by {brand}. "
        f"Available in {', '.join(colors)}; sizes {', '.join(sizes)}."
    )
    rating = round(rng.uniform(2.5, 5.0), 1)
    return Product(pid, name, category, brand, material, features, price, rating, colors, sizes, description)


@dataclass(frozen=True)
class Catalog:
    """The products, by id, and an inverted index over their words."""

    products: tuple[Product, ...]
    index: dict[str, frozenset[int]]

    def __len__(self) -> int:
        return len(self.products)

    def get(self, pid: int) -> Product | None:
        return self.products[pid - 1] if 1 <= pid <= len(self.products) else None

    def search(self, query: str) -> list[Product]:
        """Products that share a word with ``query``, most shared words first (ties by id).

        >>> [p.pid for p in catalog().search(catalog().get(7).name)][:1]
        [7]
        """
        hits: dict[int, int] = defaultdict(int)
        for word in set(tokens(query)):
            for pid in self.index.get(word, ()):
                hits[pid] += 1
        ranked = sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))
        return [self.products[pid - 1] for pid, _ in ranked]


@functools.cache
def catalog() -> Catalog:
    """The catalog: :data:`CATALOG_SIZE` products from :data:`CATALOG_SEED` (built once per process, ~20 ms)."""
    rng = random.Random(CATALOG_SEED)
    products = tuple(_make_product(pid, rng) for pid in range(1, CATALOG_SIZE + 1))
    index: dict[str, set[int]] = defaultdict(set)
    for p in products:
        words = [p.name, p.category, p.material, *p.features, *p.colors, p.brand]
        for word in tokens(" ".join(words)):
            index[word].add(p.pid)
    return Catalog(products, {word: frozenset(pids) for word, pids in index.items()})
