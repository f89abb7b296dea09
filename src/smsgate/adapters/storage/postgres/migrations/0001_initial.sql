-- The PostgreSQL store's schema, version 0001: what SQLite's migrations 1-12 built, in one step.
--
-- Shape follows the SQLite store (adapters/storage/sqlite.py), with these differences:
-- * balances are a table of their own (one row per account, BIGINT micros, never below zero):
--   the hot path locks and updates only that row, never the account row that the admin edits;
-- * carrier ids and key actions are text[] rather than JSON text;
-- * work that several processes claim (callbacks, MO pushes, SMPP receipts and MO messages owed
--   to binds) carries claimed_by / claimed_until: a lease taken with FOR UPDATE SKIP LOCKED, so
--   two processes never push the same row at once, and a dead process's rows are taken over
--   once its lease runs out (on the database's clock).
-- Times are unix seconds in double precision, as the Python records hold them.

CREATE TABLE accounts (
    id text PRIMARY KEY,
    name text NOT NULL,
    state text NOT NULL,
    callback_url text,
    created_at double precision NOT NULL
);

CREATE TABLE balances (
    account_id text PRIMARY KEY REFERENCES accounts (id),
    balance_micros bigint NOT NULL CHECK (balance_micros >= 0)
);

CREATE TABLE access_keys (
    id text PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id),
    secret_sealed text NOT NULL,  -- SecretBox output: never the plaintext secret
    enabled boolean NOT NULL,
    allowed_actions text[],
    created_at double precision NOT NULL
);
CREATE INDEX access_keys_account ON access_keys (account_id);

CREATE TABLE templates (
    account_id text NOT NULL REFERENCES accounts (id),
    code text NOT NULL,
    content text NOT NULL,
    template_type text NOT NULL,
    status text NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (account_id, code)
);

CREATE TABLE sign_names (
    account_id text NOT NULL REFERENCES accounts (id),
    name text NOT NULL,
    status text NOT NULL,
    created_at double precision NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- Policy documents; version grows on every write.
CREATE TABLE documents (
    name text PRIMARY KEY,
    version bigint NOT NULL,
    updated_at double precision,
    body text NOT NULL
);

-- No foreign key on messages: it would cost a lookup per insert on the hot path, and accounts
-- are never deleted (closed accounts keep their records).
CREATE TABLE messages (
    id bigint PRIMARY KEY,
    account_id text NOT NULL,
    to_number text NOT NULL,
    sender text,
    body text NOT NULL,
    encoding text NOT NULL,
    segments integer NOT NULL,
    country text NOT NULL,
    region_code text NOT NULL,
    region text NOT NULL,
    network text NOT NULL,
    msg_type text NOT NULL,
    created_at double precision NOT NULL,
    status text NOT NULL,
    task_id text,
    channel_id text,
    template_code text,
    sms_up_extend_code text,
    validity_period bigint,
    door text NOT NULL,
    error_code text,
    send_date double precision,
    receive_date double precision,
    carrier_ids text[],
    converted boolean,
    conversion_time double precision,
    extra text,
    price_micros bigint NOT NULL DEFAULT 0,
    registered_delivery integer NOT NULL DEFAULT 0,
    system_id text,
    bind_id bigint,
    connector text,
    carrier_status text
);
-- Only unfinished messages are indexed, so the index stays as small as the backlog.
CREATE INDEX messages_unfinished ON messages (id) WHERE status IN ('accepted', 'submitted');
-- An account's records by id (ids grow with time): record queries, listings, quota counts.
CREATE INDEX messages_account ON messages (account_id, id);
-- SUBMITTED messages with a validity of their own, by when it runs out (the expiry sweep).
CREATE INDEX messages_expiry_own ON messages ((created_at + validity_period))
    WHERE status = 'submitted' AND validity_period IS NOT NULL;
-- SUBMITTED messages by connector and send date: what a drained connector still owes.
CREATE INDEX messages_awaiting_receipt ON messages (connector, send_date)
    WHERE status = 'submitted';

CREATE TABLE conversion_data (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id text NOT NULL,
    rate double precision NOT NULL,
    report_time double precision NOT NULL
);

-- Receipts from a carrier name only its id for a part: (connector, carrier key) finds the
-- message, and each part's receipt so far (NULL: none yet) is kept with it.
CREATE TABLE message_carrier_ids (
    connector text NOT NULL,
    carrier_id text NOT NULL,
    message_id bigint NOT NULL,
    state text,
    PRIMARY KEY (connector, carrier_id)
);

-- Receipts that came before their submit's response was recorded, under each key their id may
-- have been stored as, until mark_submitted records it (or they grow too old).
CREATE TABLE pending_receipts (
    connector text NOT NULL,
    carrier_key text NOT NULL,
    reported_id text NOT NULL,
    status text NOT NULL,
    error_code text NOT NULL,
    carrier_status text,
    done_at double precision NOT NULL,
    refund boolean NOT NULL,
    received_at double precision NOT NULL,
    PRIMARY KEY (connector, carrier_key)
);
CREATE INDEX pending_receipts_reported ON pending_receipts (connector, reported_id);
CREATE INDEX pending_receipts_age ON pending_receipts (received_at);

-- Receipt pushes to accounts' callback URLs. An identity never gives an id twice, so a late
-- finish or retry from a slow worker cannot touch a newer job.
CREATE TABLE callbacks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id text NOT NULL,
    url text NOT NULL,
    message_id bigint NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at double precision NOT NULL,
    last_error text,
    state text NOT NULL CHECK (state IN ('pending', 'dead')),
    claimed_by text,
    claimed_until double precision
);
CREATE INDEX callbacks_due ON callbacks (next_attempt_at, id) WHERE state = 'pending';
-- Claims held (by any process): when the next one runs out.
CREATE INDEX callbacks_claimed ON callbacks (claimed_until) WHERE claimed_by IS NOT NULL;

-- SMPP receipts owed to each account's receiver binds, until acknowledged.
CREATE TABLE smpp_receipts (
    account_id text NOT NULL,
    message_id bigint NOT NULL,
    claimed_by text,
    claimed_until double precision,
    PRIMARY KEY (account_id, message_id)
);

-- Signature nonces of the replay window (ports/replay.py), keyed by expiry first.
CREATE TABLE nonces (
    expires_at double precision NOT NULL,
    access_key_id text NOT NULL,
    nonce text NOT NULL,
    PRIMARY KEY (expires_at, access_key_id, nonce)
);

-- MO messages, their parts until whole, and their deliveries (see inbound.py).
CREATE TABLE mo_messages (
    sequence_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id text NOT NULL,
    source text NOT NULL,
    destination text NOT NULL,
    dest_code text NOT NULL,
    text text NOT NULL,
    received_at double precision NOT NULL,
    connector text NOT NULL
);
CREATE INDEX mo_messages_account ON mo_messages (account_id, sequence_id);

CREATE TABLE mo_parts (
    connector text NOT NULL,
    source text NOT NULL,
    destination text NOT NULL,
    reference integer NOT NULL,
    total integer NOT NULL,
    number integer NOT NULL,
    data_coding integer NOT NULL,
    received_at double precision NOT NULL,
    body bytea NOT NULL,
    PRIMARY KEY (connector, source, destination, reference, total, number)
);
CREATE INDEX mo_parts_age ON mo_parts (received_at);

CREATE TABLE mo_pushes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id text NOT NULL,
    url text NOT NULL,
    sequence_id bigint NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at double precision NOT NULL,
    last_error text,
    state text NOT NULL CHECK (state IN ('pending', 'dead')),
    claimed_by text,
    claimed_until double precision
);
CREATE INDEX mo_pushes_due ON mo_pushes (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX mo_pushes_claimed ON mo_pushes (claimed_until) WHERE claimed_by IS NOT NULL;

CREATE TABLE smpp_mo (
    account_id text NOT NULL,
    sequence_id bigint NOT NULL,
    claimed_by text,
    claimed_until double precision,
    PRIMARY KEY (account_id, sequence_id)
);
