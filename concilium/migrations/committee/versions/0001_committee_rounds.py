"""A committee member's trail: one row per (Safe, round, member)."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "committee_rounds",
        sa.Column("key", sa.String(160), primary_key=True),
        sa.Column("safe", sa.String(42), nullable=False),
        sa.Column("round_id", sa.String(48), nullable=False),
        sa.Column("member", sa.String(42), nullable=False),
        sa.Column("safe_nonce", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("action", sa.Text),
        sa.Column("votes", sa.Text, nullable=False),
        sa.Column("silent", sa.Text, nullable=False),
        sa.Column("signatures", sa.Text, nullable=False),
        sa.Column("safe_tx_hash", sa.String(66)),
        sa.Column("tx_hash", sa.String(66)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("history", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    for col in ("safe", "round_id", "member", "state"):
        op.create_index(f"ix_committee_rounds_{col}", "committee_rounds", [col])
