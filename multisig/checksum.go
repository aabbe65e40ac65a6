package multisig

import (
	"errors"
	"fmt"
	"strings"
)

// The BIP-380 descriptor checksum: a BCH code over the descriptor's
// characters, written as 8 characters of the bech32 alphabet after "#".
const (
	checksumInputCharset = "0123456789()[],'/*abcdefgh@:$%{}" +
		"IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~" +
		"ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
	checksumCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	checksumLen     = 8
)

// polymod advances the BIP-380 checksum state c by one 5-bit symbol.
func polymod(c uint64, val int) uint64 {
	c0 := c >> 35
	c = (c&0x7ffffffff)<<5 ^ uint64(val)
	if c0&1 != 0 {
		c ^= 0xf5dee51989
	}
	if c0&2 != 0 {
		c ^= 0xa9fdca3312
	}
	if c0&4 != 0 {
		c ^= 0x1bab10e32d
	}
	if c0&8 != 0 {
		c ^= 0x3706b1677a
	}
	if c0&16 != 0 {
		c ^= 0x644d626ffd
	}
	return c
}

// DescriptorChecksum computes the BIP-380 checksum of a descriptor given
// without its "#checksum" suffix. It refuses characters outside the BIP-380
// input character set (tabs, newlines, non-ASCII) and a descriptor that
// already carries a checksum.
func DescriptorChecksum(desc string) (string, error) {
	c := uint64(1)
	cls, clsCount := 0, 0
	for i := 0; i < len(desc); i++ {
		pos := strings.IndexByte(checksumInputCharset, desc[i])
		if pos < 0 {
			return "", fmt.Errorf("descriptor has character %q at offset %d, outside the descriptor character set", desc[i], i)
		}
		if desc[i] == '#' {
			return "", errors.New("descriptor already has a checksum after \"#\"")
		}
		// Every character feeds its position within its group of 32;
		// every three characters feed their three group numbers at once.
		c = polymod(c, pos&31)
		cls = cls*3 + pos>>5
		if clsCount++; clsCount == 3 {
			c = polymod(c, cls)
			cls, clsCount = 0, 0
		}
	}
	if clsCount > 0 {
		c = polymod(c, cls)
	}
	for range checksumLen {
		c = polymod(c, 0)
	}
	c ^= 1
	var sum [checksumLen]byte
	for j := range sum {
		sum[j] = checksumCharset[(c>>(5*(7-j)))&31]
	}
	return string(sum[:]), nil
}

// splitChecksum separates a descriptor from its optional "#checksum" and,
// when the checksum is there, verifies it. A wrong checksum is an error
// that gives the expected one.
func splitChecksum(s string) (string, error) {
	body, sum, hasSum := strings.Cut(s, "#")
	want, err := DescriptorChecksum(body)
	if err != nil {
		return "", err
	}
	if !hasSum {
		return body, nil
	}
	if len(sum) != checksumLen {
		return "", fmt.Errorf("descriptor checksum %s has %d characters, want %d (expected %s)", quoteShort(sum), len(sum), checksumLen, want)
	}
	if sum != want {
		return "", fmt.Errorf("descriptor checksum is %s, want %s", quoteShort(sum), want)
	}
	return body, nil
}
