"""Foundation: tenants, trusted issuers, org units, people; row-level security and grants.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from alembic import op

from service.db.migration_sql import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
OPERATOR = "current_setting('app.operator', true) = 'on'"
AUTH_LOOKUP = "current_setting('app.auth_lookup', true) = 'on'"

TENANT_TABLES = ("org_units", "people")


def _app_role() -> str:
    role = op.get_context().config.attributes["app_role"]
    return '"' + role.replace('"', '""') + '"'


def upgrade() -> None:
    app = _app_role()
    execute_script(
        """
        CREATE TABLE tenants (
            id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
            name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
            auto_provision_people boolean NOT NULL DEFAULT false,
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now()
        );

        -- Identity providers a tenant trusts for its people's tokens. Public keys only.
        -- (issuer, audience) names exactly one tenant, so a token's tenant is never ambiguous.
        CREATE TABLE trusted_issuers (
            tenant_id     uuid NOT NULL DEFAULT NULLIF(current_setting('app.tenant_id', true), '')::uuid
                          REFERENCES tenants (id) ON DELETE CASCADE,
            id            uuid NOT NULL DEFAULT gen_random_uuid(),
            issuer        text NOT NULL,
            audience      text NOT NULL,
            jwks          jsonb,
            jwks_url      text,
            subject_claim text NOT NULL DEFAULT 'sub',
            roles_claim   text,
            default_roles text[] NOT NULL DEFAULT '{candidate}',
            allowed_roles text[] NOT NULL DEFAULT '{candidate}',
            created_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT trusted_issuers_issuer_audience_key UNIQUE (issuer, audience),
            CHECK (jwks IS NOT NULL OR jwks_url IS NOT NULL)
        );

        -- A tree of any depth (province > city > county > township > village, or a department's own).
        -- path is '/<root id>/.../<own id>/' in C collation: a subtree is one index range scan.
        CREATE TABLE org_units (
            tenant_id  uuid NOT NULL DEFAULT NULLIF(current_setting('app.tenant_id', true), '')::uuid
                       REFERENCES tenants (id) ON DELETE CASCADE,
            id         uuid NOT NULL DEFAULT gen_random_uuid(),
            code       text NOT NULL CHECK (length(code) BETWEEN 1 AND 64),
            name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            level      text CHECK (length(level) <= 40),
            parent_id  uuid,
            path       text COLLATE "C" NOT NULL,
            depth      smallint NOT NULL CHECK (depth >= 0),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT org_units_code_key UNIQUE (tenant_id, code),
            CONSTRAINT org_units_parent_fkey FOREIGN KEY (tenant_id, parent_id) REFERENCES org_units (tenant_id, id)
        );
        CREATE INDEX org_units_path_idx ON org_units (tenant_id, path);
        CREATE INDEX org_units_parent_idx ON org_units (tenant_id, parent_id);

        -- As little personal data as the job needs: the HR id, where they work, their category.
        CREATE TABLE people (
            tenant_id    uuid NOT NULL DEFAULT NULLIF(current_setting('app.tenant_id', true), '')::uuid
                         REFERENCES tenants (id) ON DELETE CASCADE,
            id           uuid NOT NULL DEFAULT gen_random_uuid(),
            external_id  text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 128),
            org_unit_id  uuid,
            category     text NOT NULL DEFAULT 'unspecified' CHECK (category IN (
                             'leading_cadre', 'civil_servant', 'teacher', 'professional_technical',
                             'other', 'unspecified')),
            display_name text CHECK (length(display_name) <= 200),
            active       boolean NOT NULL DEFAULT true,
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT people_external_id_key UNIQUE (tenant_id, external_id),
            CONSTRAINT people_org_unit_fkey FOREIGN KEY (tenant_id, org_unit_id) REFERENCES org_units (tenant_id, id)
        );
        CREATE INDEX people_org_unit_idx ON people (tenant_id, org_unit_id, external_id);
        CREATE INDEX people_category_idx ON people (tenant_id, category, external_id);
        """
    )

    # Row-level security: enabled and forced on every table; the app role owns none of them.
    execute_script(
        f"""
        ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
        ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_self ON tenants FOR SELECT USING (id = {TENANT});
        CREATE POLICY operator_all ON tenants USING ({OPERATOR}) WITH CHECK ({OPERATOR});
        CREATE POLICY auth_lookup ON tenants FOR SELECT USING ({AUTH_LOOKUP});

        ALTER TABLE trusted_issuers ENABLE ROW LEVEL SECURITY;
        ALTER TABLE trusted_issuers FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON trusted_issuers USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT});
        CREATE POLICY operator_all ON trusted_issuers USING ({OPERATOR}) WITH CHECK ({OPERATOR});
        CREATE POLICY auth_lookup ON trusted_issuers FOR SELECT USING ({AUTH_LOOKUP});
        """
    )
    for table in TENANT_TABLES:
        execute_script(
            f"""
            ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
            ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
            CREATE POLICY tenant_isolation ON {table}
                USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT});
            """
        )

    execute_script(
        f"""
        GRANT USAGE ON SCHEMA public TO {app};
        GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, trusted_issuers, org_units, people TO {app};
        GRANT SELECT ON alembic_version TO {app};
        """
    )


def downgrade() -> None:
    app = _app_role()
    execute_script(f"REVOKE ALL ON alembic_version FROM {app}")
    execute_script("DROP TABLE people, org_units, trusted_issuers, tenants")
