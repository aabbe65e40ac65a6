package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/reserve"
)

// Role is what a client certificate allows its holder to call. It is
// carried in the certificate's subject OrganizationalUnit, so the CA
// (which only custosd holds) decides it.
type Role string

const (
	// RoleAdmin sets the daemon up: wallets, identities, policy.
	RoleAdmin Role = "admin"
	// RoleOfficer proposes and approves spends and issues addresses.
	RoleOfficer Role = "officer"
	// RoleAuditor reads everything and changes nothing.
	RoleAuditor Role = "auditor"
	// RoleSigner is a ministry's online signer agent.
	RoleSigner Role = "signer"
)

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleOfficer, RoleAuditor, RoleSigner:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want admin, officer, auditor or signer)", s)
}

// File names in <datadir>/tls. The CA key never leaves the daemon host;
// at rest it is sealed under a passphrase (caSealedFile), or absent (the
// CA kept offline). caKeyFile, the key in the clear, is what daemons
// before sealing wrote: it is sealed on the first start with a passphrase,
// and refused on every network but regtest.
const (
	tlsDirName     = "tls"
	caCertFile     = "ca.pem"
	caKeyFile      = "ca.key"
	caSealedFile   = "ca.key.sealed"
	serverCertFile = "server.pem"
	serverKeyFile  = "server.key"
	// AdminCertFile and AdminKeyFile are the admin identity made on first
	// start; custosctl --datadir uses them.
	AdminCertFile = "admin.pem"
	AdminKeyFile  = "admin.key"
	// CACertFile is the CA certificate clients pin.
	CACertFile = caCertFile
)

// TLSDir is where custosd keeps its CA and certificates.
func TLSDir(dataDir string) string { return filepath.Join(dataDir, tlsDirName) }

// authority is the daemon's own certificate authority. key is nil when
// the CA is offline: its key is not on this host, or sealed and no
// passphrase was given.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// CAKey says how the CA key is unlocked. The zero value keeps it locked
// (offline) and refuses a key in the clear.
type CAKey struct {
	// Passphrase unlocks ca.key.sealed, seals a new CA key, and seals a
	// key found in the clear (removing the clear file). Nil: the CA stays
	// locked and the daemon cannot issue identities over the API.
	Passphrase []byte
	// AllowPlain accepts a CA key in the clear (and makes one on first
	// start without a passphrase): regtest only, for tests and the demo.
	AllowPlain bool
}

// ensureTLS loads the CA, server and admin certificates from dir, making
// any that are missing, and returns the server's mTLS configuration.
func ensureTLS(dir string, hosts []string, now time.Time, rnd io.Reader, key CAKey) (*tls.Config, *authority, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("unable to make TLS dir: %w", err)
	}
	ca, err := loadOrMakeCA(dir, now, rnd, key)
	if err != nil {
		return nil, nil, err
	}
	serverCert := filepath.Join(dir, serverCertFile)
	adminCert := filepath.Join(dir, AdminCertFile)
	if (!exists(serverCert) || !exists(adminCert)) && ca.key == nil {
		return nil, nil, reserve.Errorf(reserve.CodeFailedPrecondition,
			"the server or admin certificate in %s is missing and the CA key is locked: start custosd with --ca-passphrase-file", dir)
	}
	if !exists(serverCert) {
		certPEM, keyPEM, err := ca.issue(rnd, now, "custosd", "", hosts, x509.ExtKeyUsageServerAuth)
		if err != nil {
			return nil, nil, err
		}
		if err := writePair(serverCert, certPEM, filepath.Join(dir, serverKeyFile), keyPEM); err != nil {
			return nil, nil, err
		}
	}
	if !exists(adminCert) {
		certPEM, keyPEM, _, err := ca.issueClient(rnd, now, CertSpec{Name: "admin", Role: RoleAdmin})
		if err != nil {
			return nil, nil, err
		}
		if err := writePair(adminCert, certPEM, filepath.Join(dir, AdminKeyFile), keyPEM); err != nil {
			return nil, nil, err
		}
	}
	pair, err := tls.LoadX509KeyPair(serverCert, filepath.Join(dir, serverKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("unable to load server certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientCAs:    pool,
		// A certificate is required and verified against ClientCAs as
		// with RequireAndVerifyClientCert, but the missing one is
		// refused by requireClientCert with errNoClientCert, so that
		// the refusal can be told apart and logged (handshakeCreds);
		// crypto/tls's own refusal is an untyped error.
		ClientAuth:       tls.VerifyClientCertIfGiven,
		VerifyConnection: requireClientCert,
		MinVersion:       tls.VersionTLS13,
	}, ca, nil
}

// errNoClientCert refuses a handshake without a client certificate.
var errNoClientCert = errors.New("tls: a client certificate signed by this daemon's CA is required")

// requireClientCert refuses a connection whose client presented no
// certificate; one presented was verified against ClientCAs before this
// runs (tls.VerifyClientCertIfGiven), so a verified chain is required.
func requireClientCert(cs tls.ConnectionState) error {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return errNoClientCert
	}
	return nil
}

// handshakeCreds are the server's TLS credentials with the failed
// handshakes reported to failed, with the remote address: a connection
// refused for its client certificate never reaches the interceptor that
// records the other refusals. (tls.Config callbacks cannot do it:
// crypto/tls returns from a failed certificate verification before
// VerifyPeerCertificate or VerifyConnection run.)
type handshakeCreds struct {
	credentials.TransportCredentials
	failed func(remote net.Addr, err error)
}

// ServerHandshake runs the TLS handshake and reports a failure.
func (c handshakeCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		c.failed(conn.RemoteAddr(), err)
	}
	return out, info, err
}

// Clone keeps the reporting.
func (c handshakeCreds) Clone() credentials.TransportCredentials {
	return handshakeCreds{TransportCredentials: c.TransportCredentials.Clone(), failed: c.failed}
}

// serverCreds are the gRPC server's credentials for cfg; refused
// handshakes are recorded in the audit log (audit_events.go).
func (d *Daemon) serverCreds(cfg *tls.Config) credentials.TransportCredentials {
	return handshakeCreds{TransportCredentials: credentials.NewTLS(cfg), failed: d.recordHandshakeFailure}
}

func loadOrMakeCA(dir string, now time.Time, rnd io.Reader, k CAKey) (*authority, error) {
	certPath, keyPath, sealedPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile), filepath.Join(dir, caSealedFile)
	if !exists(certPath) {
		if k.Passphrase == nil && !k.AllowPlain {
			return nil, reserve.Errorf(reserve.CodeFailedPrecondition,
				"no CA in %s: start custosd with --ca-passphrase-file FILE to make one sealed under that passphrase", dir)
		}
		if err := makeCA(dir, now, rnd, k); err != nil {
			return nil, err
		}
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("unable to read CA certificate: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("CA certificate %s is not a PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("unable to parse CA certificate: %w", err)
	}
	ca := &authority{cert: cert, pem: certPEM}
	switch {
	case exists(keyPath) && k.Passphrase != nil:
		// A key in the clear from before sealing: seal it, then remove
		// the clear copy.
		if ca.key, err = readPlainCAKey(keyPath); err != nil {
			return nil, err
		}
		if err := sealCAKey(sealedPath, ca.key, k.Passphrase, rnd); err != nil {
			return nil, err
		}
		if err := os.Remove(keyPath); err != nil {
			return nil, fmt.Errorf("sealed the CA key but unable to remove the clear copy %s (remove it by hand): %w", keyPath, err)
		}
	case exists(keyPath) && !k.AllowPlain:
		return nil, reserve.Errorf(reserve.CodeFailedPrecondition,
			"the CA key %s is not encrypted: start custosd once with --ca-passphrase-file FILE to seal it (the clear file is then removed), or move it off this host to keep the CA offline", keyPath)
	case exists(keyPath):
		ca.key, err = readPlainCAKey(keyPath)
	case exists(sealedPath) && k.Passphrase != nil:
		ca.key, err = openCAKey(sealedPath, k.Passphrase)
	}
	if err != nil {
		return nil, err
	}
	if ca.key != nil && !ca.key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("the CA key in %s is not the key of %s", dir, certPath)
	}
	return ca, nil
}

// makeCA makes a new CA key and certificate, the key sealed when k has a
// passphrase and in the clear otherwise (k.AllowPlain).
func makeCA(dir string, now time.Time, rnd io.Reader, k CAKey) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return fmt.Errorf("unable to make CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          mustSerial(rnd),
		Subject:               pkix.Name{CommonName: "custosd CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("unable to make CA certificate: %w", err)
	}
	if k.Passphrase != nil {
		if err := sealCAKey(filepath.Join(dir, caSealedFile), key, k.Passphrase, rnd); err != nil {
			return err
		}
	} else {
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return fmt.Errorf("unable to encode CA key: %w", err)
		}
		if err := durable.Write(filepath.Join(dir, caKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600, true); err != nil {
			return err
		}
	}
	return durable.Write(filepath.Join(dir, caCertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644, true)
}

func readPlainCAKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("unable to read CA key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("CA key %s is not PEM", path)
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("unable to parse CA key %s: %w", path, err)
	}
	return key, nil
}

// issue makes the server certificate (or, in tests, a client certificate
// of any role, even an invalid one) signed by the CA, valid two years.
func (a *authority) issue(rnd io.Reader, now time.Time, name string, role Role, hosts []string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte, err error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.AddDate(2, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	if role != "" {
		tmpl.Subject.OrganizationalUnit = []string{string(role)}
	}
	certPEM, keyPEM, _, err = a.sign(rnd, tmpl, hosts)
	return certPEM, keyPEM, err
}

// sign completes tmpl with a serial, the hosts and a new key, and signs
// it with the CA.
func (a *authority) sign(rnd io.Reader, tmpl *x509.Certificate, hosts []string) (certPEM, keyPEM []byte, cert *x509.Certificate, err error) {
	name := tmpl.Subject.CommonName
	if a.key == nil {
		return nil, nil, nil, errCAOffline()
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("unable to make key for %s: %w", name, err)
	}
	tmpl.SerialNumber = mustSerial(rnd)
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rnd, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("unable to sign certificate for %s: %w", name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("unable to encode key for %s: %w", name, err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("unable to parse certificate for %s: %w", name, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), cert, nil
}

// IssueClientCert signs a client certificate for name with role using the
// CA in <dataDir>/tls, its key in the clear (regtest data dirs, tests).
// It checks nothing of name and role, so tests can make bad ones.
func IssueClientCert(dataDir, name string, role Role, now time.Time) (certPEM, keyPEM []byte, err error) {
	ca, err := loadOrMakeCA(TLSDir(dataDir), now, rand.Reader, CAKey{AllowPlain: true})
	if err != nil {
		return nil, nil, err
	}
	return ca.issue(rand.Reader, now, name, role, nil, x509.ExtKeyUsageClientAuth)
}

// IssueOffline is `custosd issue-cert`: it signs a client certificate for
// spec with the CA in <dataDir>/tls, unlocked with key, on the daemon's
// host without the daemon. The daemon records it when it is first used.
func IssueOffline(dataDir string, spec CertSpec, key CAKey, now time.Time) (certPEM, keyPEM []byte, err error) {
	if err := spec.check(); err != nil {
		return nil, nil, err
	}
	if !exists(filepath.Join(TLSDir(dataDir), caCertFile)) {
		return nil, nil, reserve.Errorf(reserve.CodeFailedPrecondition, "no daemon CA in %s (start custosd with this --datadir once to make it)", TLSDir(dataDir))
	}
	ca, err := loadOrMakeCA(TLSDir(dataDir), now, rand.Reader, key)
	if err != nil {
		return nil, nil, err
	}
	if ca.key == nil {
		return nil, nil, reserve.Errorf(reserve.CodeFailedPrecondition, "the CA key in %s is sealed: give its passphrase (--ca-passphrase-file or %s)", TLSDir(dataDir), EnvCAPassphrase)
	}
	certPEM, keyPEM, _, err = ca.issueClient(rand.Reader, now, spec)
	return certPEM, keyPEM, err
}

// ClientTLS is the configuration a client uses: it trusts only caPEM and
// presents certPEM/keyPEM.
func ClientTLS(caPEM, certPEM, keyPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("CA certificate is not valid PEM")
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("unable to load client certificate: %w", err)
	}
	return &tls.Config{
		RootCAs:      pool,
		Certificates: []tls.Certificate{pair},
		MinVersion:   tls.VersionTLS13,
		// The server certificate names the loopback addresses and
		// localhost; a remote daemon adds its host with --tlsextrahost.
		ServerName: "localhost",
	}, nil
}

func mustSerial(rnd io.Reader) *big.Int {
	limit := new(big.Int).Lsh(big.NewInt(1), 127)
	n, err := rand.Int(rnd, limit)
	if err != nil {
		// crypto/rand failing is unrecoverable for a CA.
		panic(fmt.Sprintf("unable to draw certificate serial: %v", err))
	}
	return n
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// writePair writes a certificate (0644) and its key (0600) atomically
// enough for first start: key first, so a certificate never exists without
// its key.
func writePair(certPath string, certPEM []byte, keyPath string, keyPEM []byte) error {
	if err := durable.Write(keyPath, keyPEM, 0o600, true); err != nil {
		return err
	}
	return durable.Write(certPath, certPEM, 0o644, true)
}
