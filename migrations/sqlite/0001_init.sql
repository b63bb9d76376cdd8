-- Keys, their wrapped backing versions, and aliases. Every primary key starts with the account,
-- so no row can be reached without naming it. Enums hold their AWS wire strings, key ids their
-- lowercase text, times milliseconds since the Unix epoch.

CREATE TABLE keys (
    account         TEXT    NOT NULL,
    key_id          TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    key_spec        TEXT    NOT NULL,
    key_usage       TEXT    NOT NULL,
    origin          TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    deletion_date   INTEGER,
    current_version INTEGER NOT NULL,
    PRIMARY KEY (account, key_id)
) STRICT;

-- Backing key material, only ever wrapped under a root key (DESIGN.md, "Key hierarchy").
CREATE TABLE key_versions (
    account          TEXT    NOT NULL,
    key_id           TEXT    NOT NULL,
    version          INTEGER NOT NULL,
    root_key_id      TEXT    NOT NULL,
    wrapped_material BLOB    NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (account, key_id, version),
    FOREIGN KEY (account, key_id) REFERENCES keys (account, key_id)
) STRICT;

CREATE TABLE aliases (
    account       TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    target_key_id TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (account, name),
    FOREIGN KEY (account, target_key_id) REFERENCES keys (account, key_id)
) STRICT;

-- Counting a key's aliases against the per-key quota, and ListAliases with a KeyId.
CREATE INDEX aliases_by_target ON aliases (account, target_key_id, name);
