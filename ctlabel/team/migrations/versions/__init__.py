"""Alembic revision scripts of the team database, oldest first."""
