// Package daemon is the Custos coordinator, custosd: it serves the gRPC API
// over mutual TLS on loopback, checks every caller's role, keeps the reserve
// wallet's state through an injected Store, and follows the Bitcoin node
// with package chain.
//
// It never holds a key that can move reserve funds, never imports the
// signer, and never imports the store: cmd/custosd wires a store.DB in as
// a Store. Proto types stop at the rpc_*.go files.
package daemon
