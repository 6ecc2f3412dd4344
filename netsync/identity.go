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
}

func newIdentity() (*identity, error) {
	id := uuid.NewString()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "hills-server " + id, Organization: []string{"hills"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(100, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"hills-server"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &identity{ID: id, CertDER: der, KeyDER: keyDER, Created: now.UnixNano()}, nil
}

func (i *identity) tlsCert() (tls.Certificate, error) {
	key, err := x509.ParseECPrivateKey(i.KeyDER)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("netsync: server key: %w", err)
	}
	leaf, err := x509.ParseCertificate(i.CertDER)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("netsync: server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{i.CertDER}, PrivateKey: key, Leaf: leaf}, nil
}

// Fingerprint is the SHA-256 of a certificate, in the text form clients pin.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}
