"""Text-to-SQL task env over SQLite databases built in code."""
