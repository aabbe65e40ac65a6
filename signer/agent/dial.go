package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/multisig"
)

// MaxMessageBytes is the largest message the agent sends or receives: a
// PSBT of multisig.MaxPSBTBytes and 1 MiB for the rest, as custosd's
// daemon.MaxRequestBytes.
const MaxMessageBytes = multisig.MaxPSBTBytes + 1<<20

// CallOptions are the call options every call to custosd takes.
func CallOptions() []grpc.CallOption {
	return []grpc.CallOption{grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)}
}

// Identity is a signer identity's files, as `custosctl identity issue
// --role signer --out DIR` writes them: NAME.pem, NAME.key and ca.pem.
type Identity struct {
	Name                   string
	CertPEM, KeyPEM, CAPEM []byte
}

// ReadIdentity reads the one identity in dir (one NAME.pem beside its
// NAME.key, and ca.pem).
func ReadIdentity(dir string) (*Identity, error) {
	certs, err := filepath.Glob(filepath.Join(dir, "*.pem"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, c := range certs {
		name := strings.TrimSuffix(filepath.Base(c), ".pem")
		if name == "ca" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, name+".key")); err == nil {
			names = append(names, name)
		}
	}
	switch len(names) {
	case 0:
		return nil, fmt.Errorf("no identity in %s: want NAME.pem, NAME.key and ca.pem (custosctl identity issue --role signer --out DIR)", dir)
	case 1:
	default:
		return nil, fmt.Errorf("%s holds %d identities (%s); give a directory with one", dir, len(names), strings.Join(names, ", "))
	}
	id := &Identity{Name: names[0]}
	for _, f := range []struct {
		dst  *[]byte
		name string
	}{{&id.CertPEM, id.Name + ".pem"}, {&id.KeyPEM, id.Name + ".key"}, {&id.CAPEM, "ca.pem"}} {
		if *f.dst, err = durable.ReadLimited(filepath.Join(dir, f.name), 1<<20); err != nil {
			return nil, fmt.Errorf("unable to read the identity: %w", err)
		}
	}
	return id, nil
}

// Dial makes the connection to custosd at addr (host:port) with the
// identity: mTLS 1.3, the daemon's CA only, the server certificate checked
// for host. gRPC reconnects it underneath as needed.
func Dial(addr string, id *Identity) (*grpc.ClientConn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("daemon address %q: %w", addr, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(id.CAPEM) {
		return nil, errors.New("the identity's ca.pem is not a PEM certificate")
	}
	pair, err := tls.X509KeyPair(id.CertPEM, id.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("unable to load the identity's certificate: %w", err)
	}
	cfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13, ServerName: host}
	return grpc.NewClient(addr,
		grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithDefaultCallOptions(CallOptions()...),
		// Within what custosd tolerates (a ping every 30 s at most): a
		// daemon gone silent is noticed and the stream reopened.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: time.Minute, Timeout: 20 * time.Second}),
	)
}
