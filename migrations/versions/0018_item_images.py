"""Images in items: a tenant's uploaded PNG, JPEG and WebP files, stored in PostgreSQL.

An image is keyed by the SHA-256 of its bytes within its tenant, so uploading the same file twice
is one row and the key doubles as a strong, immutable ETag. Items refer to images by that key
(`image` on the stem and on options); rows are never updated. The bytes are stored EXTERNAL
(TOAST without compression): PNG, JPEG and WebP are compressed already.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        f"""
        CREATE TABLE item_images (
            tenant_id   uuid NOT NULL DEFAULT {TENANT} REFERENCES tenants (id) ON DELETE CASCADE,
            id          text NOT NULL CHECK (id ~ '^[0-9a-f]{{64}}$'),
            media_type  text NOT NULL CHECK (media_type IN ('image/png', 'image/jpeg', 'image/webp')),
            size        integer NOT NULL CHECK (size > 0),
            name        text CHECK (length(name) <= 255),
            content     bytea NOT NULL,
            created_by  text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            CHECK (octet_length(content) = size)
        );
        ALTER TABLE item_images ALTER COLUMN content SET STORAGE EXTERNAL;
        """
    )
    tenant_tables("item_images", privileges="SELECT, INSERT")


def downgrade() -> None:
    execute_script("DROP TABLE item_images;")
