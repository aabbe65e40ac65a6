package signer

import (
	"errors"
	"fmt"
	"os"
)

// ensureDir creates the data directory, readable by its owner only, if it
// does not exist yet. An existing directory is left as it is. Files in it
// are written with durable.Write, mode 0600.
func ensureDir(dir string) error {
	if dir == "" {
		return errors.New("no data directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("unable to create data directory %s: %w", dir, err)
	}
	return nil
}
