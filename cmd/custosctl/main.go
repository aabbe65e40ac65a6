// Command custosctl is the command line of treasury officers, admins and
// auditors: it talks to custosd over mutual TLS.
package main

import (
	"context"
	"errors"
	"flag"
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
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	stopProfile()
	timing.Phase("custosctl run", start)
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode prints err and picks the status: 0 ok, 2 usage, 1 anything else.
// The message is escaped (safe): it may echo what the daemon or a file
// said.
func exitCode(err error, stderr *os.File) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		printf(stderr, "custosctl: %s\n", err.Error())
		return 2
	}
	printf(stderr, "custosctl: %s\n", err.Error())
	return 1
}
