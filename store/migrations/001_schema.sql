-- Concerts: remaining is the database's own guard; the CHECK refuses more
-- active reservations than capacity even if Redis lost its state.
CREATE TABLE IF NOT EXISTS concerts (
  id        BIGINT       NOT NULL PRIMARY KEY,
  name      VARCHAR(200) NOT NULL,
  capacity  INT          NOT NULL,
  remaining INT          NOT NULL,
  CONSTRAINT concerts_remaining_range CHECK (remaining >= 0 AND remaining <= capacity)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS members (
  id   BIGINT       NOT NULL PRIMARY KEY,
  name VARCHAR(200) NOT NULL
) ENGINE=InnoDB;

-- Reservations: id is a ULID (time-ordered, made by the gateway without
-- coordination). active_member is member_id while the reservation holds a
-- seat and NULL otherwise, so the UNIQUE key allows one active reservation per
-- member per concert and any number of finished ones (MySQL has no partial
-- indexes; NULLs never collide).
CREATE TABLE IF NOT EXISTS reservations (
  id            CHAR(26) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  concert_id    BIGINT       NOT NULL,
  member_id     BIGINT       NOT NULL,
  status        VARCHAR(16)  NOT NULL,
  strategy      VARCHAR(16)  NOT NULL DEFAULT 'async',
  created_at    DATETIME(3)  NOT NULL,
  updated_at    DATETIME(3)  NOT NULL,
  expires_at    DATETIME(3)  NULL,
  reason        VARCHAR(255) NULL,
  active_member BIGINT GENERATED ALWAYS AS (IF(status IN ('HELD', 'CONFIRMED'), member_id, NULL)) STORED,
  UNIQUE KEY reservations_active (concert_id, active_member),
  KEY reservations_member (member_id)
) ENGINE=InnoDB;
