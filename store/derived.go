package store

import (
	"bytes"
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/reserve"
)

// path: meta -> ["derived_keys"]
// maps: to what multisig.Descriptor.ExportDerived wrote for the wallet's
// descriptor: the cosigners' child keys of every address the follower has
// derived. It is a cache, not a record of the reserve: a restart imports
// it instead of deriving every address again (a scalar multiplication
// per cosigner and address: 12 s of a core at 100,000 addresses), the
// follower checks each imported address against the output script this
// store holds for it, and losing it costs only that time.
var keyDerivedKeys = []byte("derived_keys")

// MaxDerivedKeys bounds the cache PutDerivedKeys keeps: some 300,000
// addresses of a 2-of-3 wallet.
const MaxDerivedKeys = 32 << 20

// DerivedKeys returns the derived-key cache PutDerivedKeys kept, or nil
// when there is none.
func (db *DB) DerivedKeys(ctx context.Context) ([]byte, error) {
	var out []byte
	err := db.view(ctx, "read derived keys", func(tx *bolt.Tx) error {
		out = bytes.Clone(tx.Bucket(bucketMeta).Get(keyDerivedKeys))
		return nil
	})
	return out, err
}

// PutDerivedKeys replaces the derived-key cache with b (empty: drops it).
// No audit leaf: it changes nothing of the reserve, only how fast a
// restart gets its keys back. More than MaxDerivedKeys bytes is
// CodeInvalid.
func (db *DB) PutDerivedKeys(ctx context.Context, b []byte) error {
	if len(b) > MaxDerivedKeys {
		return reserve.Invalid("derived_keys", "%d bytes is more than %d", len(b), MaxDerivedKeys)
	}
	return db.update(ctx, "record derived keys", func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if len(b) == 0 {
			return meta.Delete(keyDerivedKeys)
		}
		return meta.Put(keyDerivedKeys, bytes.Clone(b))
	})
}
