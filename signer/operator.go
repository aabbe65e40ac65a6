package signer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// operatorApprovalTag derives the key of an operator's approval of a
// queued request (custos-signer approve): its own tag, so no other MAC
// the signer makes is ever an approval.
const operatorApprovalTag = "custos/signer/operator-approval/v1"

// ErrApprovalForged is an operator's approval that does not authenticate
// under this signer's key for this proposal and this PSBT: written by
// someone without the passphrase, or for another request.
var ErrApprovalForged = errors.New("the operator's approval does not authenticate under this signer's key")

// OperatorApprovalMAC is the MAC an operator's approval of a queued
// request carries: HMAC-SHA256 under a key derived from the signer's
// account key, over the proposal id and the SHA-256 of the queued PSBT's
// bytes. Only who unlocks the key can make it, so an approval proves the
// operator held the passphrase, and it approves this PSBT of this
// proposal and nothing else.
func OperatorApprovalMAC(key *Key, proposalID string, psbt []byte) ([]byte, error) {
	return keyMAC(key, operatorApprovalTag, operatorApprovalBody(proposalID, psbt))
}

// VerifyOperatorApproval checks mac against OperatorApprovalMAC; it
// returns ErrApprovalForged when they differ.
func VerifyOperatorApproval(key *Key, proposalID string, psbt, mac []byte) error {
	want, err := OperatorApprovalMAC(key, proposalID, psbt)
	if err != nil {
		return err
	}
	if !hmac.Equal(want, mac) {
		return fmt.Errorf("approval of request %s: %w", proposalID, ErrApprovalForged)
	}
	return nil
}

// operatorApprovalBody is the id, length-prefixed so no id is a prefix
// of another's body, then the PSBT's hash.
func operatorApprovalBody(proposalID string, psbt []byte) []byte {
	h := sha256.Sum256(psbt)
	b := binary.BigEndian.AppendUint32(nil, uint32(len(proposalID)))
	b = append(b, proposalID...)
	return append(b, h[:]...)
}
