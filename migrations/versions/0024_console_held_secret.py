"""A console session holds a new secret for the one page that shows it.

Creating or rotating a service client or a webhook makes a secret that is kept only as a hash. The
console's POST no longer answers with it (a reload would post again and make a second client): it
holds the secret on the session's own row, redirects, and the GET that follows takes it off the row
as it shows it (Post/Redirect/Get). A held secret not shown within minutes is never shown; logout
deletes the row and the secret with it.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from service.db.migration_sql import execute_script

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
        ALTER TABLE console_sessions
            ADD COLUMN held_secret jsonb,
            ADD COLUMN held_secret_until timestamptz,
            ADD CONSTRAINT console_sessions_held_secret
                CHECK ((held_secret IS NULL) = (held_secret_until IS NULL));
    """)


def downgrade() -> None:
    execute_script("""
        ALTER TABLE console_sessions DROP COLUMN held_secret, DROP COLUMN held_secret_until;
    """)
