"""PostgreSQL through psycopg 3: the warehouse of a team, shared by many machines.

Each connection creates and selects the warehouse's schema; values are bound (`%s`), so a literal
percent sign in rendered SQL is doubled. The ledger is append-only by trigger, erasures and sweeps
take an advisory lock, and storage is reclaimed with VACUUM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlglot import exp

from dataflow_governance.storage.engines.base import Engine, WarehouseError, redact_dsn, table_expr

_PANDAS_TO_SQL = {"b": "BOOLEAN", "i": "BIGINT", "u": "BIGINT", "f": "DOUBLE", "M": "TIMESTAMP"}


def _sql_type(dtype) -> exp.DataType:
    if str(dtype).startswith("datetime64") and getattr(dtype, "tz", None) is not None:
        return exp.DataType.build("TIMESTAMPTZ")
    return exp.DataType.build(_PANDAS_TO_SQL.get(getattr(dtype, "kind", "O"), "TEXT"))


def _is_missing(value) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


class PostgresEngine(Engine):
    name = "postgres"
    dialect = "postgres"
    dbt_adapter = "postgres"
    binary_type = "BYTEA"

    @classmethod
    def config_problem(cls, path: str | None, dsn: str | None) -> str | None:
        return None if dsn else "kind postgres needs `dsn` (or DFG_WAREHOUSE_DSN)"

    def describe(self) -> str:
        return redact_dsn(self.warehouse.dsn or "")

    def dbt_target(self, scratch: Path | None = None) -> dict[str, Any]:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(self.warehouse.dsn or "")
        target = {"type": "postgres", "host": info.get("host") or "localhost", "port": int(info.get("port") or 5432),
                  "user": info.get("user") or "postgres", "dbname": info.get("dbname") or info.get("user") or "postgres",
                  "schema": self.warehouse.schema or "public", "threads": 1,
                  # In the owner-only state folder, never printed; empty: libpq's own (.pgpass, trust).
                  "password": info.get("password") or ""}
        if info.get("sslmode"):
            target["sslmode"] = info["sslmode"]
        return target

    def dataset_namespace(self) -> tuple[str, str]:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(self.warehouse.dsn or "")
        host, port = info.get("host") or "localhost", info.get("port") or "5432"
        return f"postgres://{host}:{port}", f"{info.get('dbname') or info.get('user') or 'postgres'}.{self.warehouse.schema or 'public'}."

    def _schema_sql(self) -> str | None:
        return self.render(exp.to_identifier(self.warehouse.schema, quoted=True)) if self.warehouse.schema else None

    @contextmanager
    def connect(self) -> Iterator[Any]:
        import psycopg

        try:
            con = psycopg.connect(self.warehouse.dsn, autocommit=False)
        except psycopg.Error as exc:
            raise WarehouseError(f"cannot connect to PostgreSQL at {self.describe()}: {exc}") from None
        try:
            schema = self._schema_sql()
            if schema:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                con.execute(f"SET search_path TO {schema}")
                con.commit()  # the schema is visible to other connections before any work starts
            yield con
            con.commit()
        except BaseException:
            con.rollback()
            raise
        finally:
            con.close()

    def driver_errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.Error,)

    def bound_sql(self, sql: str, placeholder: str) -> str:
        # psycopg reads `%` as a placeholder's start: a literal one (in a hold condition) is doubled.
        return sql.replace("%", "%%").replace(placeholder, "%s")

    def fetch_frame(self, con: Any, sql: str, params: Sequence | None):
        import pandas as pd

        cursor = con.execute(sql, list(params)) if params else con.execute(sql)
        return pd.DataFrame(cursor.fetchall(), columns=[d.name for d in cursor.description])

    def _copy(self, con: Any, target: exp.Table, columns: Sequence[str], rows) -> None:
        names = ", ".join(self.render(exp.to_identifier(str(c), quoted=True)) for c in columns)
        with con.cursor().copy(f"COPY {self.render(target)} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def insert_rows(self, con: Any, target: exp.Table, columns: Sequence[str], rows: Sequence[tuple]) -> None:
        self._copy(con, target, columns, rows)

    def write_frame(self, con: Any, target: exp.Table, frame, replace: bool) -> None:
        if replace:
            con.execute(self.render(exp.Drop(tables=[target], kind="TABLE", exists=True)))
        schema = exp.Schema(this=target, expressions=[
            exp.ColumnDef(this=exp.to_identifier(str(c), quoted=True), kind=_sql_type(frame[c].dtype))
            for c in frame.columns])
        con.execute(self.render(exp.Create(this=schema, kind="TABLE", exists=not replace)))
        self._copy(con, target, list(frame.columns), ([None if _is_missing(v) else v for v in row]
                                                     for row in frame.itertuples(index=False, name=None)))

    def create_table_as(self, con: Any, target: exp.Table, query: exp.Expr) -> None:
        con.execute(self.render(exp.Drop(tables=[target], kind="TABLE", exists=True)))
        con.execute(self.render(exp.Create(this=target, kind="TABLE", expression=query)))

    def prepare_keyed_hash(self, con: Any) -> None:
        con.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")  # for hmac()

    def keyed_hash(self, text: exp.Expr) -> exp.Expr:
        digest = exp.func("hmac", text, exp.Placeholder(), exp.Literal.string("sha256"))
        return exp.func("left", exp.func("encode", digest, exp.Literal.string("hex")), exp.Literal.number(32))

    def keyed_hash_parameters(self, key: bytes) -> list:
        return [key.decode()]

    def sha256_hex(self, text_sql: str) -> str:
        return f"encode(sha256(convert_to({text_sql}, 'UTF8')), 'hex')"

    def ledger_statements(self, table: exp.Table, create: str) -> list[str]:
        """No UPDATE, DELETE or TRUNCATE, whoever asks; concurrent first writers would race on the
        catalog, so one at a time, and the triggers only once."""
        target = self.render(table)
        statements = ["SELECT pg_advisory_xact_lock(hashtext('dataflow_governance.ledger'))", create]
        with self.connect() as con:
            present = con.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'ledger_no_update' "
                                  "AND tgrelid = to_regclass(%s)", (target,)).fetchone()[0]
        if present:
            return statements
        fn = self.render(table_expr(f"{table.name}_append_only"))
        return [
            *statements,
            f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"RAISE EXCEPTION 'the governance ledger is append-only (% rejected)', TG_OP; END $$",
            f"DROP TRIGGER IF EXISTS ledger_no_update ON {target}",
            f"CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON {target} FOR EACH ROW EXECUTE FUNCTION {fn}()",
            f"DROP TRIGGER IF EXISTS ledger_no_truncate ON {target}",
            f"CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON {target} FOR EACH STATEMENT EXECUTE FUNCTION {fn}()",
            f"REVOKE UPDATE, DELETE, TRUNCATE ON {target} FROM PUBLIC",
        ]

    def ledger_guard_problems(self, table: exp.Table) -> list[dict]:
        """Triggers missing or disabled (`ALTER TABLE … DISABLE TRIGGER`: then rows can be changed or
        deleted), and an owner the pipeline itself connects as (the owner can disable them)."""
        target = self.render(table)
        with self.connect() as con:
            triggers = dict(con.execute("SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = to_regclass(%s) "
                                        "AND tgname IN ('ledger_no_update', 'ledger_no_truncate')", (target,)).fetchall())
            owner, me, superuser, member = con.execute(
                "SELECT pg_get_userbyid(c.relowner), current_user, r.rolsuper, "
                "pg_has_role(current_user, c.relowner, 'MEMBER') FROM pg_class c, pg_roles r "
                "WHERE c.oid = to_regclass(%s) AND r.rolname = current_user", (target,)).fetchone()
        problems = []
        for name in ("ledger_no_update", "ledger_no_truncate"):
            state = triggers.get(name)
            if state is None:
                problems.append({"severity": "error", "problem": f"trigger {name} is missing from {target}: the "
                                 "ledger is not append-only in the database"})
            elif state == "D":
                problems.append({"severity": "error", "problem": f"trigger {name} on {target} is DISABLED: rows may "
                                 "have been changed or deleted meanwhile; check against every anchor and re-enable it"})
        if member or superuser:
            who = "a superuser" if superuser else f"the owner ({owner}) or a member of it"
            problems.append({"severity": "warning", "problem": f"the pipeline connects as {me}, {who}: it can disable "
                             f"the ledger's triggers. Make {target} owned by a role the pipeline does not use and "
                             "grant the pipeline SELECT, INSERT only (Ledger.grant_writer); keep anchors in an "
                             "Object Lock bucket (ledger.anchors)"})
        return problems

    def grant_append(self, con: Any, table: exp.Table, role: str) -> None:
        target, ident = self.render(table), self.render(exp.to_identifier(role, quoted=True))
        con.execute(f"REVOKE ALL ON {target} FROM {ident}")
        con.execute(f"GRANT SELECT, INSERT ON {target} TO {ident}")

    @contextmanager
    def ledger_writer(self, lock_timeout_s: float) -> Iterator[Any]:
        with self.connect() as con:
            yield con

    def lock_for_append(self, con: Any, table: exp.Table) -> None:
        con.execute(f"LOCK TABLE {self.render(table)} IN SHARE ROW EXCLUSIVE MODE")

    def snapshot_reads(self, con: Any) -> None:
        con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

    # tenant isolation in the database ------------------------------------------------------------
    POLICY = "dfg_tenant_isolation"
    PIPELINE_POLICY = "dfg_pipeline_all_tenants"

    def row_security_statements(self, tables: list[tuple[exp.Table, str, str]], role: str, reporting_role: str,
                                readable: list[exp.Table], setting: str,
                                tenant_roles: dict[str, str] | None = None) -> list[str]:
        """ENABLE and FORCE row-level security; one policy keeps every role to its tenant, another
        lets the role applying it (the pipeline's) keep every row.

        A role's tenant is the session setting `setting` (one tenant role, the application sets the
        tenant), or — with `tenant_roles` (tenant → role) — the role itself: a row is visible to the
        members of the role named `<role>_<tenant>`, so no session can choose another tenant."""
        tenant_role, reporter = (self.render(exp.to_identifier(r, quoted=True)) for r in (role, reporting_role))
        statements = [self._create_role(role, tenant_role), self._create_role(reporting_role, reporter)]
        for name in (tenant_roles or {}).values():
            ident = self.render(exp.to_identifier(name, quoted=True))
            statements += [self._create_role(name, ident), f"GRANT {tenant_role} TO {ident}"]
        schema = self._schema_sql()
        if schema:
            statements.append(f"GRANT USAGE ON SCHEMA {schema} TO {tenant_role}, {reporter}")
        current = f"NULLIF(current_setting({exp.Literal.string(setting).sql('postgres')}, true), '')"
        prefix = exp.Literal.string(f"{role}_").sql("postgres")
        for table, column, kind in tables:
            target, col = self.render(table), self.render(exp.to_identifier(column, quoted=True))
            if tenant_roles is None:
                mine = f"{col} = CAST({current} AS {kind})"
            else:  # (pg_roles is readable by every role; pg_has_role on a missing name would fail the query)
                mine = (f"EXISTS (SELECT 1 FROM pg_catalog.pg_roles AS r WHERE r.rolname = {prefix} || CAST({col} AS TEXT) "
                        "AND pg_has_role(current_user, r.oid, 'MEMBER'))")
            statements += [
                f"ALTER TABLE {target} ENABLE ROW LEVEL SECURITY",
                f"ALTER TABLE {target} FORCE ROW LEVEL SECURITY",
                f"DROP POLICY IF EXISTS {self.POLICY} ON {target}",
                f"CREATE POLICY {self.POLICY} ON {target} USING ({mine}) WITH CHECK ({mine})",
                f"DROP POLICY IF EXISTS {self.PIPELINE_POLICY} ON {target}",
                f"CREATE POLICY {self.PIPELINE_POLICY} ON {target} TO CURRENT_USER USING (true) WITH CHECK (true)",
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON {target} TO {tenant_role}",
                f"REVOKE ALL ON {target} FROM {reporter}",
            ]
        statements += [f"GRANT SELECT ON {self.render(table)} TO {reporter}" for table in readable]
        return statements

    def foreign_policies(self, tables: list[exp.Table]) -> list[tuple[str, str, bool]]:
        """(table, policy, permissive) of every row policy on these tables that the project did not write."""
        found = []
        with self.connect() as con:
            for table in tables:
                target = self.render(table)
                for name, permissive in con.execute(
                        "SELECT polname, polpermissive FROM pg_policy WHERE polrelid = to_regclass(%s)", (target,)):
                    if name not in (self.POLICY, self.PIPELINE_POLICY):
                        found.append((target, name, bool(permissive)))
        return found

    def drop_policy_statement(self, table: str, name: str) -> str:
        return f"DROP POLICY IF EXISTS {self.render(exp.to_identifier(name, quoted=True))} ON {table}"

    def isolation_leaks(self, con: Any, scoped: list[exp.Table], roles: list[str], unguarded: list[exp.Table]) -> list[dict]:
        """Ways a tenant role reaches tenant rows past row-level security, read from the catalog:
        row security off or not forced, permissive policies besides the project's, views and
        materialized views over a scoped table that the role may read (a view runs as its owner),
        SECURITY DEFINER functions it may call, the role bypassing RLS or owning a table, and
        `unguarded` tables (personal data without row security) it may read."""
        leaks: list[dict] = []
        oids = {self.render(t): con.execute("SELECT to_regclass(%s)::oid", (self.render(t),)).fetchone()[0] for t in scoped}
        for target, oid in oids.items():
            enabled, forced = con.execute("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = %s",
                                          (oid,)).fetchone()
            if not enabled or not forced:
                leaks.append({"severity": "error", "via": target,
                              "problem": f"row-level security is {'not forced' if enabled else 'off'} on {target}"})
            for name, permissive in con.execute("SELECT polname, polpermissive FROM pg_policy WHERE polrelid = %s",
                                                (oid,)):
                if name not in (self.POLICY, self.PIPELINE_POLICY) and permissive:
                    leaks.append({"severity": "error", "via": f"{target} policy {name}",
                                  "problem": f"permissive policy {name} on {target} is ORed with the tenant policy: it "
                                             "widens what a tenant sees (`dfg tenancy apply` removes it)"})
        for role in roles:
            attributes = con.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if attributes and (attributes[0] or attributes[1]):
                leaks.append({"severity": "error", "via": role, "problem": f"role {role} bypasses row-level security"})
            for target, oid in oids.items():
                owner = con.execute("SELECT pg_has_role(%s, relowner, 'MEMBER') FROM pg_class WHERE oid = %s",
                                    (role, oid)).fetchone()[0]
                if owner:
                    leaks.append({"severity": "error", "via": target,
                                  "problem": f"role {role} owns {target} (or is a member of its owner)"})
            views = con.execute(
                "SELECT DISTINCT v.oid::regclass::text, v.relkind, coalesce(v.reloptions, '{}')::text "
                "FROM pg_depend d JOIN pg_rewrite w ON w.oid = d.objid JOIN pg_class v ON v.oid = w.ev_class "
                "WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = ANY(%s) AND v.oid <> d.refobjid "
                "AND has_table_privilege(%s, v.oid, 'SELECT')", (list(oids.values()), role)).fetchall()
            for name, kind, options in views:
                if kind == "m" or "security_invoker=true" not in options:
                    leaks.append({"severity": "error", "via": name,
                                  "problem": f"{'materialized view' if kind == 'm' else 'view'} {name} reads a tenant "
                                             f"table and {role} may read it: it runs as its owner, past the tenant "
                                             "policy (drop the grant, or make it security_invoker)"})
            definers = con.execute(
                "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND has_function_privilege(%s, p.oid, 'EXECUTE')", (role,)).fetchall()
            for (name,) in definers:
                leaks.append({"severity": "warning", "via": name,
                              "problem": f"SECURITY DEFINER function {name} may be called by {role}: it runs as its "
                                         "owner and may read tenant tables past the policy (review it, or revoke EXECUTE)"})
            for table in unguarded:
                target = self.render(table)
                if con.execute("SELECT has_table_privilege(%s, to_regclass(%s), 'SELECT')", (role, target)).fetchone()[0]:
                    leaks.append({"severity": "error", "via": target,
                                  "problem": f"{role} may read {target}, which holds personal data and has no "
                                             "row-level security"})
        return leaks

    def _create_role(self, name: str, ident: str) -> str:
        literal = exp.Literal.string(name).sql("postgres")
        return (f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {literal}) THEN "
                f"CREATE ROLE {ident} NOLOGIN; END IF; END $$")

    @contextmanager
    def acting_as(self, con: Any, role: str, settings: dict[str, str]) -> Iterator[None]:
        con.execute(f"SET LOCAL ROLE {self.render(exp.to_identifier(role, quoted=True))}")
        for name, value in settings.items():
            con.execute("SELECT set_config(%s, %s, true)", (name, value))  # bound: a tenant id is data
        try:
            yield
        finally:
            con.execute("RESET ROLE")

    def is_refusal(self, exc: BaseException) -> bool:
        return getattr(exc, "sqlstate", None) == "42501"  # insufficient_privilege, also a row policy's refusal

    def reclaim(self, tables: list[str], full: bool) -> dict[str, list[str]]:
        """VACUUM prunes dead row versions (FULL rewrites the tables' files); it cannot run in a transaction."""
        import psycopg

        operator = ["PostgreSQL WAL archives and base backups (point-in-time recovery) keep the erased rows until "
                    "their retention expires"]
        if not tables:  # (dropped tables' files are removed with them)
            return {"done": [], "operator": operator}
        try:
            with psycopg.connect(self.warehouse.dsn, autocommit=True) as con:
                schema = self._schema_sql()
                if schema:
                    con.execute(f"SET search_path TO {schema}")
                for table in tables:
                    con.execute(f"VACUUM {'FULL ' if full else ''}{self.render(table_expr(table))}")
        except psycopg.Error as exc:
            raise WarehouseError(f"VACUUM after the erasure failed at {self.describe()}: "
                                 f"{type(exc).__name__}; the data is erased, run `VACUUM` on {', '.join(tables)}") from None
        if not full:
            operator.append("without VACUUM FULL the freed page space keeps erased bytes until overwritten; "
                            "rerun with --vacuum-full to rewrite the tables' files")
        return {"done": [f"PostgreSQL VACUUM{' FULL' if full else ''} of {', '.join(tables)}"], "operator": operator}

    @contextmanager
    def exclusive(self, holder: str, notify: Callable[[str], None]) -> Iterator[None]:
        """An advisory lock: erasures and sweeps from other machines on the same schema wait."""
        import psycopg

        key = f"dataflow_governance.governance:{self.warehouse.schema or ''}"
        with psycopg.connect(self.warehouse.dsn, autocommit=True) as con:
            taken = con.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]
            if not taken:
                notify(f"waiting for another erasure or sweep on the PostgreSQL warehouse to finish ({holder}) …")
                con.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            try:
                yield
            finally:
                con.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
