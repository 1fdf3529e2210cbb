"""Schema migrations keep old records: a database made by main's schema before migrations
existed (create_all at 7499ae6) is stamped, upgraded to head, and keeps every row."""

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from concilium.agents.records import StateStore
from concilium.migrations import ORACLE, STATE, current
from concilium.oracle.store import OracleStore, Round

OLD = sa.MetaData()  # main's tables at 7499ae6, frozen here as create_all made them
sa.Table("steps", OLD, sa.Column("id", sa.String(36), primary_key=True),
         sa.Column("agent", sa.String(64), nullable=False, index=True), sa.Column("created_at", sa.Float, nullable=False, index=True),
         sa.Column("started_at", sa.Float), sa.Column("updated_at", sa.Float, nullable=False),
         sa.Column("status", sa.String(16), nullable=False, index=True), sa.Column("inputs_hash", sa.String(66)),
         *[sa.Column(c, sa.Text) for c in ("observation", "prompt")], sa.Column("model_id", sa.String(66)),
         sa.Column("model_name", sa.String(200)), sa.Column("sampling", sa.Text), sa.Column("output", sa.Text),
         sa.Column("action", sa.String(64)), sa.Column("args", sa.Text), sa.Column("reason", sa.Text), sa.Column("rule", sa.String(32)),
         sa.Column("verdict", sa.Text), sa.Column("summary", sa.Text), sa.Column("value_wei", sa.String(80), nullable=False),
         sa.Column("token", sa.String(64)), sa.Column("token_amount", sa.String(80), nullable=False), sa.Column("sender", sa.String(42)),
         sa.Column("nonce", sa.Integer), sa.Column("tx_hash", sa.String(66), index=True), sa.Column("raw_tx", sa.Text),
         sa.Column("block_number", sa.Integer), sa.Column("gas_used", sa.Integer), sa.Column("error", sa.Text), sa.Column("timings", sa.Text))
sa.Table("oracle_rounds", OLD, sa.Column("key", sa.String(120), primary_key=True), sa.Column("node", sa.String(42), nullable=False, index=True),
         sa.Column("oracle", sa.String(42), nullable=False), sa.Column("request_id", sa.Integer, nullable=False, index=True),
         sa.Column("created_at", sa.Float, nullable=False), sa.Column("updated_at", sa.Float, nullable=False),
         sa.Column("status", sa.String(16), nullable=False, index=True), sa.Column("consumer", sa.String(42)),
         sa.Column("kind", sa.Integer, nullable=False), sa.Column("prompt", sa.Text, nullable=False), sa.Column("options", sa.Text, nullable=False),
         sa.Column("model_id", sa.String(66)), sa.Column("pinned_model", sa.String(66)), sa.Column("deadline", sa.Integer, nullable=False),
         sa.Column("fee_wei", sa.String(80), nullable=False), sa.Column("my_answer", sa.Text), sa.Column("peer_answers", sa.Text, nullable=False),
         sa.Column("model_output", sa.Text), sa.Column("submit_tx", sa.String(66)), sa.Column("submit_raw", sa.Text),
         sa.Column("submit_nonce", sa.Integer), sa.Column("result", sa.Text), sa.Column("fulfil_tx", sa.String(66)),
         sa.Column("gas_used", sa.Integer), sa.Column("note", sa.Text))
sa.Table("oracle_cursor", OLD, sa.Column("key", sa.String(90), primary_key=True), sa.Column("block", sa.Integer, nullable=False))


async def test_a_database_made_by_mains_schema_upgrades_and_keeps_its_rows(store_url):
    engine = create_async_engine(store_url)
    async with engine.begin() as conn:
        await conn.run_sync(OLD.create_all)
        await conn.execute(OLD.tables["steps"].insert().values(
            id="old-step", agent="keeper", created_at=1.0, updated_at=2.0, status="confirmed", value_wei="10",
            token_amount="0", tx_hash="0x" + "ab" * 32, nonce=7))
        await conn.execute(OLD.tables["oracle_cursor"].insert().values(key="o:n", block=123))
    await engine.dispose()

    store = await StateStore(store_url).init()
    old = await store.get("old-step")
    assert (old.status, old.tx_hash, old.nonce, old.value_wei) == ("confirmed", "0x" + "ab" * 32, 7, "10")
    new = await store.create("keeper", action="noop")  # the upgraded schema takes new rows beside the old
    assert {r.id for r in await store.recent("keeper")} == {"old-step", new.id}
    async with store.engine.connect() as conn:
        assert await conn.run_sync(current, STATE) == STATE.script().get_current_head()
        assert await conn.run_sync(lambda c: sa.inspect(c).has_table("agent_leases"))
    await store.close()

    oracle = await OracleStore(store_url).init()
    assert await oracle.cursor("o:n") == 123
    async with oracle.engine.connect() as conn:
        assert await conn.run_sync(current, ORACLE) == ORACLE.script().get_current_head()
    await oracle.close()


async def test_migrating_twice_or_concurrently_is_harmless(store_url):
    import asyncio

    stores = [StateStore(store_url) for _ in range(3)]
    await asyncio.gather(*(s.init() for s in stores))  # instances starting together
    rec = await stores[0].create("a")
    assert (await stores[1].get(rec.id)).id == rec.id
    for s in stores:
        await s.close()


async def test_oracle_store_rounds_and_cursor_on_both_databases(store_url):
    store = await OracleStore(store_url).init()
    rnd = Round(key="0xO:1:0xN", node="0xN", oracle="0xO", request_id=1, status="open", kind=0, prompt="q?", options="0x",
                deadline=2_000_000_000, fee_wei="0", peer_answers="{}")
    await store.add(rnd)
    again = await store.add(Round(key="0xO:1:0xN", node="0xN", oracle="0xO", request_id=1, status="open", kind=0,
                                  prompt="other", options="0x", deadline=0, fee_wei="0", peer_answers="{}"))
    assert again.prompt == "q?"  # an event seen twice does not replace the round
    await store.update(rnd, status="answered", my_answer={"value": "0x01"}, peer_answers={"0xP": {"value": "0x01"}})
    [open_] = await store.open_rounds("0xN")
    assert open_.status == "answered" and open_.as_dict()["peer_answers"] == {"0xP": {"value": "0x01"}}
    await store.set_cursor("0xO:0xN", 41)
    await store.set_cursor("0xO:0xN", 42)
    assert await store.cursor("0xO:0xN") == 42
    await store.close()


async def test_migrations_build_exactly_the_tables_the_code_maps(store_url):
    """A column added to a model without a migration (or the reverse) fails here, not in production."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import concilium.service.leases  # noqa: F401  (maps agent_leases)
    from concilium.committee.store import CommitteeStore
    from concilium.db import Base

    for store in (StateStore(store_url), OracleStore(store_url), CommitteeStore(store_url)):
        await store.init()
        await store.close()
    engine = create_async_engine(store_url)
    try:
        async with engine.connect() as conn:
            def diff(sync_conn):
                ctx = MigrationContext.configure(sync_conn, opts={"compare_type": False})
                return [d for d in compare_metadata(ctx, Base.metadata)
                        if not (isinstance(d, tuple) and d[0] in ("remove_table",) and d[1].name.startswith("alembic_version"))]
            changes = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    tables_or_columns = [d for d in changes if isinstance(d, tuple) and d[0] in ("add_table", "remove_table", "add_column", "remove_column")]
    tables_or_columns += [c for d in changes if isinstance(d, list) for c in d if c[0] in ("add_column", "remove_column")]
    assert not tables_or_columns, tables_or_columns
