"""agent_leases: which service instance steps which agent, until when (several instances on one database)."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "agent_leases",
        sa.Column("agent", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(120), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),  # +1 each time the lease changes hands: a fencing token
    )
