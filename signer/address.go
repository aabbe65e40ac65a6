package signer

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// ErrAddressNotFound is returned by FindAddress when the address is not
// among the ones it searched: the address may still be the wallet's at a
// higher index, but nobody should deposit to it on this signer's word.
var ErrAddressNotFound = errors.New("address not found in the wallet")

// maxAddressLen bounds the text ParseWalletAddress reads: a bech32
// string is at most 90 characters.
const maxAddressLen = 90

// searchChunk is how many indexes of each branch FindAddress derives at
// once, spread over the cores, before it compares them: the address is
// usually near the start, and the search stops at the chunk that holds it.
const searchChunk = 64

// ParseWalletAddress decodes text as an address of network n and returns
// its output script. It refuses text that is not an address, an address
// of another network (saying which), and an address that is not P2WSH:
// every address of the reserve is. The errors are CodeInvalid on the
// field "address".
func ParseWalletAddress(text string, n reserve.Network) ([]byte, error) {
	params, err := multisig.NetParams(n)
	if err != nil {
		return nil, err
	}
	if text == "" || len(text) > maxAddressLen {
		return nil, reserve.Invalid("address", "not a Bitcoin address (%d characters; an address has 14 to %d)", len(text), maxAddressLen)
	}
	addr, err := btcutil.DecodeAddress(text, params)
	if err != nil || !addr.IsForNet(params) {
		if other := addressNetwork(text, n); other != reserve.NetworkUnspecified {
			return nil, reserve.Invalid("address", "%q is a %s address; this wallet is on %s", text, other, n)
		}
		return nil, reserve.Invalid("address", "%q is not a %s Bitcoin address", text, n)
	}
	if _, ok := addr.(*btcutil.AddressWitnessScriptHash); !ok {
		return nil, reserve.Invalid("address", "%q is not a P2WSH address: no address of this wallet can be", text)
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, reserve.Invalid("address", "%q has no output script: %w", text, err)
	}
	return script, nil
}

// addressNetwork returns a network other than n whose address text is,
// or NetworkUnspecified. Testnet and signet share their addresses; the
// first that decodes is named.
func addressNetwork(text string, n reserve.Network) reserve.Network {
	for _, other := range []reserve.Network{reserve.Mainnet, reserve.Testnet, reserve.Signet, reserve.Regtest} {
		if other == n {
			continue
		}
		params, err := multisig.NetParams(other)
		if err != nil {
			continue
		}
		if a, err := btcutil.DecodeAddress(text, params); err == nil && a.IsForNet(params) {
			return other
		}
	}
	return reserve.NetworkUnspecified
}

// SearchEnd returns, per branch, where an address search of a signer that
// has seen indexes below highest stops: DerivedWindow past them, never
// beyond 2^31, the end of unhardened indexes.
func SearchEnd(highest [2]uint32) [2]uint32 {
	var end [2]uint32
	for b, h := range highest {
		end[b] = uint32(min(uint64(h)+DerivedWindow, 1<<31))
	}
	return end
}

// FindAddress searches d's receive branch below end[BranchReceive] and
// its change branch below end[BranchChange] for the output script
// pkScript, lowest index first and both branches together, and returns
// where it is. It derives every address it compares from d's public keys:
// never hand it a descriptor that imported a derived-address file that did
// not pass Verify. It fails with ErrAddressNotFound (CodeNotFound) when
// none matches; the search is bounded by end and never asks for more.
func FindAddress(d *multisig.Descriptor, pkScript []byte, end [2]uint32) (multisig.Derived, error) {
	top := max(end[reserve.BranchReceive], end[reserve.BranchChange])
	for from := uint32(0); from < top; from += min(searchChunk, top-from) {
		to := from + min(searchChunk, top-from)
		for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
			if err := d.Prederive(b, min(from, end[b]), min(to, end[b])); err != nil {
				return multisig.Derived{}, err
			}
		}
		for i := from; i < to; i++ {
			for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
				if i >= end[b] {
					continue
				}
				got, err := d.Derive(b, i)
				if err != nil {
					// BIP-32's invalid child: this index has no address.
					continue
				}
				if bytes.Equal(got.PkScript, pkScript) {
					return got, nil
				}
			}
		}
	}
	return multisig.Derived{}, reserve.Errorf(reserve.CodeNotFound, "%w: not among the first %d receive and %d change addresses of wallet %s",
		ErrAddressNotFound, end[reserve.BranchReceive], end[reserve.BranchChange], d.WalletID())
}

// CosignerPath is cosigner c's full derivation path to the key it holds
// in the address at (b, index): "fingerprint/origin/branch/index", the
// origin as its key record gives it, for comparing with what a hardware
// wallet shows.
func CosignerPath(c reserve.Cosigner, b reserve.Branch, index uint32) string {
	var s strings.Builder
	fmt.Fprintf(&s, "%08x", c.Fingerprint)
	if p := multisig.FormatPath(c.Path); p != "" {
		s.WriteString("/" + p)
	}
	fmt.Fprintf(&s, "/%d/%d", b, index)
	return s.String()
}

// AddressAt checks that pkScript is d's address at (b, index) and returns
// it: one derivation, whatever the index, for an address whose place the
// coordinator stated ('custosctl address new' prints it). It fails with
// ErrAddressNotFound (CodeNotFound) naming the address that is there.
func AddressAt(d *multisig.Descriptor, pkScript []byte, b reserve.Branch, index uint32) (multisig.Derived, error) {
	got, err := d.Derive(b, index)
	if err != nil {
		return multisig.Derived{}, err
	}
	if !bytes.Equal(got.PkScript, pkScript) {
		return multisig.Derived{}, reserve.Errorf(reserve.CodeNotFound, "%w: wallet %s's %s address at index %d is %s",
			ErrAddressNotFound, d.WalletID(), b, index, got.Address)
	}
	return got, nil
}
