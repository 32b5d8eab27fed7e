// Package devstores owns the embedded, protocol-speaking stand-ins that let
// `rampart serve` run with no configuration: an S3 server (gofakes3's
// protocol on our own bbolt backend, s3bolt.go) and a MongoDB-wire server
// (FerretDB on SQLite), both on loopback.
// The tests also run FerretDB on PostgreSQL (StartMongoPostgres), so that
// nothing depends on how the SQLite backend happens to behave.
//
// Production deployments point --s3-endpoint and --mongo-uri at real
// services and never start these; keeping them in this one package makes
// that dependency visible.
package devstores
