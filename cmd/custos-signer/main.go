// Command custos-signer is one ministry's signer agent for a Custos
// reserve: it holds the ministry's cosigner key, encrypted at rest, and the
// wallet descriptor the ministry checked and pinned. Run
// "custos-signer help" for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/custos-reserve/custos/cmd/internal/timing"
)

func main() {
	start := time.Now()
	stopProfile := timing.StartProfile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	stopProfile()
	timing.Phase("custos-signer run", start)
	os.Exit(exitCode(err, os.Stderr))
}
