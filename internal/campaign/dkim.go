package campaign

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// DKIMSigner signs messages with DKIM (RFC 6376, rsa-sha256,
// relaxed/relaxed). Receivers show the RFC 8058 one-click unsubscribe
// button only when the signature covers List-Unsubscribe and
// List-Unsubscribe-Post, so both are always signed.
type DKIMSigner struct {
	Domain, Selector string
	key              *rsa.PrivateKey
	now              func() time.Time
}

// signedHeaders are signed when present; From is required by RFC 6376.
var signedHeaders = []string{"from", "to", "subject", "date", "message-id", "mime-version", "content-type", "list-unsubscribe", "list-unsubscribe-post", "feedback-id"}

// LoadDKIMSigner reads a PEM RSA private key (PKCS #1 or PKCS #8) from
// path. The error names the setting, never the key.
func LoadDKIMSigner(path, selector, domain string) (*DKIMSigner, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("FAIRLEAD_DKIM_KEY_FILE: %w", err)
	}
	return NewDKIMSigner(b, selector, domain)
}

// NewDKIMSigner makes a signer from a PEM RSA private key.
func NewDKIMSigner(pemKey []byte, selector, domain string) (*DKIMSigner, error) {
	if selector == "" || strings.ContainsAny(selector, " ;=\r\n") {
		return nil, errors.New("FAIRLEAD_DKIM_SELECTOR must be a DNS label such as mail2026")
	}
	if domain == "" || strings.ContainsAny(domain, " ;=\r\n") {
		return nil, errors.New("FAIRLEAD_DKIM_DOMAIN must be the signing domain, e.g. example.com")
	}
	blk, _ := pem.Decode(pemKey)
	if blk == nil {
		return nil, errors.New("FAIRLEAD_DKIM_KEY_FILE holds no PEM block")
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("FAIRLEAD_DKIM_KEY_FILE must hold an RSA private key")
		}
		key = rk
	} else {
		return nil, errors.New("FAIRLEAD_DKIM_KEY_FILE must hold an RSA private key in PKCS #1 or PKCS #8 PEM")
	}
	if key.N.BitLen() < 1024 {
		return nil, errors.New("FAIRLEAD_DKIM_KEY_FILE: the RSA key must have at least 1024 bits (2048 recommended)")
	}
	return &DKIMSigner{Domain: domain, Selector: selector, key: key, now: time.Now}, nil
}

// Sign writes the DKIM-Signature field followed by raw to w.
func (d *DKIMSigner) Sign(w io.Writer, raw []byte) error {
	i := bytes.Index(raw, []byte("\r\n\r\n"))
	if i < 0 {
		return errors.New("dkim: message has no body separator")
	}
	head, body := raw[:i+2], raw[i+4:]
	bh := sha256.Sum256(relaxedBody(body))
	fields := splitFields(head)
	// Bottom-up: the last occurrence of a name is signed first (RFC 6376 §5.4.2).
	var names []string
	h := sha256.New()
	used := map[int]bool{}
	for _, want := range signedHeaders {
		for j := len(fields) - 1; j >= 0; j-- {
			if used[j] || !strings.EqualFold(fields[j][0], want) {
				continue
			}
			used[j] = true
			names = append(names, want)
			h.Write([]byte(relaxedHeader(fields[j][0], fields[j][1])))
			break
		}
	}
	if len(names) == 0 || names[0] != "from" {
		return errors.New("dkim: message has no From field")
	}
	sig := "v=1; a=rsa-sha256; c=relaxed/relaxed; d=" + d.Domain + "; s=" + d.Selector +
		"; t=" + strconv.FormatInt(d.now().Unix(), 10) + "; h=" + strings.Join(names, ":") +
		"; bh=" + base64.StdEncoding.EncodeToString(bh[:]) + "; b="
	h.Write([]byte(strings.TrimSuffix(relaxedHeader("DKIM-Signature", " "+sig), "\r\n")))
	b, err := rsa.SignPKCS1v15(rand.Reader, d.key, crypto.SHA256, h.Sum(nil))
	if err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	field := "DKIM-Signature: " + sig + foldBase64(base64.StdEncoding.EncodeToString(b)) + "\r\n"
	if _, err := io.WriteString(w, field); err != nil {
		return err
	}
	_, err = w.Write(raw)
	return err
}

// foldBase64 breaks the signature into lines of 72 characters; folding
// whitespace inside b= is ignored by verifiers.
func foldBase64(s string) string {
	var b strings.Builder
	for len(s) > 72 {
		b.WriteString(s[:72] + "\r\n\t")
		s = s[72:]
	}
	b.WriteString(s)
	return b.String()
}

// splitFields splits a header block into (name, raw value) pairs, the
// value with its folding line breaks.
func splitFields(head []byte) [][2]string {
	var out [][2]string
	for _, line := range strings.SplitAfter(string(head), "\r\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1][1] += line
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		out = append(out, [2]string{name, value})
	}
	return out
}

// relaxedHeader canonicalizes one field (RFC 6376 §3.4.2).
func relaxedHeader(name, value string) string {
	v := strings.ReplaceAll(value, "\r\n", "")
	v = strings.Join(strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' }), " ")
	return strings.ToLower(strings.TrimSpace(name)) + ":" + v + "\r\n"
}

// relaxedBody canonicalizes the body (RFC 6376 §3.4.4).
func relaxedBody(body []byte) []byte {
	lines := strings.Split(string(body), "\r\n")
	for i, l := range lines {
		l = strings.TrimRight(l, " \t")
		lines[i] = strings.Join(strings.FieldsFunc(l, func(r rune) bool { return r == ' ' || r == '\t' }), " ")
		if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
			lines[i] = " " + lines[i]
		}
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return nil
	}
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}
