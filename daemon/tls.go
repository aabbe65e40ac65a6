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

	"github.com/custos-reserve/custos/durable"
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

// File names in <datadir>/tls. The CA key never leaves the daemon host.
const (
	tlsDirName     = "tls"
	caCertFile     = "ca.pem"
	caKeyFile      = "ca.key"
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

// authority is the daemon's own certificate authority.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// ensureTLS loads the CA, server and admin certificates from dir, making
// any that are missing, and returns the server's mTLS configuration.
func ensureTLS(dir string, hosts []string, now time.Time, rnd io.Reader) (*tls.Config, *authority, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("unable to make TLS dir: %w", err)
	}
	ca, err := loadOrMakeCA(dir, now, rnd)
	if err != nil {
		return nil, nil, err
	}
	serverCert := filepath.Join(dir, serverCertFile)
	if !exists(serverCert) {
		certPEM, keyPEM, err := ca.issue(rnd, now, "custosd", "", hosts, x509.ExtKeyUsageServerAuth)
		if err != nil {
			return nil, nil, err
		}
		if err := writePair(serverCert, certPEM, filepath.Join(dir, serverKeyFile), keyPEM); err != nil {
			return nil, nil, err
		}
	}
	adminCert := filepath.Join(dir, AdminCertFile)
	if !exists(adminCert) {
		certPEM, keyPEM, err := ca.issue(rnd, now, "admin", RoleAdmin, nil, x509.ExtKeyUsageClientAuth)
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
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}, ca, nil
}

func loadOrMakeCA(dir string, now time.Time, rnd io.Reader) (*authority, error) {
	certPath, keyPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
	if !exists(certPath) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
		if err != nil {
			return nil, fmt.Errorf("unable to make CA key: %w", err)
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
			return nil, fmt.Errorf("unable to make CA certificate: %w", err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("unable to encode CA key: %w", err)
		}
		err = writePair(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
		if err != nil {
			return nil, err
		}
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("unable to load CA: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("unable to parse CA certificate: %w", err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("CA key is not an ECDSA key")
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("unable to read CA certificate: %w", err)
	}
	return &authority{cert: cert, key: key, pem: certPEM}, nil
}

// issue makes a certificate signed by the CA. Client certificates carry
// their role in OrganizationalUnit.
func (a *authority) issue(rnd io.Reader, now time.Time, name string, role Role, hosts []string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, nil, fmt.Errorf("unable to make key for %s: %w", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: mustSerial(rnd),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if role != "" {
		tmpl.Subject.OrganizationalUnit = []string{string(role)}
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rnd, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, nil, fmt.Errorf("unable to sign certificate for %s: %w", name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("unable to encode key for %s: %w", name, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// IssueClientCert signs a client certificate for name with role using the
// CA in <dataDir>/tls. It is how identities are made until the API for
// them exists; tests use it to make officers and auditors.
func IssueClientCert(dataDir, name string, role Role, now time.Time) (certPEM, keyPEM []byte, err error) {
	ca, err := loadOrMakeCA(TLSDir(dataDir), now, rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	return ca.issue(rand.Reader, now, name, role, nil, x509.ExtKeyUsageClientAuth)
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
