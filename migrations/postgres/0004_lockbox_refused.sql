-- A stored key the provider refused (a live check with it answered 401/403,
-- or a back-end service reported that): why and when, in words, never any
-- key material. Resolution then falls back to the server's key (seed 004,
-- "User API Key Fails: fall back to system API key"). Setting a new key
-- clears it; so does a later check that the provider accepts.
ALTER TABLE lockbox ADD COLUMN refused TEXT;
