"""step_requests (the exact model request behind a step) and model_ids (each model id's preimage).
A database made by create_all after these tables existed, but before migrations, has them already."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    have = sa.inspect(op.get_bind())
    if not have.has_table("step_requests"):
        op.create_table(
            "step_requests",
            sa.Column("step_id", sa.String(36), primary_key=True),
            sa.Column("messages", sa.Text, nullable=False),
            sa.Column("schema", sa.Text, nullable=False),
            sa.Column("schema_name", sa.String(64), nullable=False),
        )
    if not have.has_table("model_ids"):
        op.create_table(
            "model_ids",
            sa.Column("model_id", sa.String(66), primary_key=True),
            sa.Column("preimage", sa.Text, nullable=False),
            sa.Column("first_seen", sa.Float, nullable=False),
        )
