"""Web environments: a local shop (``gym_reason/WebShop-v0``) and MiniWoB++ tasks
(``gym_reason/MiniWoB-<task>-v0``), in a real headless Chromium or, for the shop, a browser-free twin.

Modules, bottom up: :mod:`~.catalog` (the products), :mod:`~.page` (pages as data, their HTML and the
text digest), :mod:`~.shop` (the shop's app logic), :mod:`~.tasks` (goals, splits, scores),
:mod:`~.actions` (the JSON action space and its grammar), :mod:`~.browser` (the shared Chromium),
:mod:`~.server` (the shop over HTTP), :mod:`~.clients` (actions on the twin or in the browser),
:mod:`~.base` (the observation and step bookkeeping), :mod:`~.shop_env`, :mod:`~.miniwob`, and
:mod:`~.oracles` (scripted agents that solve the tasks).
"""
