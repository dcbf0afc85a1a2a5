-- One row per finished meeting: which room, when, how many at most. No participant, ever.
CREATE TABLE meetings (
    id uuid PRIMARY KEY,
    room text NOT NULL,
    started timestamptz NOT NULL,
    ended timestamptz NOT NULL,
    peak integer NOT NULL CHECK (peak >= 0),
    CHECK (ended >= started)
);
-- Retention deletes by end; reports select by start, per room.
CREATE INDEX meetings_ended ON meetings (ended);
CREATE INDEX meetings_room_started ON meetings (room, started);
