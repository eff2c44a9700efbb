-- Lockbox (issue 6): users' provider API keys, sealed with AES-256-GCM.
-- `sealed` is `v1.<kid>.<nonce>.<ciphertext+tag>` (base64); the plaintext is
-- never stored. `kid` repeats the key id so rotation finds rows to re-encrypt;
-- `last4` is what the masked view shows. `updated_at` is RFC 3339 UTC.
CREATE TABLE lockbox (
    owner      TEXT NOT NULL,
    provider   TEXT NOT NULL,
    kid        TEXT NOT NULL,
    sealed     TEXT NOT NULL,
    last4      TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (owner, provider)
);

CREATE INDEX lockbox_kid ON lockbox (kid);
