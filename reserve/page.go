package reserve

// AddressActivity is a derived address with what the wallet has recorded
// paying it (spent coins included), as one page of an address listing
// returns it.
type AddressActivity struct {
	Address
	ReceivedSat   int64
	ReceivedCount uint32
}

// Page sizes every listing shares (UTXOs, addresses, proposals, audit
// leaves): 0 asks for DefaultPageSize, and more than MaxPageSize is
// refused, so no single read grows with the history.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)
