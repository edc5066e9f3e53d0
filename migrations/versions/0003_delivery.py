"""Item bank, assessments and delivery: items and their versions, assessments, accommodations,
attempts and responses.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CODE = r"CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{{0,63}}$')"
TABLES = ("items", "item_versions", "assessments", "accommodations", "attempts", "responses")


def upgrade() -> None:
    execute_script(
        f"""
        CREATE TABLE items (
            tenant_id      uuid NOT NULL DEFAULT {TENANT} REFERENCES tenants (id) ON DELETE CASCADE,
            id             uuid NOT NULL DEFAULT gen_random_uuid(),
            code           text NOT NULL {CODE.format()},
            framework_code text NOT NULL,
            type           text NOT NULL,
            status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
            latest_version integer NOT NULL DEFAULT 1,
            created_at     timestamptz NOT NULL DEFAULT now(),
            updated_at     timestamptz NOT NULL DEFAULT now(),
            retired_at     timestamptz,
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT items_code_key UNIQUE (tenant_id, code)
        );

        -- A version is editable (guarded by `revision` for ETags) until a published assessment
        -- pins it (`locked`); after that it never changes, and an edit makes the next version.
        CREATE TABLE item_versions (
            tenant_id    uuid NOT NULL DEFAULT {TENANT},
            item_id      uuid NOT NULL,
            version      integer NOT NULL CHECK (version >= 1),
            content      jsonb NOT NULL,
            content_hash text NOT NULL,
            revision     integer NOT NULL DEFAULT 1,
            locked       boolean NOT NULL DEFAULT false,
            indicators   text[] NOT NULL,
            search_text  text NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, item_id, version),
            FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, id) ON DELETE CASCADE
        );
        CREATE INDEX item_versions_indicators ON item_versions USING gin (indicators);

        CREATE FUNCTION item_version_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.locked AND (NEW.content IS DISTINCT FROM OLD.content OR NOT NEW.locked
                               OR NEW.version <> OLD.version OR NEW.item_id <> OLD.item_id) THEN
                RAISE EXCEPTION 'item version % is pinned by a published assessment and cannot change', OLD.version
                    USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER item_version_guard BEFORE UPDATE ON item_versions
            FOR EACH ROW EXECUTE FUNCTION item_version_guard();

        CREATE TABLE assessments (
            tenant_id         uuid NOT NULL DEFAULT {TENANT} REFERENCES tenants (id) ON DELETE CASCADE,
            id                uuid NOT NULL DEFAULT gen_random_uuid(),
            code              text NOT NULL {CODE.format()},
            status            text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'closed')),
            revision          integer NOT NULL DEFAULT 1,
            content           jsonb NOT NULL,
            forms             jsonb,  -- the pinned items' draw facts, set on publish
            created_at        timestamptz NOT NULL DEFAULT now(),
            updated_at        timestamptz NOT NULL DEFAULT now(),
            published_at      timestamptz,
            closed_at         timestamptz,
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT assessments_code_key UNIQUE (tenant_id, code),
            CHECK ((status = 'draft') = (published_at IS NULL))
        );
        CREATE INDEX assessments_status ON assessments (tenant_id, status);

        CREATE FUNCTION assessment_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                IF OLD.status <> 'draft' THEN
                    RAISE EXCEPTION 'assessment % is %: it cannot be deleted', OLD.code, OLD.status
                        USING ERRCODE = 'object_not_in_prerequisite_state';
                END IF;
                RETURN OLD;
            END IF;
            IF OLD.status <> 'draft' AND (NEW.content IS DISTINCT FROM OLD.content OR NEW.status = 'draft'
                    OR NEW.forms IS DISTINCT FROM OLD.forms OR NEW.code <> OLD.code
                    OR (OLD.status = 'closed' AND NEW.status <> 'closed')) THEN
                RAISE EXCEPTION 'assessment % is % and cannot change', OLD.code, OLD.status
                    USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER assessment_guard BEFORE UPDATE OR DELETE ON assessments
            FOR EACH ROW EXECUTE FUNCTION assessment_guard();

        CREATE TABLE accommodations (
            tenant_id         uuid NOT NULL DEFAULT {TENANT},
            assessment_id     uuid NOT NULL,
            person_id         uuid NOT NULL,
            extra_time_factor numeric(4, 2) NOT NULL CHECK (extra_time_factor BETWEEN 1 AND 4),
            note              text CHECK (length(note) <= 2000),
            updated_at        timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, assessment_id, person_id),
            FOREIGN KEY (tenant_id, assessment_id) REFERENCES assessments (tenant_id, id) ON DELETE CASCADE,
            FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id) ON DELETE CASCADE
        );

        -- An attempt freezes its form (items, order, option order, candidate views) and its
        -- deadline at start. It is submitted exactly once: by the candidate or, after the
        -- deadline and its grace, by the server.
        CREATE TABLE attempts (
            tenant_id          uuid NOT NULL DEFAULT {TENANT},
            id                 uuid NOT NULL DEFAULT gen_random_uuid(),
            assessment_id      uuid NOT NULL,
            person_id          uuid NOT NULL,
            number             integer NOT NULL CHECK (number >= 1),
            status             text NOT NULL DEFAULT 'in_progress' CHECK (status IN ('in_progress', 'submitted')),
            seed               bigint NOT NULL,
            form               jsonb NOT NULL,
            item_count         integer NOT NULL,
            started_at         timestamptz NOT NULL DEFAULT now(),
            time_limit_seconds integer,
            extra_time_factor  numeric(4, 2) NOT NULL DEFAULT 1,
            deadline           timestamptz,
            grace_seconds      integer NOT NULL DEFAULT 30,
            submitted_at       timestamptz,
            submitted_by       text CHECK (submitted_by IN ('candidate', 'deadline')),
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT attempts_number_key UNIQUE (tenant_id, assessment_id, person_id, number),
            FOREIGN KEY (tenant_id, assessment_id) REFERENCES assessments (tenant_id, id) ON DELETE CASCADE,
            FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id) ON DELETE CASCADE,
            CHECK ((status = 'submitted') = (submitted_at IS NOT NULL AND submitted_by IS NOT NULL))
        );
        CREATE UNIQUE INDEX attempts_one_open ON attempts (tenant_id, assessment_id, person_id)
            WHERE status = 'in_progress';
        CREATE INDEX attempts_due ON attempts (tenant_id, deadline) WHERE status = 'in_progress';
        CREATE INDEX attempts_person ON attempts (tenant_id, person_id);

        CREATE FUNCTION attempt_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.status = 'submitted' AND (NEW.status <> 'submitted' OR NEW.submitted_at <> OLD.submitted_at
                    OR NEW.submitted_by <> OLD.submitted_by OR NEW.form IS DISTINCT FROM OLD.form) THEN
                RAISE EXCEPTION 'attempt % is submitted and cannot change', OLD.id
                    USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
            IF NEW.form IS DISTINCT FROM OLD.form OR NEW.seed <> OLD.seed THEN
                RAISE EXCEPTION 'the form of attempt % is frozen', OLD.id
                    USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER attempt_guard BEFORE UPDATE ON attempts
            FOR EACH ROW EXECUTE FUNCTION attempt_guard();

        -- One row per answered item: the answer with the highest client revision wins.
        CREATE TABLE responses (
            tenant_id  uuid NOT NULL DEFAULT {TENANT},
            attempt_id uuid NOT NULL,
            item_ref   text NOT NULL,
            answer     jsonb NOT NULL,
            revision   bigint NOT NULL CHECK (revision >= 0),
            saved_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, attempt_id, item_ref),
            FOREIGN KEY (tenant_id, attempt_id) REFERENCES attempts (tenant_id, id) ON DELETE CASCADE
        );
        """
    )
    tenant_tables(*TABLES)


def downgrade() -> None:
    execute_script(
        f"""DROP TABLE {", ".join(reversed(TABLES))};
        DROP FUNCTION attempt_guard(); DROP FUNCTION assessment_guard(); DROP FUNCTION item_version_guard()"""
    )
