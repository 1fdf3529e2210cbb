"""The steps table as it was before migrations (one row per agent step)."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "steps",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("inputs_hash", sa.String(66)),
        sa.Column("observation", sa.Text),
        sa.Column("prompt", sa.Text),
        sa.Column("model_id", sa.String(66)),
        sa.Column("model_name", sa.String(200)),
        sa.Column("sampling", sa.Text),
        sa.Column("output", sa.Text),
        sa.Column("action", sa.String(64)),
        sa.Column("args", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("rule", sa.String(32)),
        sa.Column("verdict", sa.Text),
        sa.Column("summary", sa.Text),
        sa.Column("value_wei", sa.String(80), nullable=False),
        sa.Column("token", sa.String(64)),
        sa.Column("token_amount", sa.String(80), nullable=False),
        sa.Column("sender", sa.String(42)),
        sa.Column("nonce", sa.Integer),
        sa.Column("tx_hash", sa.String(66)),
        sa.Column("raw_tx", sa.Text),
        sa.Column("block_number", sa.Integer),
        sa.Column("gas_used", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("timings", sa.Text),
    )
    for col in ("agent", "created_at", "status", "tx_hash"):
        op.create_index(f"ix_steps_{col}", "steps", [col])
