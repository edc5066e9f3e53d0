"""Score export jobs also render XLSX: `format` admits 'xlsx', and `language` (zh-CN or en) keeps
the language the request asked for, since a spreadsheet's column names, unit names and dimension
names are written in it (a CSV or JSON Lines file has codes only). `heartbeat_at` goes: a job's
liveness is its lease in `jobs` (0012), and nothing read the export's own heartbeat any more.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from service.db.migration_sql import execute_script

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        ALTER TABLE score_exports DROP CONSTRAINT score_exports_format_check;
        ALTER TABLE score_exports ADD CONSTRAINT score_exports_format_check
            CHECK (format IN ('csv', 'jsonl', 'xlsx'));
        ALTER TABLE score_exports ADD COLUMN language text NOT NULL DEFAULT 'zh-CN'
            CHECK (language IN ('zh-CN', 'en'));
        ALTER TABLE score_exports DROP COLUMN heartbeat_at;
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DELETE FROM score_exports WHERE format = 'xlsx';
        ALTER TABLE score_exports DROP COLUMN language;
        ALTER TABLE score_exports ADD COLUMN heartbeat_at timestamptz NOT NULL DEFAULT now();
        ALTER TABLE score_exports DROP CONSTRAINT score_exports_format_check;
        ALTER TABLE score_exports ADD CONSTRAINT score_exports_format_check CHECK (format IN ('csv', 'jsonl'));
        """
    )
