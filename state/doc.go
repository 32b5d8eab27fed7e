// Package state owns the player document, per-player serialized processing,
// the online registry, login and logout, S3 load and save with ownership
// leases, and autosave.
package state
