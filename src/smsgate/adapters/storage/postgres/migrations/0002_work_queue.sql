-- The work queue between acceptance and delivery is the messages table itself: a message is
-- queued by the transaction that accepts it (no second write that could be lost), claimed by
-- one delivery worker at a time with FOR UPDATE SKIP LOCKED, and leaves the queue when its
-- state leaves 'accepted'. A claim is a lease on the database's clock: the work of a worker
-- that dies is taken over when its lease runs out.
ALTER TABLE messages
    ADD COLUMN work_due_at double precision NOT NULL DEFAULT 0,  -- not before (a carrier's "later")
    ADD COLUMN work_claimed_until double precision,  -- the lease of the worker holding it
    ADD COLUMN work_node integer;  -- the node id of the worker that last claimed it
-- Only queued messages are indexed, in the order workers take them.
CREATE INDEX messages_work ON messages (work_due_at, id) WHERE status = 'accepted';
-- What a node handed to a carrier that keeps nothing across restarts (the simulator).
CREATE INDEX messages_node_submitted ON messages (work_node, id) WHERE status = 'submitted';
