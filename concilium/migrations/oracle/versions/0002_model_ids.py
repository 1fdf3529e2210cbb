"""model_ids: each answer's model id preimage (shared with the state store when both use one database)."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    if not sa.inspect(op.get_bind()).has_table("model_ids"):
        op.create_table(
            "model_ids",
            sa.Column("model_id", sa.String(66), primary_key=True),
            sa.Column("preimage", sa.Text, nullable=False),
            sa.Column("first_seen", sa.Float, nullable=False),
        )
