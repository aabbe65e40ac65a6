// Package backup owns the Custos backup file: a consistent copy of the
// store and the data dir's keys, encrypted with age to the operators'
// offline recipients, behind a header that names the network, the wallet,
// the schema, the store's SHA-256 and the signed audit checkpoint it was
// taken at. custosd writes it (daemon, AdminService.Backup) and custosd
// restore reads it (cmd/custosd); both import this package, like the audit
// log's formats in package audit.
//
// It refuses to guess: a file that is not a backup, a header that does not
// match the digest written outside the encryption, a part whose size or
// hash differs, bytes after the last part, and a file cut short are each
// refused naming the problem. It never writes into a data dir; the caller
// installs what it read.
package backup
