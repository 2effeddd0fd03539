-- Waiting rooms. A concert with a row here sells only to members holding a
-- pass of its room (gateway/queue.go); the queue itself lives in Redis. The
-- row is the room's system of record: a gateway that finds a room here but
-- none in Redis (Redis lost it) writes the settings back and keeps requiring
-- passes, rather than opening the sale to everyone.
CREATE TABLE IF NOT EXISTS rooms (
  concert_id  BIGINT   NOT NULL PRIMARY KEY,
  opens_at_ms BIGINT   NOT NULL,
  rate        INT      NOT NULL,
  max_active  INT      NOT NULL,
  pass_ttl_ms BIGINT   NOT NULL
) ENGINE=InnoDB;
