-- Accounts, their request quotas and their access keys. A secret access key is stored only
-- wrapped under a root key (as backing keys are), bound to its access key id; a session token
-- only as its SHA-256 in hex, which is all that checking one needs. An account's keys are not tied to
-- its row here: `keyshard dev` serves one account that has none.

CREATE TABLE accounts (
    account    TEXT    NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL
) STRICT;

-- Requests per second an account may make in one quota class, where it differs from the
-- gateway's default.
CREATE TABLE account_quotas (
    account             TEXT    NOT NULL REFERENCES accounts (account) ON DELETE CASCADE,
    quota_class         TEXT    NOT NULL,
    requests_per_second INTEGER NOT NULL,
    PRIMARY KEY (account, quota_class)
) STRICT;

CREATE TABLE access_keys (
    access_key_id      TEXT    NOT NULL PRIMARY KEY,
    account            TEXT    NOT NULL REFERENCES accounts (account) ON DELETE CASCADE,
    principal          TEXT    NOT NULL,
    root_key_id        TEXT    NOT NULL,
    wrapped_secret     BLOB    NOT NULL,
    session_token_hash TEXT,
    expires_at         INTEGER,
    created_at         INTEGER NOT NULL
) STRICT;

-- Listing an account's access keys; finding secrets still wrapped under an old root key.
CREATE INDEX access_keys_by_account ON access_keys (account, access_key_id);
CREATE INDEX access_keys_by_root_key ON access_keys (root_key_id, access_key_id);

-- Decrypt without a KeyId finds the account of the key a ciphertext names by its id alone.
CREATE INDEX keys_by_key_id ON keys (key_id);
