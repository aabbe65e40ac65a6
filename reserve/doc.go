// Package reserve holds the domain of Custos: the reserve wallet, its
// addresses and unspent outputs, the networks it can live on, amounts in
// satoshis, spend proposals and their state machine, the spending policy
// document (parsing, canonical hash, evaluation), and the one error-code
// type every layer uses to say what kind of failure happened.
//
// It imports nothing of Custos and does no I/O. It refuses to know about
// gRPC, bbolt or the Bitcoin node: other packages translate to and from these
// types at their edges.
package reserve
