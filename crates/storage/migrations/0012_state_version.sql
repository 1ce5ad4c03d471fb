-- A deployment's state version: moved on by every write of its state (`progress.rs`), so
-- the API may keep the state it last wrote and use it again while the version it wrote is
-- still the row's (ARCHITECTURE.md, "Loaded states"). A change made by hand in SQL to a
-- running deployment must move it too, or be followed by a restart of the API.
ALTER TABLE deployments ADD COLUMN state_version bigint NOT NULL DEFAULT 0;
