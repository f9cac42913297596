#include <array>

#include "db/detail/migration.hpp"

namespace eventcrawl::db::detail {
namespace {

// Timestamps are TEXT in ISO 8601 UTC ("2026-07-01T17:00:00Z"), so that text order is time
// order. Flags are INTEGER 0/1 so that both engines return the same values.
constexpr std::string_view sqlite_initial_schema = R"sql(
CREATE TABLE events (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    summary TEXT,
    url TEXT,
    timezone TEXT,
    start_local TEXT,
    end_local TEXT,
    start_utc TEXT,
    end_utc TEXT,
    is_online INTEGER NOT NULL CHECK (is_online IN (0, 1)),
    is_free INTEGER NOT NULL CHECK (is_free IN (0, 1)),
    is_cancelled INTEGER NOT NULL CHECK (is_cancelled IN (0, 1)),
    venue_name TEXT,
    address TEXT,
    city TEXT,
    region TEXT,
    country TEXT,
    latitude REAL,
    longitude REAL,
    price_min_minor INTEGER,
    price_max_minor INTEGER,
    currency TEXT,
    organizer_name TEXT,
    series_id TEXT,
    image_url TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
CREATE INDEX events_start_utc_idx ON events (start_utc);
CREATE INDEX events_city_idx ON events (city);
CREATE INDEX events_last_seen_at_idx ON events (last_seen_at);

CREATE TABLE event_tags (
    event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (event_id, tag)
) WITHOUT ROWID;
CREATE INDEX event_tags_tag_idx ON event_tags (tag);

CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    mode TEXT NOT NULL,
    command TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    cities_ok INTEGER,
    cities_failed INTEGER,
    pages INTEGER,
    events INTEGER,
    errors INTEGER
);

CREATE TABLE run_cities (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    city_slug TEXT NOT NULL,
    status TEXT NOT NULL,
    pages INTEGER NOT NULL,
    events INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    last_error TEXT,
    started_at TEXT,
    finished_at TEXT,
    PRIMARY KEY (run_id, city_slug)
);
)sql";

// Version 2: run options, the archive of captured bodies, and indexes for export queries.
// Bodies are zlib-compressed, because HTML and JSON shrink several times. body_size is the
// length before compression, so a reader can size its buffer and detect a truncated blob.
constexpr std::string_view sqlite_archive_schema = R"sql(
ALTER TABLE runs ADD COLUMN options TEXT CHECK (options IS NULL OR json_valid(options));

CREATE TABLE raw_pages (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    city_slug TEXT NOT NULL,
    page_number INTEGER NOT NULL,
    url TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    source TEXT NOT NULL,
    body BLOB NOT NULL,
    body_size INTEGER NOT NULL CHECK (body_size >= 0),
    captured_at TEXT NOT NULL,
    PRIMARY KEY (run_id, city_slug, page_number, source)
);

CREATE INDEX events_city_lower_idx ON events (lower(city));
CREATE INDEX events_location_idx ON events (latitude, longitude);
)sql";

// Version 3: the listing query of a page becomes part of the raw_pages key, because page
// numbers restart for each query. SQLite cannot change a primary key in place, so the table is
// rebuilt. No table references raw_pages, so dropping the old one cascades nowhere.
constexpr std::string_view sqlite_page_query_schema = R"sql(
CREATE TABLE raw_pages_v3 (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    city_slug TEXT NOT NULL,
    query TEXT NOT NULL DEFAULT '',
    page_number INTEGER NOT NULL,
    url TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    source TEXT NOT NULL,
    body BLOB NOT NULL,
    body_size INTEGER NOT NULL CHECK (body_size >= 0),
    captured_at TEXT NOT NULL,
    PRIMARY KEY (run_id, city_slug, query, page_number, source)
);
INSERT INTO raw_pages_v3 (
    run_id, city_slug, query, page_number, url, http_status, content_type, source, body,
    body_size, captured_at)
SELECT run_id, city_slug, '', page_number, url, http_status, content_type, source, body,
       body_size, captured_at
FROM raw_pages;
DROP TABLE raw_pages;
ALTER TABLE raw_pages_v3 RENAME TO raw_pages;
)sql";

// Version 4: drops two events indexes that no query reads, because each costs a B-tree write
// per inserted or changed event. The export filters on lower(city), which events_city_lower_idx
// serves, and no query filters or sorts on last_seen_at.
constexpr std::string_view unused_indexes_schema = R"sql(
DROP INDEX IF EXISTS events_city_idx;
DROP INDEX IF EXISTS events_last_seen_at_idx;
)sql";

// Version 5: events get an integer key, seq, that grows with each new event, and the tags of an
// event refer to it. New events then append to both tag B-trees in place of inserting at the
// random positions of their ids, so a batch dirties a few tag pages in place of most of them.
// The view event_tags keeps the (event_id, tag) rows that readers of the file query. Its
// INSTEAD OF triggers delete and insert through it.
constexpr std::string_view sqlite_event_sequence_schema = R"sql(
CREATE TABLE events_v5 (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    summary TEXT,
    url TEXT,
    timezone TEXT,
    start_local TEXT,
    end_local TEXT,
    start_utc TEXT,
    end_utc TEXT,
    is_online INTEGER NOT NULL CHECK (is_online IN (0, 1)),
    is_free INTEGER NOT NULL CHECK (is_free IN (0, 1)),
    is_cancelled INTEGER NOT NULL CHECK (is_cancelled IN (0, 1)),
    venue_name TEXT,
    address TEXT,
    city TEXT,
    region TEXT,
    country TEXT,
    latitude REAL,
    longitude REAL,
    price_min_minor INTEGER,
    price_max_minor INTEGER,
    currency TEXT,
    organizer_name TEXT,
    series_id TEXT,
    image_url TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
INSERT INTO events_v5 (
    seq, id, name, summary, url, timezone, start_local, end_local, start_utc, end_utc,
    is_online, is_free, is_cancelled, venue_name, address, city, region, country, latitude,
    longitude, price_min_minor, price_max_minor, currency, organizer_name, series_id, image_url,
    first_seen_at, last_seen_at)
SELECT rowid, id, name, summary, url, timezone, start_local, end_local, start_utc, end_utc,
       is_online, is_free, is_cancelled, venue_name, address, city, region, country, latitude,
       longitude, price_min_minor, price_max_minor, currency, organizer_name, series_id, image_url,
       first_seen_at, last_seen_at
FROM events;

CREATE TABLE event_tag_entries (
    event_seq INTEGER NOT NULL REFERENCES events_v5 (seq) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (event_seq, tag)
) WITHOUT ROWID;
INSERT INTO event_tag_entries (event_seq, tag)
SELECT events.rowid, event_tags.tag
FROM event_tags JOIN events ON events.id = event_tags.event_id;

DROP TABLE event_tags;
DROP TABLE events;
ALTER TABLE events_v5 RENAME TO events;
CREATE INDEX events_start_utc_idx ON events (start_utc);
CREATE INDEX events_city_lower_idx ON events (lower(city));
CREATE INDEX events_location_idx ON events (latitude, longitude);
CREATE INDEX event_tag_entries_tag_idx ON event_tag_entries (tag);

CREATE VIEW event_tags (event_id, tag) AS
SELECT events.id, event_tag_entries.tag
FROM event_tag_entries JOIN events ON events.seq = event_tag_entries.event_seq;

CREATE TRIGGER event_tags_delete INSTEAD OF DELETE ON event_tags
BEGIN
    DELETE FROM event_tag_entries
    WHERE event_seq = (SELECT seq FROM events WHERE id = old.event_id) AND tag = old.tag;
END;

CREATE TRIGGER event_tags_insert INSTEAD OF INSERT ON event_tags
BEGIN
    SELECT RAISE(ABORT, 'event_tags: no event with this event_id')
    WHERE NOT EXISTS (SELECT 1 FROM events WHERE id = new.event_id);
    INSERT OR IGNORE INTO event_tag_entries (event_seq, tag)
    SELECT seq, new.tag FROM events WHERE id = new.event_id;
END;
)sql";

// Version 6: an event's tags move into events.tags, a JSON array of distinct strings in BINARY
// order, so that reading or comparing them reads the row alone. event_tag_index (tag_id,
// event_seq) finds the events of a tag, with each tag's text once in tags. A new event's tags
// then cost one B-tree entry each, keyed by two integers, in place of two entries with the tag
// text. The store writes event_tag_index itself for the events it inserts. The triggers keep it
// in step with events.tags for every other change: a tags update, a delete, and writes through
// the event_tags view. They read a stored value that is not JSON as no tags, so that such a row
// can still be updated or deleted. Tags that are BLOBs in version 5 become text.
// NOTE: an event inserted into events by hand gets no index entries. INSERT OR REPLACE deletes
// the row it replaces without the delete trigger, and a later event can reuse its seq.
constexpr std::string_view sqlite_tag_index_schema = R"sql(
CREATE TABLE tags (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE event_tag_index (
    tag_id INTEGER NOT NULL REFERENCES tags (id),
    event_seq INTEGER NOT NULL,
    PRIMARY KEY (tag_id, event_seq)
) WITHOUT ROWID;
ALTER TABLE events ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';

INSERT INTO tags (name) SELECT DISTINCT CAST(tag AS TEXT) FROM event_tag_entries ORDER BY 1;
UPDATE events SET tags = (
    SELECT json_group_array(tag)
    FROM (SELECT DISTINCT CAST(tag AS TEXT) AS tag FROM event_tag_entries
          WHERE event_seq = events.seq ORDER BY 1))
WHERE seq IN (SELECT event_seq FROM event_tag_entries);
INSERT OR IGNORE INTO event_tag_index (tag_id, event_seq)
SELECT tags.id, event_tag_entries.event_seq
FROM event_tag_entries
JOIN tags ON tags.name = CAST(event_tag_entries.tag AS TEXT)
JOIN events ON events.seq = event_tag_entries.event_seq;

DROP VIEW event_tags;
DROP TABLE event_tag_entries;

CREATE TRIGGER events_tags_update AFTER UPDATE OF seq, tags ON events
WHEN old.seq IS NOT new.seq OR old.tags IS NOT new.tags
BEGIN
    DELETE FROM event_tag_index
    WHERE event_seq = old.seq
      AND tag_id IN (SELECT tags.id
                     FROM json_each(CASE WHEN json_valid(old.tags) THEN old.tags ELSE '[]' END)
                     JOIN tags ON tags.name = value);
    INSERT OR IGNORE INTO tags (name) SELECT value FROM json_each(new.tags);
    INSERT OR IGNORE INTO event_tag_index (tag_id, event_seq)
    SELECT tags.id, new.seq FROM json_each(new.tags) JOIN tags ON tags.name = value;
END;

CREATE TRIGGER events_tags_delete AFTER DELETE ON events
BEGIN
    DELETE FROM event_tag_index
    WHERE event_seq = old.seq
      AND tag_id IN (SELECT tags.id
                     FROM json_each(CASE WHEN json_valid(old.tags) THEN old.tags ELSE '[]' END)
                     JOIN tags ON tags.name = value);
END;

CREATE VIEW event_tags (event_id, tag) AS
SELECT events.id, json_each.value FROM events, json_each(events.tags);

CREATE TRIGGER event_tags_insert INSTEAD OF INSERT ON event_tags
BEGIN
    SELECT RAISE(ABORT, 'event_tags: no event with this event_id')
    WHERE NOT EXISTS (SELECT 1 FROM events WHERE id = new.event_id);
    SELECT RAISE(ABORT, 'event_tags: tag is NULL') WHERE new.tag IS NULL;
    UPDATE events SET tags = (
        SELECT json_group_array(value)
        FROM (SELECT value FROM json_each(events.tags)
              UNION SELECT CAST(new.tag AS TEXT) ORDER BY 1))
    WHERE id = new.event_id;
END;

CREATE TRIGGER event_tags_delete INSTEAD OF DELETE ON event_tags
BEGIN
    UPDATE events SET tags = (
        SELECT json_group_array(value)
        FROM (SELECT value FROM json_each(events.tags) WHERE value IS NOT old.tag ORDER BY 1))
    WHERE id = old.event_id;
END;

CREATE TRIGGER event_tags_update INSTEAD OF UPDATE ON event_tags
BEGIN
    SELECT RAISE(ABORT, 'event_tags: the event already has this tag')
    WHERE (new.event_id IS NOT old.event_id OR new.tag IS NOT old.tag)
      AND EXISTS (SELECT 1 FROM events, json_each(events.tags)
                  WHERE events.id = new.event_id AND json_each.value = CAST(new.tag AS TEXT));
    DELETE FROM event_tags WHERE event_id = old.event_id AND tag = old.tag;
    INSERT INTO event_tags (event_id, tag) VALUES (new.event_id, new.tag);
END;
)sql";

constexpr std::array sqlite_list{
    migration{1, "events, event_tags, runs and run_cities", sqlite_initial_schema},
    migration{2, "runs.options, raw_pages and export indexes", sqlite_archive_schema},
    migration{3, "raw_pages.query in the raw_pages key", sqlite_page_query_schema},
    migration{4, "drop events indexes that no query reads", unused_indexes_schema},
    migration{5, "integer event key for tags, event_tags as a view", sqlite_event_sequence_schema},
    migration{6, "tags in events.tags, event_tag_index by tag", sqlite_tag_index_schema},
};

// The same tables as the SQLite schema. Versions 1 and 2 keep timestamps as TEXT in ISO 8601
// UTC, and version 3 converts them to timestamptz and timestamp.
constexpr std::string_view postgres_initial_schema = R"sql(
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    summary TEXT,
    url TEXT,
    timezone TEXT,
    start_local TEXT,
    end_local TEXT,
    start_utc TEXT,
    end_utc TEXT,
    is_online INTEGER NOT NULL CHECK (is_online IN (0, 1)),
    is_free INTEGER NOT NULL CHECK (is_free IN (0, 1)),
    is_cancelled INTEGER NOT NULL CHECK (is_cancelled IN (0, 1)),
    venue_name TEXT,
    address TEXT,
    city TEXT,
    region TEXT,
    country TEXT,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    price_min_minor BIGINT,
    price_max_minor BIGINT,
    currency TEXT,
    organizer_name TEXT,
    series_id TEXT,
    image_url TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
CREATE INDEX events_start_utc_idx ON events (start_utc);
CREATE INDEX events_city_idx ON events (city);
CREATE INDEX events_last_seen_at_idx ON events (last_seen_at);

CREATE TABLE event_tags (
    event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (event_id, tag)
);
CREATE INDEX event_tags_tag_idx ON event_tags (tag);

CREATE TABLE runs (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    mode TEXT NOT NULL,
    command TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    cities_ok INTEGER,
    cities_failed INTEGER,
    pages BIGINT,
    events BIGINT,
    errors BIGINT
);

CREATE TABLE run_cities (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    city_slug TEXT NOT NULL,
    status TEXT NOT NULL,
    pages INTEGER NOT NULL,
    events BIGINT NOT NULL,
    errors INTEGER NOT NULL,
    last_error TEXT,
    started_at TEXT,
    finished_at TEXT,
    PRIMARY KEY (run_id, city_slug)
);
)sql";

// Version 2: run options (jsonb), the archive of captured bodies, and indexes for export
// queries. A JSON body is stored as jsonb, any other body as text, and the CHECK keeps exactly
// one of the two set. eventcrawl_try_jsonb returns NULL for text that jsonb rejects (invalid
// JSON, or an escaped NUL character), because PostgreSQL 15 has no non-throwing cast.
constexpr std::string_view postgres_archive_schema = R"sql(
ALTER TABLE runs ADD COLUMN options JSONB;

CREATE TABLE raw_pages (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    city_slug TEXT NOT NULL,
    page_number INTEGER NOT NULL,
    url TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    source TEXT NOT NULL,
    body_json JSONB,
    body_text TEXT,
    captured_at TEXT NOT NULL,
    PRIMARY KEY (run_id, city_slug, page_number, source),
    CONSTRAINT raw_pages_one_body CHECK ((body_json IS NULL) <> (body_text IS NULL))
);

CREATE FUNCTION eventcrawl_try_jsonb(body TEXT) RETURNS JSONB
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN body::jsonb;
EXCEPTION WHEN invalid_text_representation OR untranslatable_character THEN
    RETURN NULL;
END
$$;

CREATE INDEX events_city_lower_idx ON events (lower(city));
CREATE INDEX events_location_idx ON events (latitude, longitude);
)sql";

// Version 3: instants become timestamptz and wall-clock times become timestamp, so that
// PostgreSQL compares, indexes and validates them as times. The USING casts read the ISO 8601
// text of versions 1 and 2; the session time zone is UTC, so a value without an offset is read
// as UTC. Every read formats the values back to the text that SQLite returns. schema_version
// keeps TEXT, because it records when a step ran and nothing compares it.
//
// start_local and end_local hold a wall-clock time in the event's own zone with no offset, which
// is what timestamp (without time zone) means. A timestamptz would convert them through the
// session zone and store a wrong instant.
//
// The listing query of a page joins the raw_pages key, because page numbers restart for each
// query.
constexpr std::string_view postgres_typed_times_schema = R"sql(
SET LOCAL TIME ZONE 'UTC';

ALTER TABLE events
    ALTER COLUMN start_local TYPE timestamp USING start_local::timestamp,
    ALTER COLUMN end_local TYPE timestamp USING end_local::timestamp,
    ALTER COLUMN start_utc TYPE timestamptz USING start_utc::timestamptz,
    ALTER COLUMN end_utc TYPE timestamptz USING end_utc::timestamptz,
    ALTER COLUMN first_seen_at TYPE timestamptz USING first_seen_at::timestamptz,
    ALTER COLUMN last_seen_at TYPE timestamptz USING last_seen_at::timestamptz;

ALTER TABLE runs
    ALTER COLUMN started_at TYPE timestamptz USING started_at::timestamptz,
    ALTER COLUMN finished_at TYPE timestamptz USING finished_at::timestamptz;

ALTER TABLE run_cities
    ALTER COLUMN started_at TYPE timestamptz USING started_at::timestamptz,
    ALTER COLUMN finished_at TYPE timestamptz USING finished_at::timestamptz;

ALTER TABLE raw_pages
    ALTER COLUMN captured_at TYPE timestamptz USING captured_at::timestamptz,
    ADD COLUMN query TEXT NOT NULL DEFAULT '',
    DROP CONSTRAINT raw_pages_pkey,
    ADD PRIMARY KEY (run_id, city_slug, query, page_number, source);
)sql";

// Version 5: event_tags loses its foreign key to events. Its check ran one query per inserted
// tag row: 32 of the 64 ms that auto_explain measured for the INSERT of 1,586 tags, the slowest
// statement of a batch load. Triggers keep what the key's ON DELETE CASCADE and its NO ACTION on
// update gave: deleting or truncating events removes their tags, and the id of an event with
// tags cannot change. The store writes tags only after the merge that inserts or locks their
// event in the same transaction (INSERT ... ON CONFLICT DO UPDATE locks every conflicting row,
// also when its WHERE is false). A concurrent DELETE of the event therefore waits for that
// commit, and its trigger then removes the new tags too.
// NOTE: other writers can now insert a tag whose event does not exist; nothing rejects it.
constexpr std::string_view postgres_tag_triggers_schema = R"sql(
ALTER TABLE event_tags DROP CONSTRAINT event_tags_event_id_fkey;

CREATE FUNCTION eventcrawl_delete_event_tags() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM event_tags WHERE event_id IN (SELECT id FROM deleted_events);
    RETURN NULL;
END
$$;
CREATE TRIGGER events_delete_tags AFTER DELETE ON events
    REFERENCING OLD TABLE AS deleted_events
    FOR EACH STATEMENT EXECUTE FUNCTION eventcrawl_delete_event_tags();

CREATE FUNCTION eventcrawl_truncate_event_tags() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE event_tags;
    RETURN NULL;
END
$$;
CREATE TRIGGER events_truncate_tags AFTER TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION eventcrawl_truncate_event_tags();

CREATE FUNCTION eventcrawl_reject_tagged_id_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM event_tags WHERE event_id = OLD.id) THEN
        RAISE EXCEPTION 'events.id % has rows in event_tags and cannot change to %', OLD.id, NEW.id
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'delete the event and insert it again under the new id';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER events_keep_tagged_id BEFORE UPDATE OF id ON events
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION eventcrawl_reject_tagged_id_change();
)sql";

// Version 6: events.id, event_tags.event_id and event_tags.tag compare by byte value (COLLATE
// "C"), as SQLite's BINARY collation does, so B-tree comparisons no longer go through strcoll.
// Equality is byte equality under both collations, so no stored row changes, and reads already
// order by COLLATE "C". PostgreSQL 15 rejects a type change of a column that a trigger's WHEN
// clause reads, so that trigger is dropped and created again.
constexpr std::string_view postgres_byte_order_keys_schema = R"sql(
DROP TRIGGER events_keep_tagged_id ON events;

ALTER TABLE events ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE event_tags
    ALTER COLUMN event_id TYPE TEXT COLLATE "C",
    ALTER COLUMN tag TYPE TEXT COLLATE "C";

CREATE TRIGGER events_keep_tagged_id BEFORE UPDATE OF id ON events
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION eventcrawl_reject_tagged_id_change();
)sql";

// Version 7: the tags of an event move into events.tags, a byte-ordered array without repeats,
// indexed by GIN for tag queries (tags @> ARRAY['...']). A batch then writes one row per event
// in place of a row and two B-tree entries per tag. bench/transform_load loaded 100,800 new
// events in 2.0 s in place of 4.7 s. A tag change is one more compared column of the row. The
// view event_tags keeps the (event_id, tag) rows for readers, and its INSTEAD OF triggers write
// through it. Deleting or truncating events now takes the tags with the rows, and an event keeps
// its tags when its id changes, so the triggers of version 5 go. Tag rows of an event that does
// not exist, which version 5 let other writers insert, have no row to move to and are dropped.
// A query by tag reads the array (tags @> ARRAY['jazz']), which the GIN index serves. The view
// has no index, so `WHERE tag = ...` on it reads every event.
constexpr std::string_view postgres_tag_array_schema = R"sql(
ALTER TABLE events ADD COLUMN tags TEXT[] COLLATE "C" NOT NULL DEFAULT '{}';
UPDATE events SET tags = ARRAY(SELECT DISTINCT event_tags.tag FROM event_tags
                               WHERE event_tags.event_id = events.id ORDER BY event_tags.tag)
WHERE EXISTS (SELECT FROM event_tags WHERE event_tags.event_id = events.id);

DROP TRIGGER events_keep_tagged_id ON events;
DROP TRIGGER events_delete_tags ON events;
DROP TRIGGER events_truncate_tags ON events;
DROP FUNCTION eventcrawl_reject_tagged_id_change();
DROP FUNCTION eventcrawl_delete_event_tags();
DROP FUNCTION eventcrawl_truncate_event_tags();
DROP TABLE event_tags;

CREATE INDEX events_tags_idx ON events USING gin (tags);

CREATE VIEW event_tags (event_id, tag) AS
SELECT events.id, stored.tag
FROM events CROSS JOIN LATERAL unnest(events.tags) AS stored (tag);

CREATE FUNCTION eventcrawl_add_event_tag(event_id TEXT, tag TEXT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF tag IS NULL THEN
        RAISE EXCEPTION 'event_tags: the tag of event % is NULL', event_id
            USING ERRCODE = 'not_null_violation';
    END IF;
    UPDATE events
    SET tags = ARRAY(SELECT DISTINCT merged.tag
                     FROM unnest(array_append(events.tags, tag)) AS merged (tag)
                     ORDER BY merged.tag)
    WHERE events.id = event_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'event_tags: no event with id %', event_id
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'insert the event before its tags';
    END IF;
END
$$;

CREATE FUNCTION eventcrawl_insert_event_tag() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM eventcrawl_add_event_tag(NEW.event_id, NEW.tag);
    RETURN NEW;
END
$$;
CREATE TRIGGER event_tags_insert INSTEAD OF INSERT ON event_tags
    FOR EACH ROW EXECUTE FUNCTION eventcrawl_insert_event_tag();

CREATE FUNCTION eventcrawl_delete_event_tag() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE events SET tags = array_remove(tags, OLD.tag) WHERE id = OLD.event_id;
    RETURN OLD;
END
$$;
CREATE TRIGGER event_tags_delete INSTEAD OF DELETE ON event_tags
    FOR EACH ROW EXECUTE FUNCTION eventcrawl_delete_event_tag();

-- A failed add rolls the removal back with the statement.
CREATE FUNCTION eventcrawl_update_event_tag() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE events SET tags = array_remove(tags, OLD.tag) WHERE id = OLD.event_id;
    PERFORM eventcrawl_add_event_tag(NEW.event_id, NEW.tag);
    RETURN NEW;
END
$$;
CREATE TRIGGER event_tags_update INSTEAD OF UPDATE ON event_tags
    FOR EACH ROW EXECUTE FUNCTION eventcrawl_update_event_tag();
)sql";

// Version 8: an update through event_tags that would give an event a tag it already has fails,
// as it would on a table with a unique (event_id, tag). Row by row, a swap of two tags of one
// event otherwise kept only one of them.
constexpr std::string_view postgres_tag_update_unique_schema = R"sql(
CREATE OR REPLACE FUNCTION eventcrawl_update_event_tag() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.event_id, NEW.tag) IS DISTINCT FROM (OLD.event_id, OLD.tag)
       AND EXISTS (SELECT 1 FROM events WHERE id = NEW.event_id AND NEW.tag = ANY (tags)) THEN
        RAISE EXCEPTION 'event_tags: event % already has the tag %', NEW.event_id, NEW.tag
            USING ERRCODE = 'unique_violation';
    END IF;
    UPDATE events SET tags = array_remove(tags, OLD.tag) WHERE id = OLD.event_id;
    PERFORM eventcrawl_add_event_tag(NEW.event_id, NEW.tag);
    RETURN NEW;
END
$$;
)sql";

constexpr std::array postgres_list{
    migration{1, "events, event_tags, runs and run_cities", postgres_initial_schema},
    migration{2, "runs.options, raw_pages and export indexes", postgres_archive_schema},
    migration{
        3, "timestamptz instants and raw_pages.query in the key", postgres_typed_times_schema},
    migration{4, "drop events indexes that no query reads", unused_indexes_schema},
    migration{
        5, "event_tags cascade by triggers instead of a foreign key", postgres_tag_triggers_schema},
    migration{6, "byte-order collation on event and tag keys", postgres_byte_order_keys_schema},
    migration{7, "tags as a GIN-indexed array in events", postgres_tag_array_schema},
    migration{8, "event_tags updates reject a repeated tag", postgres_tag_update_unique_schema},
};

}  // namespace

std::span<const migration> sqlite_migrations() {
    return sqlite_list;
}

std::span<const migration> postgres_migrations() {
    return postgres_list;
}

}  // namespace eventcrawl::db::detail
