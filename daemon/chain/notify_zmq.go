package chain

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lightninglabs/gozmq"
)

// bitcoind's ZMQ topics (doc/zmq.md): each message is [topic, body,
// 4-byte sequence number]; the body (a hash) is not read.
const (
	zmqHashBlock = "hashblock"
	zmqHashTx    = "hashtx"
)

// zmqTimeout bounds the frames of one message after its first, and is how
// long gozmq waits after a failed reconnection of its own.
const zmqTimeout = 5 * time.Second

// zmqSubscription is a ZMQ SUB socket on bitcoind's publisher, through
// lightninglabs/gozmq (pure Go ZMTP 3, as btcwallet/chain uses). ZMQ has
// no acknowledgement: a publisher that vanishes without closing the TCP
// connection is found by TCP keepalive (Go's default, 15s), and polling
// covers the time in between.
type zmqSubscription struct {
	conn *gozmq.Conn
}

// dialZMQ subscribes to topics at addr (tcp://host:port). gozmq takes no
// context: when ctx ends first, the dial is left to finish on its own and
// its connection closed.
func dialZMQ(ctx context.Context, addr string, topics []string) (subscription, error) {
	type result struct {
		conn *gozmq.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := gozmq.Subscribe(addr, topics, zmqTimeout)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("zmq %s: %w", addr, r.err)
		}
		return &zmqSubscription{conn: r.conn}, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.conn != nil {
				_ = r.conn.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

func (s *zmqSubscription) receive() (event, error) {
	msg, err := s.conn.Receive(nil)
	if err != nil {
		// gozmq reconnects by itself after EOF and reports it as a
		// timeout; the notifier redials instead, with its own backoff.
		return 0, err
	}
	if len(msg) < 2 {
		return 0, errors.New("zmq: message of fewer than two frames")
	}
	switch string(msg[0]) {
	case zmqHashBlock:
		return eventBlock, nil
	case zmqHashTx:
		return eventTx, nil
	}
	return eventNone, nil
}

func (s *zmqSubscription) close() error {
	return s.conn.Close()
}
