package daemon

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/seal"
)

// EnvCAPassphrase is the environment variable custosd reads the CA key's
// passphrase from when --ca-passphrase-file is not given.
const EnvCAPassphrase = "CUSTOSD_CA_PASSPHRASE"

// DefaultClientValidity is how long a client certificate is valid unless
// its issuer says otherwise.
const DefaultClientValidity = 365 * 24 * time.Hour

// MaxClientValidity bounds a client certificate's validity.
const MaxClientValidity = 10 * 365 * 24 * time.Hour

// cosignerURIPrefix starts the SAN URI that binds a signer identity to
// one cosigner: custos:cosigner:<fingerprint, 8 lower-case hex digits>.
const cosignerURIPrefix = "custos:cosigner:"

// CertSpec is what a client certificate says of its holder. The
// certificate is the only authority for it: the CA signs it, and the
// daemon trusts nothing else for a caller's name, role or cosigner.
type CertSpec struct {
	// Name is the common name: [a-z0-9][a-z0-9._-]{0,63}. An officer's
	// is its policy officer ID.
	Name string
	Role Role
	// Fingerprint binds a signer identity to its cosigner (required for
	// RoleSigner, refused for the other roles).
	Fingerprint    uint32
	HasFingerprint bool
	// ValidFor is the validity; 0 means DefaultClientValidity.
	ValidFor time.Duration
	// LoginKey is an auditor's console login key (Ed25519 public key),
	// made on the auditor's side; refused for other roles.
	LoginKey    [32]byte
	HasLoginKey bool
}

// check refuses a bad name, role, fingerprint or validity, naming it.
func (s *CertSpec) check() error {
	if !reserve.IdentityNameRE.MatchString(s.Name) {
		return reserve.Invalid("name", "%q must be 1 to 64 of [a-z0-9._-], starting with a letter or digit", s.Name)
	}
	if _, err := ParseRole(string(s.Role)); err != nil {
		return reserve.Invalid("role", "%w", err)
	}
	switch {
	case s.Role == RoleSigner && !s.HasFingerprint:
		return reserve.Invalid("fingerprint", "a signer identity needs its cosigner's fingerprint (--fingerprint, 8 hex digits)")
	case s.Role != RoleSigner && s.HasFingerprint:
		return reserve.Invalid("fingerprint", "only a signer identity is bound to a cosigner, not a %s", s.Role)
	case s.HasLoginKey && s.Role != RoleAuditor:
		return reserve.Invalid("login_key", "only an auditor identity has a console login key; a %s logs in with its own key (an officer with the approval key the policy names)", s.Role)
	case s.HasLoginKey && s.LoginKey == ([32]byte{}):
		return reserve.Invalid("login_key", "is all zeros")
	case s.ValidFor < 0 || s.ValidFor > MaxClientValidity:
		return reserve.Invalid("valid_for", "%s is outside 0 (the default, one year) to ten years", s.ValidFor)
	}
	return nil
}

// ParseFingerprint reads a cosigner fingerprint: 8 hex digits.
func ParseFingerprint(s string) (uint32, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 4 {
		return 0, reserve.Invalid("fingerprint", "%q is not 8 hex digits", s)
	}
	return binary.BigEndian.Uint32(b), nil
}

// issueClient signs a client certificate for spec, valid from an hour
// before now (clock skew) for spec.ValidFor.
func (a *authority) issueClient(rnd io.Reader, now time.Time, spec CertSpec) (certPEM, keyPEM []byte, cert *x509.Certificate, err error) {
	if err := spec.check(); err != nil {
		return nil, nil, nil, err
	}
	validFor := spec.ValidFor
	if validFor == 0 {
		validFor = DefaultClientValidity
	}
	tmpl := &x509.Certificate{
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(validFor),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	tmpl.Subject.CommonName = spec.Name
	tmpl.Subject.OrganizationalUnit = []string{string(spec.Role)}
	if spec.HasFingerprint {
		u, err := url.Parse(fmt.Sprintf("%s%08x", cosignerURIPrefix, spec.Fingerprint))
		if err != nil {
			return nil, nil, nil, err
		}
		tmpl.URIs = []*url.URL{u}
	}
	return a.sign(rnd, tmpl, nil)
}

// callerOf reads the identity a verified client certificate carries:
// name (common name), role (the one OrganizationalUnit), serial, and for
// a signer the cosigner fingerprint of its one custos:cosigner: URI.
func callerOf(cert *x509.Certificate) (Caller, error) {
	if len(cert.Subject.OrganizationalUnit) != 1 {
		return Caller{}, errPermission("client certificate carries no role")
	}
	role, err := ParseRole(cert.Subject.OrganizationalUnit[0])
	if err != nil {
		return Caller{}, err
	}
	name := cert.Subject.CommonName
	if !reserve.IdentityNameRE.MatchString(name) {
		return Caller{}, errPermission(fmt.Sprintf("client certificate name %q is not an identity name", name))
	}
	c := Caller{Name: name, Role: role, Serial: cert.SerialNumber.Text(16), ExpiresAt: cert.NotAfter, IssuedAt: cert.NotBefore.Add(time.Hour)}
	for _, u := range cert.URIs {
		if u.Scheme != "custos" {
			continue
		}
		fp, ok := strings.CutPrefix(u.String(), cosignerURIPrefix)
		if !ok || c.HasFingerprint || len(fp) != 8 || strings.ToLower(fp) != fp {
			return Caller{}, errPermission(fmt.Sprintf("client certificate of %s carries a bad custos URI %q", name, u))
		}
		if c.Fingerprint, err = ParseFingerprint(fp); err != nil {
			return Caller{}, errPermission(fmt.Sprintf("client certificate of %s carries a bad cosigner fingerprint %q", name, fp))
		}
		c.HasFingerprint = true
	}
	if c.HasFingerprint && role != RoleSigner {
		return Caller{}, errPermission(fmt.Sprintf("client certificate of %s binds a cosigner but its role is %s", name, role))
	}
	return c, nil
}

// errCAOffline is the refusal of an issue while the CA key is locked.
func errCAOffline() error {
	return reserve.Errorf(reserve.CodeFailedPrecondition,
		"the CA is offline: its key is sealed and custosd was started without its passphrase; restart custosd with --ca-passphrase-file FILE (or %s), or issue offline on the daemon host with `custosd issue-cert`",
		EnvCAPassphrase)
}

// The sealed CA key file.
const (
	caFileVersion = 1
	caFileType    = "custos-ca-key"
	caADTag       = "custos CA key file\x00"
	caMaxFile     = 16 << 10
	// caSecretLen is a P-256 private scalar.
	caSecretLen = 32
)

type caFileJSON struct {
	Version int    `json:"version"`
	Type    string `json:"type"`
	seal.Fields
}

// caAD binds the file's header to the ciphertext.
func caAD(b *seal.Box) []byte {
	ad := []byte(caADTag)
	lp := func(s []byte) { ad = binary.BigEndian.AppendUint32(ad, uint32(len(s))); ad = append(ad, s...) }
	lp([]byte(caFileType))
	ad = binary.BigEndian.AppendUint32(ad, caFileVersion)
	lp([]byte(seal.KDFName))
	ad = binary.BigEndian.AppendUint32(ad, b.KDF.Time)
	ad = binary.BigEndian.AppendUint32(ad, b.KDF.MemoryKiB)
	ad = append(ad, b.KDF.Threads)
	lp(b.Salt)
	lp([]byte(seal.CipherName))
	return ad
}

// sealCAKey writes key to path sealed under passphrase (argon2id,
// XChaCha20-Poly1305, like the signer's and officers' keys).
func sealCAKey(path string, key *ecdsa.PrivateKey, passphrase []byte, rnd io.Reader) error {
	if len([]rune(string(passphrase))) < seal.MinPassphraseLen {
		return reserve.Invalid("ca passphrase", "at least %d characters", seal.MinPassphraseLen)
	}
	box, err := seal.NewBox(seal.DefaultKDF(), rnd)
	if err != nil {
		return err
	}
	secret, err := key.Bytes()
	if err != nil {
		return fmt.Errorf("unable to encode CA key: %w", err)
	}
	defer clear(secret)
	if err := box.Seal(passphrase, secret, caAD(box)); err != nil {
		return err
	}
	data, err := json.MarshalIndent(caFileJSON{Version: caFileVersion, Type: caFileType, Fields: box.Fields()}, "", "  ")
	if err != nil {
		return fmt.Errorf("unable to encode the CA key file: %w", err)
	}
	return durable.Write(path, append(data, '\n'), 0o600, false)
}

// openCAKey reads and unlocks the sealed CA key at path.
func openCAKey(path string, passphrase []byte) (*ecdsa.PrivateKey, error) {
	data, err := durable.ReadLimited(path, caMaxFile)
	if err != nil {
		return nil, fmt.Errorf("unable to read the CA key: %w", err)
	}
	var j caFileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil || j.Type != caFileType || j.Version != caFileVersion {
		return nil, reserve.Invalid("ca key", "%s is not a version %d CA key file", path, caFileVersion)
	}
	// Nothing but white space may follow the value: not a second value,
	// not a stray bracket (which dec.More does not see).
	if _, err := dec.Token(); err != io.EOF {
		return nil, reserve.Invalid("ca key", "%s is not a version %d CA key file (data after the JSON value)", path, caFileVersion)
	}
	box, err := j.Fields.Box(caSecretLen)
	if err != nil {
		return nil, reserve.Invalid("ca key", "%s: %w", path, err)
	}
	var key *ecdsa.PrivateKey
	err = box.Open(passphrase, caAD(box), func(secret []byte) error {
		var err error
		key, err = ecdsa.ParseRawPrivateKey(elliptic.P256(), secret)
		return err
	})
	if errors.Is(err, seal.ErrOpen) {
		return nil, reserve.Errorf(reserve.CodeDenied, "unable to unlock the CA key %s: wrong passphrase or a changed file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("unable to unlock the CA key %s: %w", path, err)
	}
	return key, nil
}
