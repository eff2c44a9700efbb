-- One row per space: its version counter, epoch and the start of its durable log.
CREATE TABLE spaces (
    space      TEXT PRIMARY KEY,
    epoch      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    -- events with version <= log_start have been compacted away
    log_start  BIGINT NOT NULL DEFAULT 0
);

-- Current documents; value NULL is a tombstone.
CREATE TABLE docs (
    space      TEXT NOT NULL,
    collection TEXT NOT NULL,
    id         TEXT NOT NULL,
    version    BIGINT NOT NULL,
    value      TEXT,
    PRIMARY KEY (space, collection, id)
);

-- The durable event log; body is the event JSON exactly as sent to clients.
CREATE TABLE events (
    space   TEXT NOT NULL,
    version BIGINT NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (space, version)
);

-- Last processed mutation id per (owner, client).
CREATE TABLE clients (
    owner            TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    last_mutation_id BIGINT NOT NULL,
    PRIMARY KEY (owner, client_id)
);

-- Stored outcomes so a retried mutation gets its original answer.
CREATE TABLE mutation_results (
    owner       TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    mutation_id BIGINT NOT NULL,
    result      TEXT NOT NULL,
    PRIMARY KEY (owner, client_id, mutation_id)
);
