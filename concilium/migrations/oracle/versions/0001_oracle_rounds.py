"""The oracle node's tables as they were before migrations: rounds and the block cursor."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "oracle_rounds",
        sa.Column("key", sa.String(120), primary_key=True),
        sa.Column("node", sa.String(42), nullable=False),
        sa.Column("oracle", sa.String(42), nullable=False),
        sa.Column("request_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("consumer", sa.String(42)),
        sa.Column("kind", sa.Integer, nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("model_id", sa.String(66)),
        sa.Column("pinned_model", sa.String(66)),
        sa.Column("deadline", sa.Integer, nullable=False),
        sa.Column("fee_wei", sa.String(80), nullable=False),
        sa.Column("my_answer", sa.Text),
        sa.Column("peer_answers", sa.Text, nullable=False),
        sa.Column("model_output", sa.Text),
        sa.Column("submit_tx", sa.String(66)),
        sa.Column("submit_raw", sa.Text),
        sa.Column("submit_nonce", sa.Integer),
        sa.Column("result", sa.Text),
        sa.Column("fulfil_tx", sa.String(66)),
        sa.Column("gas_used", sa.Integer),
        sa.Column("note", sa.Text),
    )
    for col in ("node", "request_id", "status"):
        op.create_index(f"ix_oracle_rounds_{col}", "oracle_rounds", [col])
    op.create_table(
        "oracle_cursor",
        sa.Column("key", sa.String(90), primary_key=True),
        sa.Column("block", sa.Integer, nullable=False),
    )
