// Package chain follows a Bitcoin node for the reserve wallet: it scans
// blocks from the wallet's birthday for outputs paying the wallet's scripts
// and inputs spending its outputs, keeps a gap-limit lookahead of derived
// scripts, detects reorganisations by the block hashes it recorded and
// undoes what disconnected blocks did, and mirrors the node's mempool.
//
// It talks to btcd and Bitcoin Core's bitcoind through the JSON-RPC calls
// both serve (its own HTTP POST client, batched: rpc.go). It polls, and is
// woken sooner by the node's notifications where the node offers them
// (btcd's websocket, bitcoind's ZMQ: notify.go); a notification is never
// read as a fact. It holds no keys and never writes to the node.
package chain
