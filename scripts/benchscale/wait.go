package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/custos-reserve/custos/daemon"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
)

// runWait waits for a custosd started at -since (Unix nanoseconds) to
// serve over mTLS (a health check answers) and then to report its wallet
// synced (GetStatus), and prints both times in milliseconds and the
// process's resident memory then, in MB, from /proc: "serving_ms
// synced_ms rss_mb".
func runWait(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	dataDir := fs.String("datadir", "", "custosd's data dir")
	since := fs.Int64("since", 0, "when custosd was started, Unix nanoseconds")
	pid := fs.Int("pid", 0, "custosd's process id, for its resident memory")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	start := time.Unix(0, *since)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	var conn *grpc.ClientConn
	for conn == nil {
		c, err := dial(*dataDir)
		if err == nil {
			_, err = healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{})
			if err == nil {
				conn = c
				break
			}
			_ = c.Close()
		}
		if ctx.Err() != nil {
			return fmt.Errorf("custosd did not serve within %s: %v", *timeout, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	defer conn.Close()
	serving := time.Since(start)
	treasury := custosv1.NewTreasuryServiceClient(conn)
	for {
		st, err := treasury.GetStatus(ctx, &custosv1.GetStatusRequest{})
		if err == nil && st.Synced {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("custosd did not report synced within %s: %v", *timeout, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	synced := time.Since(start)
	rss, err := residentMB(*pid, "VmRSS")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d %d %.1f\n", serving.Milliseconds(), synced.Milliseconds(), rss)
	return nil
}

// runRSS prints a process's resident memory, its peak and its anonymous
// part (the heap; the rest is the store's file pages mapped in), in MB.
func runRSS(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: benchscale rss PID")
	}
	pid, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	rss, err := residentMB(pid, "VmRSS")
	if err != nil {
		return err
	}
	hwm, err := residentMB(pid, "VmHWM")
	if err != nil {
		return err
	}
	anon, err := residentMB(pid, "RssAnon")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%.1f %.1f %.1f\n", rss, hwm, anon)
	return nil
}

// residentMB reads field (VmRSS, VmHWM) of /proc/pid/status in MB.
func residentMB(pid int, field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte(field+":")); ok {
			f := bytes.Fields(rest)
			if len(f) == 2 && string(f[1]) == "kB" {
				kb, err := strconv.ParseFloat(string(f[0]), 64)
				return kb / 1024, err
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// dial connects with the data dir's admin identity, as custosctl does.
func dial(dataDir string) (*grpc.ClientConn, error) {
	dir := daemon.TLSDir(dataDir)
	var pem [3][]byte
	for i, name := range []string{daemon.CACertFile, daemon.AdminCertFile, daemon.AdminKeyFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		pem[i] = b
	}
	addr, err := os.ReadFile(filepath.Join(dataDir, daemon.AddrFile))
	if err != nil {
		return nil, err
	}
	cfg, err := daemon.ClientTLS(pem[0], pem[1], pem[2])
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(string(bytes.TrimSpace(addr)), grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithDefaultCallOptions(daemon.CallOptions()...))
}
