// Package accounts owns the players' accounts: credentials, password
// hashes, studio tickets, session and refresh tokens, password lockout and
// bans, all kept in S3 beside the players.
package accounts
