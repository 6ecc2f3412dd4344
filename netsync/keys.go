package netsync

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"
)

// identity is what a server is to its clients: a UUID and a self-signed
// certificate, made on first start and kept.
type identity struct {
	ID      string `msgpack:"id"`
	CertDER []byte `msgpack:"cert"`
	KeyDER  []byte `msgpack:"key"`
	Created int64  `msgpack:"created"`
	// Lineage names this copy of the store's history: made with the
	// store, made anew by a restore (hills-server restore).
	Lineage string `msgpack:"lineage,omitempty"`
	// RestoredFrom and RestoredAt: the backup the store was restored from,
	// and when (Unix ns); empty when it never was.
	RestoredFrom string `msgpack:"restored_from,omitempty"`
	RestoredAt   int64  `msgpack:"restored_at,omitempty"`
}

func newIdentity() (*identity, error) {
	id := uuid.NewString()
	der, keyDER, err := selfSigned("hills-server "+id, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, err
	}
	return &identity{ID: id, CertDER: der, KeyDER: keyDER, Created: time.Now().UnixNano(), Lineage: uuid.NewString()}, nil
}

// selfSigned makes an ECDSA P-256 key and a self-signed certificate for it
// (100 years), as DER.
func selfSigned(cn string, usage x509.ExtKeyUsage) (cert, key []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"hills"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(100, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     []string{"hills"},
	}
	cert, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, err
	}
	key, err = x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func (i *identity) tlsCert() (tls.Certificate, error) { return tlsCert(i.CertDER, i.KeyDER) }

func tlsCert(certDER, keyDER []byte) (tls.Certificate, error) {
	key, err := x509.ParseECPrivateKey(keyDER)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("netsync: key: %w", err)
	}
	leaf, err := x509.ParseCertificate(certDER)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("netsync: certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{certDER}, PrivateKey: key, Leaf: leaf}, nil
}

// credential is a client's key pair, kept in its replica: what
// authenticates it to the server.
type credential struct {
	CertDER []byte `msgpack:"cert"`
	KeyDER  []byte `msgpack:"key"`
}

// Fingerprint is the SHA-256 of a certificate, in the text form clients pin.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}
