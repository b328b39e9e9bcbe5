// Package acklink makes and checks the acknowledgement links in notices:
// "I am on it, pause the reminders until …", clickable by the people a
// notice goes to — partners outside the organisation included — without the
// Functions key of the app.
//
// A link names one finding, the end of the pause it grants (until) and its
// own expiry (exp), and carries an HMAC-SHA256 over exactly those under a
// key only the app holds (Key Vault in Azure, an app setting locally):
//
//	https://APP.azurewebsites.net/api/ack?finding=F-…&until=1767225600&exp=1766620800&sig=…
//	sig = base64url(HMAC-SHA256(key, "idpkeeper-ack/v1\nF-…\n1767225600\n1766620800"))
//
// So a link cannot be turned into one for another finding, a longer pause or
// a later expiry (each is signed), is refused once its notice stage has
// passed (exp: the next notice carries a new link), and is compared in
// constant time (hmac.Equal). Replaying a link before it expires only
// repeats its own acknowledgement. The Ack function checks nothing else —
// it is anonymous — so the key is what stands between a link and the
// ledger; it is at least 32 random bytes.
package acklink

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MinKeyBytes is the shortest key accepted: 256 bits, the HMAC-SHA256
// output size (RFC 2104 section 3: less than the output length weakens it).
const MinKeyBytes = 32

// keyVaultReference is how an unresolved Key Vault reference app setting
// reaches the process: the platform passes the reference text itself when
// it cannot read the secret.
const keyVaultReference = "@Microsoft.KeyVault("

// ParseKey reads the key from its setting: base64 (standard or URL
// alphabet, padded or not) of at least MinKeyBytes bytes, e.g. the output of
// `openssl rand -base64 32`. The error never quotes the value.
func ParseKey(setting string) ([]byte, error) {
	v := strings.TrimSpace(setting)
	if v == "" {
		return nil, ErrNoKey
	}
	if strings.HasPrefix(v, keyVaultReference) {
		return nil, errors.New("acklink: the key is a Key Vault reference the platform did not resolve: the app's identity cannot read the secret (role Key Vault Secrets User on it), or the secret does not exist")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(v); err == nil {
			if len(k) < MinKeyBytes {
				return nil, fmt.Errorf("acklink: the key is %d bytes; at least %d random bytes are needed (openssl rand -base64 32)", len(k), MinKeyBytes)
			}
			return k, nil
		}
	}
	return nil, errors.New("acklink: the key is not base64 (make one with: openssl rand -base64 32)")
}

// ErrNoKey: no key is configured; links are neither made nor accepted.
var ErrNoKey = errors.New("acklink: no key configured")

// Reasons Verify refuses a link. Each is a client error.
var (
	ErrMalformed = errors.New("acklink: not an acknowledgement link")
	ErrSignature = errors.New("acklink: the link's signature does not match (altered, or made with another key)")
	ErrExpired   = errors.New("acklink: the link has expired with its notice; use the link in the latest notice")
)

// findingPattern is ledger's finding ID shape: a link for anything else is
// malformed before its signature is even computed.
var findingPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Grant is what a verified link grants: pause findingID's reminders until
// Until.
type Grant struct {
	FindingID string
	Until     time.Time
	Expires   time.Time
}

func mac(key []byte, finding string, until, exp int64) []byte {
	h := hmac.New(sha256.New, key)
	fmt.Fprintf(h, "idpkeeper-ack/v1\n%s\n%d\n%d", finding, until, exp)
	return h.Sum(nil)
}

// Link returns base (the Ack function's URL, without a key) with the signed
// query for findingID, pausing until until, valid until exp. Other query
// parameters base carries are kept.
func Link(key []byte, base, findingID string, until, exp time.Time) (string, error) {
	if len(key) < MinKeyBytes {
		return "", ErrNoKey
	}
	if !findingPattern.MatchString(findingID) {
		return "", fmt.Errorf("%w: finding %q", ErrMalformed, findingID)
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("acklink: %q is not an http(s) URL", base)
	}
	if u.Query().Has("code") {
		// The Functions key must not travel in notices.
		return "", errors.New("acklink: the ack URL carries a function key (code=…); set it without one — the Ack function verifies the link's signature instead")
	}
	q := u.Query()
	un, en := until.Unix(), exp.Unix()
	q.Set("finding", findingID)
	q.Set("until", strconv.FormatInt(un, 10))
	q.Set("exp", strconv.FormatInt(en, 10))
	q.Set("sig", base64.RawURLEncoding.EncodeToString(mac(key, findingID, un, en)))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Verify checks a link's query at now: the finding's shape, the signature
// (constant time), the expiry, and that the pause ends in the future.
func Verify(key []byte, q url.Values, now time.Time) (Grant, error) {
	if len(key) < MinKeyBytes {
		return Grant{}, ErrNoKey
	}
	finding := q.Get("finding")
	if !findingPattern.MatchString(finding) {
		return Grant{}, fmt.Errorf("%w: finding %q is not a finding ID", ErrMalformed, clip(finding))
	}
	until, err1 := strconv.ParseInt(q.Get("until"), 10, 64)
	exp, err2 := strconv.ParseInt(q.Get("exp"), 10, 64)
	sig, err3 := base64.RawURLEncoding.DecodeString(q.Get("sig"))
	if err1 != nil || err2 != nil || err3 != nil || len(sig) != sha256.Size {
		return Grant{}, fmt.Errorf("%w: until, exp and sig are required", ErrMalformed)
	}
	if !hmac.Equal(sig, mac(key, finding, until, exp)) {
		return Grant{}, ErrSignature
	}
	g := Grant{FindingID: finding, Until: time.Unix(until, 0).UTC(), Expires: time.Unix(exp, 0).UTC()}
	if !now.Before(g.Expires) {
		return Grant{}, ErrExpired
	}
	if !g.Until.After(now) {
		return Grant{}, ErrExpired
	}
	return g, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
