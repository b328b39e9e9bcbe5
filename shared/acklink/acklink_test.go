package acklink

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

func testKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func query(t *testing.T, link string) url.Values {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestLinkRoundTripAndTampering(t *testing.T) {
	key := testKey(t)
	until, exp := now.Add(7*24*time.Hour), now.Add(3*24*time.Hour)
	link, err := Link(key, "https://func-idpkeeper.azurewebsites.net/api/ack", "F-0123456789ab", until, exp)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, "https://func-idpkeeper.azurewebsites.net/api/ack?") || strings.Contains(link, "code=") {
		t.Fatalf("link %s", link)
	}
	q := query(t, link)
	g, err := Verify(key, q, now)
	if err != nil || g.FindingID != "F-0123456789ab" || !g.Until.Equal(until) || !g.Expires.Equal(exp) {
		t.Fatalf("verify: %+v %v", g, err)
	}
	edit := func(k, v string) url.Values {
		c := url.Values{}
		for kk, vv := range q {
			c[kk] = append([]string(nil), vv...)
		}
		c.Set(k, v)
		return c
	}
	for name, c := range map[string]struct {
		q    url.Values
		want error
	}{
		"another finding":      {edit("finding", "F-999999999999"), ErrSignature},
		"a longer pause":       {edit("until", strconv.FormatInt(until.Add(time.Hour).Unix(), 10)), ErrSignature},
		"a later expiry":       {edit("exp", strconv.FormatInt(exp.Add(time.Hour).Unix(), 10)), ErrSignature},
		"another signature":    {edit("sig", base64.RawURLEncoding.EncodeToString(make([]byte, 32))), ErrSignature},
		"a short signature":    {edit("sig", "abc"), ErrMalformed},
		"no signature":         {edit("sig", ""), ErrMalformed},
		"a path in the ID":     {edit("finding", "../../etc/passwd"), ErrMalformed},
		"an empty finding":     {edit("finding", ""), ErrMalformed},
		"until not a number":   {edit("until", "2026-12-01"), ErrMalformed},
		"an HTML finding ID":   {edit("finding", "<script>"), ErrMalformed},
		"a 200-character ID":   {edit("finding", strings.Repeat("F", 200)), ErrMalformed},
		"the signature padded": {edit("sig", q.Get("sig")+"="), ErrMalformed},
	} {
		if _, err := Verify(key, c.q, now); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := Verify(testKey(t), q, now); !errors.Is(err, ErrSignature) {
		t.Errorf("another key: %v", err)
	}
	if _, err := Verify(key, q, exp); !errors.Is(err, ErrExpired) {
		t.Errorf("at expiry: %v", err)
	}
	if _, err := Verify(nil, q, now); !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v", err)
	}
	// A pause that has already ended is refused too.
	past, _ := Link(key, "https://x.example/api/ack", "F-1", now.Add(-time.Minute), now.Add(time.Hour))
	if _, err := Verify(key, query(t, past), now); !errors.Is(err, ErrExpired) {
		t.Errorf("pause in the past: %v", err)
	}
}

func TestLinkRefusesAFunctionKey(t *testing.T) {
	_, err := Link(testKey(t), "https://func.azurewebsites.net/api/ack?code=SECRETKEY", "F-1", now.Add(time.Hour), now.Add(time.Hour))
	if err == nil || strings.Contains(err.Error(), "SECRETKEY") {
		t.Fatalf("a base URL with code=: %v", err)
	}
	if _, err := Link(testKey(t), "not a url", "F-1", now, now); err == nil {
		t.Fatal("a base that is not a URL")
	}
}

func TestParseKey(t *testing.T) {
	raw := make([]byte, 32)
	rand.Read(raw)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := ParseKey(" " + enc.EncodeToString(raw) + "\n"); err != nil || string(k) != string(raw) {
			t.Errorf("%v: %v", enc, err)
		}
	}
	for setting, want := range map[string]string{
		"": "no key",
		base64.StdEncoding.EncodeToString([]byte("short-key-16byte")): "16 bytes",
		"not base64 at all!!": "not base64",
		"@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/idpkeeper-ack-key/)": "did not resolve",
	} {
		_, err := ParseKey(setting)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", setting, err, want)
		}
		if err != nil && setting != "" && strings.Contains(err.Error(), setting) {
			t.Errorf("the error quotes the setting: %v", err)
		}
	}
}

// FuzzVerify: whatever a query holds, Verify refuses it (no key material
// leaks, no panic) unless it carries a signature made with the key.
func FuzzVerify(f *testing.F) {
	key := make([]byte, 32)
	good, _ := Link(key, "https://x.example/api/ack", "F-1", now.Add(time.Hour), now.Add(time.Hour))
	u, _ := url.Parse(good)
	f.Add(u.RawQuery)
	f.Add("finding=F-1&until=1&exp=2&sig=AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		g, err := Verify(key, q, now)
		if err == nil && raw != u.RawQuery {
			// Only a query equivalent to the signed one may pass.
			if g.FindingID != "F-1" || !g.Until.Equal(now.Add(time.Hour).Truncate(time.Second)) {
				t.Fatalf("accepted %q as %+v", raw, g)
			}
		}
	})
}
