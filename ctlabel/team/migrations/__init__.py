"""Alembic migrations of the team database (run by :func:`ctlabel.team.db.migrate`)."""
