package signer

import (
	"errors"
	"strings"

	"github.com/tyler-smith/go-bip39"

	"github.com/custos-reserve/custos/reserve"
)

// ParseMnemonic checks a BIP-39 mnemonic in the English word list: 12, 15,
// 18, 21 or 24 words, every word known, checksum right. It returns the
// words lowercased and single-spaced, the form the BIP-39 seed is computed
// from. Errors name the word by position only, so a secret word never
// reaches a screen or log through an error message.
func ParseMnemonic(s string) (string, error) {
	words := strings.Fields(strings.ToLower(s))
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return "", reserve.Invalid("mnemonic", "mnemonic has %d words; a BIP-39 mnemonic has 12, 15, 18, 21 or 24", len(words))
	}
	for i, w := range words {
		if _, ok := bip39.GetWordIndex(w); !ok {
			return "", reserve.Invalid("mnemonic", "word %d is not in the BIP-39 English word list", i+1)
		}
	}
	norm := strings.Join(words, " ")
	entropy, err := bip39.EntropyFromMnemonic(norm)
	clear(entropy)
	if errors.Is(err, bip39.ErrChecksumIncorrect) {
		return "", reserve.Invalid("mnemonic", "mnemonic checksum does not match: a word is wrong or out of order")
	}
	if err != nil {
		return "", reserve.Invalid("mnemonic", "mnemonic is not valid BIP-39")
	}
	return norm, nil
}
