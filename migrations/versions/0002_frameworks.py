"""Rubric frameworks: tenant frameworks and their versions; published versions are immutable.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

from service.db.migration_sql import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def _app_role() -> str:
    role = op.get_context().config.attributes["app_role"]
    return '"' + role.replace('"', '""') + '"'


def upgrade() -> None:
    execute_script(
        f"""
        CREATE TABLE frameworks (
            tenant_id  uuid NOT NULL DEFAULT {TENANT} REFERENCES tenants (id) ON DELETE CASCADE,
            id         uuid NOT NULL DEFAULT gen_random_uuid(),
            code       text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{{0,63}}$'),
            origin     jsonb,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT frameworks_code_key UNIQUE (tenant_id, code)
        );

        -- A version is a draft (editable, guarded by `revision` for ETags), then published
        -- (immutable, content-hashed), then possibly retired (still readable and usable).
        CREATE TABLE framework_versions (
            tenant_id    uuid NOT NULL DEFAULT {TENANT},
            framework_id uuid NOT NULL,
            version      integer NOT NULL CHECK (version >= 1),
            status       text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'retired')),
            content      jsonb NOT NULL,
            revision     integer NOT NULL DEFAULT 1,
            content_hash text,
            based_on     integer,
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now(),
            published_at timestamptz,
            retired_at   timestamptz,
            PRIMARY KEY (tenant_id, framework_id, version),
            FOREIGN KEY (tenant_id, framework_id) REFERENCES frameworks (tenant_id, id) ON DELETE CASCADE,
            CHECK ((status = 'draft') = (content_hash IS NULL))
        );
        CREATE UNIQUE INDEX framework_versions_one_draft ON framework_versions (tenant_id, framework_id)
            WHERE status = 'draft';

        -- Defence in depth: whatever the application does, a published version's content never changes.
        CREATE FUNCTION framework_version_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                IF OLD.status <> 'draft' THEN
                    RAISE EXCEPTION 'framework version % is %: it cannot be deleted', OLD.version, OLD.status
                        USING ERRCODE = 'object_not_in_prerequisite_state';
                END IF;
                RETURN OLD;
            END IF;
            IF OLD.status <> 'draft' AND (
                NEW.content IS DISTINCT FROM OLD.content OR NEW.content_hash IS DISTINCT FROM OLD.content_hash
                OR NEW.version <> OLD.version OR NEW.framework_id <> OLD.framework_id
                OR NEW.tenant_id <> OLD.tenant_id OR NEW.status = 'draft'
                OR (OLD.status = 'retired' AND NEW.status <> 'retired')) THEN
                RAISE EXCEPTION 'framework version % is % and cannot change', OLD.version, OLD.status
                    USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER framework_version_guard BEFORE UPDATE OR DELETE ON framework_versions
            FOR EACH ROW EXECUTE FUNCTION framework_version_guard();
        """
    )
    for table in ("frameworks", "framework_versions"):
        execute_script(
            f"""
            ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant_isolation ON {table}
                USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT});
            """
        )
    execute_script(f"GRANT SELECT, INSERT, UPDATE, DELETE ON frameworks, framework_versions TO {_app_role()}")


def downgrade() -> None:
    execute_script("DROP TABLE framework_versions, frameworks; DROP FUNCTION framework_version_guard()")
