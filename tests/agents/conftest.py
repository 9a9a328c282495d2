"""Shared fixtures of the agent tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agents.openai_server import ScriptedServer


@pytest.fixture
def openai_server() -> Iterator[ScriptedServer]:
    """A scripted OpenAI-compatible server on a free local port (its base URL: ``openai_server.url``)."""
    with ScriptedServer() as server:
        yield server
