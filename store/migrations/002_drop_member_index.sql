-- No query reads reservations by member_id alone: GET /api/members/{id}
-- reads members, and every member check goes through
-- (concert_id, active_member). The index cost every insert a write at a
-- random place in a B-tree, and a rush inserts ten thousand rows a second.
ALTER TABLE reservations DROP INDEX reservations_member;
