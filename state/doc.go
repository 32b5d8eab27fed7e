// Package state owns the player document, per-player serialized processing,
// the online registry, login and logout, S3 load and save with ownership
// leases, and autosave. The player's refresh-token family is in its
// document: Login checks a refresh against it and writes a sign-in's new
// one before it answers (accounts.Rotation, accounts/doc.go).
package state
