"""steps.flows (the wallet's asset flows, simulated then from the receipt) and steps.ledger (what
counts towards daily limits): the effect-based guard."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("steps")}
    with op.batch_alter_table("steps") as t:
        for name in ("flows", "ledger"):
            if name not in have:
                t.add_column(sa.Column(name, sa.Text))
