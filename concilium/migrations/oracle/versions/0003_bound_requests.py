"""The bound-request protocol: request ids and deadlines as uint256 (78 zero-padded digits, so no
64-bit column overflows), the request commitment a node signs, whether the prompt was valid
UTF-8, and the log of events the watcher skipped (with the reason). Old rows are kept."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    bind = op.get_bind()
    have = {c["name"] for c in sa.inspect(bind).get_columns("oracle_rounds")}
    pad = "lpad({0}::text, 78, '0')" if bind.dialect.name == "postgresql" else "printf('%078d', {0})"
    with op.batch_alter_table("oracle_rounds") as t:
        t.alter_column("key", type_=sa.String(170))
        for col in ("request_id", "deadline"):
            t.alter_column(col, type_=sa.String(78), postgresql_using=pad.format(col))
        if "commitment" not in have:
            t.add_column(sa.Column("commitment", sa.String(66)))
        if "prompt_readable" not in have:
            t.add_column(sa.Column("prompt_readable", sa.Boolean, nullable=False, server_default=sa.true()))
    if bind.dialect.name != "postgresql":  # SQLite kept the integers as they were: pad them as the new type reads
        for col in ("request_id", "deadline"):
            op.execute(f"UPDATE oracle_rounds SET {col} = {pad.format(col)} WHERE typeof({col}) = 'integer'")
    if not sa.inspect(bind).has_table("oracle_skipped"):
        op.create_table(
            "oracle_skipped",
            sa.Column("key", sa.String(140), primary_key=True),
            sa.Column("node", sa.String(42), nullable=False, index=True),
            sa.Column("block", sa.Integer, nullable=False),
            sa.Column("log_index", sa.Integer, nullable=False),
            sa.Column("tx", sa.String(66), nullable=False),
            sa.Column("event", sa.String(32), nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("at", sa.Float, nullable=False),
        )
