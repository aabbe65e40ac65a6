package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/custos-reserve/custos/store"
)

// runNode serves the few node RPCs the follower asks of a node that is at
// the fixture's tip (getblockchaininfo, getblockhash, getrawmempool
// empty), so custosd finds its wallet synced and takes its real start
// path (the wallet and its watch set loaded, status synced) without a
// node whose chain would disagree with the generated blocks and make the
// follower rewind them. Anything else is an RPC error.
func runNode(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	path := fs.String("store", "", "the fixture's store file (read once, before serving)")
	listen := fs.String("listen", "127.0.0.1:0", "address to serve JSON-RPC on")
	addrFile := fs.String("addrfile", "", "write the address served on here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	hashes, err := blockHashes(ctx, *path)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "stub node at %s, tip %d\n", ln.Addr(), len(hashes)-1)
	srv := &http.Server{Handler: stubNode(hashes), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// blockHashes reads the hash of every block the fixture recorded, index
// = height (0 is a placeholder: the fixture starts at height 1).
func blockHashes(ctx context.Context, path string) ([]chainhash.Hash, error) {
	db, err := store.Open(path, store.Options{})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	tip, _, ok, err := db.SyncTip(ctx)
	if err != nil || !ok {
		return nil, fmt.Errorf("fixture has no tip: %v", err)
	}
	out := make([]chainhash.Hash, tip+1)
	for h := int32(1); h <= tip; h++ {
		if out[h], _, err = db.BlockHash(ctx, h); err != nil {
			return nil, err
		}
	}
	return out, nil
}

type rpcRequest struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params []any           `json:"params"`
}

type rpcResponse struct {
	ID     json.RawMessage `json:"id"`
	Result any             `json:"result"`
	Error  any             `json:"error"`
}

func stubNode(hashes []chainhash.Hash) http.Handler {
	tip := int32(len(hashes) - 1)
	answer := func(r rpcRequest) rpcResponse {
		out := rpcResponse{ID: r.ID}
		switch r.Method {
		case "getblockchaininfo":
			out.Result = map[string]any{"chain": "regtest", "blocks": tip, "bestblockhash": hashes[tip].String()}
		case "getrawmempool":
			out.Result = []string{}
		case "getblockhash":
			h, ok := r.Params[0].(float64)
			if len(r.Params) == 1 && ok && h >= 1 && int32(h) <= tip {
				out.Result = hashes[int32(h)].String()
				break
			}
			out.Error = map[string]any{"code": -8, "message": "Block height out of range"}
		default:
			out.Error = map[string]any{"code": -32601, "message": "the bench-scale stub node does not serve " + r.Method}
		}
		return out
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		var batch []rpcRequest
		if json.Unmarshal(body, &batch) == nil {
			res := make([]rpcResponse, len(batch))
			for i, r := range batch {
				res[i] = answer(r)
			}
			_ = json.NewEncoder(w).Encode(res)
			return
		}
		var one rpcRequest
		if err := json.Unmarshal(body, &one); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(answer(one))
	})
}
