//go:build itest

package itest

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// proxy forwards a loopback port to the node's RPC port and can cut the
// link: from the daemon's side the node is then down, without restarting
// it (btcd wipes its regtest chain at every start).
type proxy struct {
	t      testing.TB
	addr   string
	target string

	mu    sync.Mutex
	lis   net.Listener
	conns []net.Conn
	wg    sync.WaitGroup
}

func startProxy(t testing.TB, target string) *proxy {
	p := &proxy{t: t, addr: "127.0.0.1:" + itoa(freePort(t)), target: target}
	p.up()
	t.Cleanup(p.down)
	return p
}

// up starts listening and forwarding.
func (p *proxy) up() {
	lis, err := net.Listen("tcp", p.addr)
	require.NoError(p.t, err)
	p.mu.Lock()
	p.lis = lis
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			p.forward(c)
		}
	}()
}

func (p *proxy) forward(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, client, server)
	p.mu.Unlock()
	p.wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer p.wg.Done()
		_, _ = io.Copy(dst, src)
		dst.Close()
		src.Close()
	}
	go pipe(server, client)
	go pipe(client, server)
}

// down closes the listener and every forwarded connection, and waits for
// the forwarding goroutines to end.
func (p *proxy) down() {
	p.mu.Lock()
	if p.lis != nil {
		p.lis.Close()
		p.lis = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
