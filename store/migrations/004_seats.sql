-- Numbered seats. A concert with a seat map keeps it here (the document
-- seed loaded: sections, rows, seats, price tiers); without one it is
-- general admission.
CREATE TABLE IF NOT EXISTS seat_maps (
  concert_id BIGINT     NOT NULL PRIMARY KEY,
  layout     MEDIUMTEXT NOT NULL
) ENGINE=InnoDB;

-- The seats of each reservation of a seated concert. active is 1 while the
-- reservation holds its seats (HELD, CONFIRMED) and NULL once it let them
-- go, so the UNIQUE key allows one active reservation per seat and any
-- number of finished ones (NULLs never collide): the last guard against
-- selling a seat twice, whatever Redis believed.
CREATE TABLE IF NOT EXISTS reservation_seats (
  reservation_id CHAR(26)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  concert_id     BIGINT      NOT NULL,
  seat_id        VARCHAR(18) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  active         TINYINT     NULL,
  PRIMARY KEY (reservation_id, seat_id),
  UNIQUE KEY reservation_seats_active (concert_id, seat_id, active)
) ENGINE=InnoDB;
