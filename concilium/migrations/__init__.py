"""Schema migrations (Alembic), one chain per store, each with its own version table, so a
store's later column changes are one more file in its folder:

    state/   the agent service's tables (steps, agent_leases), version table alembic_version_state
    oracle/  an oracle node's tables (oracle_rounds, oracle_cursor, oracle_skipped), version table alembic_version_oracle
    committee/  a committee member's trail (committee_rounds), version table alembic_version_committee

`upgrade(connection, chain)` runs from `Database.init()`. A database created before migrations
existed (tables made by `create_all`) is recognised by its baseline table, stamped at the
baseline revision and upgraded from there, so its rows are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Chain:
    folder: str
    version_table: str
    baseline_table: str  # its presence without a version table means "made by create_all before migrations"
    baseline_rev: str = "0001"

    def script(self) -> ScriptDirectory:
        cfg = Config()
        cfg.set_main_option("script_location", str(HERE / self.folder))
        return ScriptDirectory.from_config(cfg)


STATE = Chain("state", "alembic_version_state", "steps")
ORACLE = Chain("oracle", "alembic_version_oracle", "oracle_rounds")
COMMITTEE = Chain("committee", "alembic_version_committee", "committee_rounds")


def current(conn: Connection, chain: Chain) -> str | None:
    return MigrationContext.configure(conn, opts={"version_table": chain.version_table}).get_current_revision()


def upgrade(conn: Connection, chain: Chain) -> None:
    """Bring `chain`'s tables to the newest revision inside the caller's transaction."""
    if conn.dialect.name == "postgresql":  # instances starting together migrate one at a time
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": chain.version_table})
    script = chain.script()
    if current(conn, chain) is None and inspect(conn).has_table(chain.baseline_table):
        MigrationContext.configure(conn, opts={"version_table": chain.version_table}).stamp(script, chain.baseline_rev)
    with EnvironmentContext(Config(), script, fn=lambda rev, _ctx: script._upgrade_revs("head", rev),
                            destination_rev="head") as env:
        env.configure(connection=conn, version_table=chain.version_table, transactional_ddl=True)
        env.run_migrations()
