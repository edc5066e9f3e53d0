"""Open Badges 3.0 credentials: a tenant's issuer profile and signing key (`credential_issuers`), an
assessment's credential settings (`credential_settings`), and the credentials issued when a final
score becomes current (`credentials`), each with its bit in the tenant's revocation status list.

The status list index comes from the issuer row's counter (an UPDATE ... RETURNING, so two
transactions issuing at once take different bits); a unique index holds it.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        f"""
        CREATE TABLE credential_issuers (
            tenant_id    uuid NOT NULL DEFAULT {TENANT} REFERENCES tenants (id) ON DELETE CASCADE,
            name         jsonb NOT NULL,
            url          text NOT NULL,
            kid          text NOT NULL,
            private_pem  text NOT NULL,
            public_jwk   jsonb NOT NULL,
            next_index   integer NOT NULL DEFAULT 0 CHECK (next_index >= 0),
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id)
        );

        CREATE TABLE credential_settings (
            tenant_id     uuid NOT NULL DEFAULT {TENANT},
            assessment_id uuid NOT NULL,
            enabled       boolean NOT NULL,
            dimensions    jsonb NOT NULL DEFAULT '{{}}',
            overall       text,
            valid_days    integer CHECK (valid_days BETWEEN 1 AND 36500),
            updated_at    timestamptz NOT NULL DEFAULT now(),
            updated_by    text NOT NULL,
            PRIMARY KEY (tenant_id, assessment_id),
            FOREIGN KEY (tenant_id, assessment_id) REFERENCES assessments (tenant_id, id) ON DELETE CASCADE
        );

        CREATE TABLE credentials (
            tenant_id     uuid NOT NULL DEFAULT {TENANT},
            id            uuid NOT NULL DEFAULT gen_random_uuid(),
            attempt_id    uuid NOT NULL,
            assessment_id uuid NOT NULL,
            person_id     uuid NOT NULL,
            subject       text NOT NULL,  -- a top-level dimension's code, or '' for the overall result
            level         text NOT NULL,
            score_version integer NOT NULL,
            status_index  integer NOT NULL CHECK (status_index >= 0),
            token         text NOT NULL,
            document      jsonb NOT NULL,
            issued_at     timestamptz NOT NULL DEFAULT now(),
            valid_until   timestamptz,
            revoked_at    timestamptz,
            revoked_reason text,
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, attempt_id) REFERENCES attempts (tenant_id, id) ON DELETE CASCADE,
            CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
        );
        CREATE UNIQUE INDEX credentials_status_index ON credentials (tenant_id, status_index);
        CREATE UNIQUE INDEX credentials_one_active ON credentials (tenant_id, attempt_id, subject)
            WHERE revoked_at IS NULL;
        CREATE INDEX credentials_by_person ON credentials (tenant_id, person_id, issued_at DESC);
        CREATE INDEX credentials_revoked ON credentials (tenant_id, status_index) WHERE revoked_at IS NOT NULL;
        """
    )
    tenant_tables("credential_issuers", "credential_settings", privileges="SELECT, INSERT, UPDATE")
    tenant_tables("credentials", privileges="SELECT, INSERT, UPDATE")


def downgrade() -> None:
    execute_script("DROP TABLE credentials; DROP TABLE credential_settings; DROP TABLE credential_issuers;")
