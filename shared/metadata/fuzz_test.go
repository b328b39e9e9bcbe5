package metadata

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// FuzzRead feeds arbitrary bytes to the streaming reader, with and without
// a trust anchor. Whatever the input: no panic, every error is a typed
// *Error, a success names an IdP entity, and a verified read agrees with the
// unverified read of the same bytes.
func FuzzRead(f *testing.F) {
	signer := key(f, "rsa-federation")
	partner := key(f, "rsa-partner")
	one := idp{id: "urn:a", certs: []*testKey{partner}, sso: "https://a/sso", passive: "https://a/ls/"}.xml()
	two := idp{id: "urn:b", certs: []*testKey{partner}, sso: "https://b/sso", validUntil: "2030-01-01T00:00:00Z"}.xml()
	f.Add([]byte(one), "")
	f.Add([]byte(aggregate(` cacheDuration="PT6H"`, one, two)), "urn:b")
	f.Add(sign(f, aggregate("", one, two), signer, signOpts{}), "urn:a")
	f.Add(sign(f, one, signer, signOpts{c14n: nil, method: rsaSHA1}), "")
	f.Add([]byte(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"><md:EntitiesDescriptor validUntil="2020-01-01T00:00:00Z">`+one+`</md:EntitiesDescriptor></md:EntitiesDescriptor>`), "urn:a")
	f.Add([]byte("\xEF\xBB\xBF<?xml version=\"1.0\"?><!-- c --><x/>"), "")
	f.Add([]byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="e"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/></ds:Signature></md:EntityDescriptor>`), "e")
	trust := &TrustAnchor{Certificates: []*x509.Certificate{signer.cert}, AllowSHA1: true}

	f.Fuzz(func(t *testing.T, data []byte, entityID string) {
		plain, plainErr := ReadBytes(context.Background(), data, ReadOptions{EntityID: entityID, Now: testNow})
		verified, verErr := ReadBytes(context.Background(), data, ReadOptions{EntityID: entityID, Now: testNow, Trust: trust})
		for _, r := range []struct {
			d   *Document
			err error
		}{{plain, plainErr}, {verified, verErr}} {
			if r.err != nil {
				if KindOf(r.err) == "" {
					t.Fatalf("untyped error %T: %v", r.err, r.err)
				}
				if r.d != nil {
					t.Fatal("a document returned with an error")
				}
				continue
			}
			e := r.d.Entity
			if e.EntityID == "" || (entityID != "" && e.EntityID != entityID) || (entityID == "" && !e.IsIdP()) {
				t.Fatalf("entity %+v for %q", e, entityID)
			}
			if r.d.Size != int64(len(data)) {
				t.Fatalf("size %d of %d bytes", r.d.Size, len(data))
			}
		}
		if verErr == nil {
			if verified.Signature.Signed != verified.Signature.Verified {
				t.Fatalf("signed but accepted unverified: %+v", verified.Signature)
			}
			if plainErr != nil || !reflect.DeepEqual(plain.Entity, verified.Entity) {
				t.Fatalf("verified read differs from the plain read: %v", plainErr)
			}
		}
		// Attribute values diverted from encoding/xml (spill.go) from a
		// few bytes on read as read whole: the same document, or a
		// refusal both ways (not always of the same kind: the filter
		// reads ahead of the decoder and may refuse a broken value
		// first).
		at := 1 + len(data)%13
		diverted, divErr := read(context.Background(), bytes.NewReader(data), ReadOptions{EntityID: entityID, Now: testNow, Trust: trust, divertAt: at, reserveAt: 1 + len(entityID)%(3*at)})
		if (divErr == nil) != (verErr == nil) {
			t.Fatalf("with values diverted from %d bytes: %v; read whole: %v", at, divErr, verErr)
		}
		if verErr == nil && !reflect.DeepEqual(diverted, verified) {
			t.Fatalf("with values diverted from %d bytes\n got %+v\nwant %+v", at, diverted, verified)
		}
	})
}

// fakeTransport serves /hop/N: a redirect to /hop/N-1 (to http when N is
// downgradeAt) and, at /hop/0, a body of size bytes, counting what it
// hands out.
type fakeTransport struct {
	size        int64
	declare     bool
	downgradeAt int
	served      atomic.Int64
}

func (ft *fakeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(req.URL.Path, "/hop/"))
	if err != nil {
		return nil, err
	}
	resp := &http.Response{Request: req, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(""))}
	if n > 0 {
		scheme := req.URL.Scheme
		if n == ft.downgradeAt {
			scheme = "http"
		}
		resp.StatusCode = http.StatusFound
		resp.Header.Set("Location", fmt.Sprintf("%s://%s/hop/%d", scheme, req.URL.Host, n-1))
		return resp, nil
	}
	resp.StatusCode = http.StatusOK
	resp.ContentLength = -1
	if ft.declare {
		resp.ContentLength = ft.size
	}
	resp.Body = io.NopCloser(&countingReader{r: io.LimitReader(zeros{}, ft.size), n: &ft.served})
	return resp, nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '<'
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// FuzzFetchLimits checks the size cap and the redirect policy together:
// a fetch succeeds exactly when there are at most 3 redirects, none changes
// the scheme, and the body fits; an oversized body is never read past the
// limit plus one byte.
func FuzzFetchLimits(f *testing.F) {
	f.Add(uint32(100), uint32(100), true, uint8(0), uint8(0))
	f.Add(uint32(101), uint32(100), false, uint8(3), uint8(0))
	f.Add(uint32(10), uint32(100), false, uint8(4), uint8(0))
	f.Add(uint32(10), uint32(100), true, uint8(2), uint8(1))
	f.Add(uint32(1<<20), uint32(4096), false, uint8(1), uint8(0))
	f.Fuzz(func(t *testing.T, size, limit uint32, declare bool, hops, downgradeAt uint8) {
		ft := &fakeTransport{size: int64(size % (4 << 20)), declare: declare, downgradeAt: int(downgradeAt % 8)}
		max := int64(limit%(2<<20)) + 1
		h := int(hops % 8)
		fetcher := &Fetcher{Client: &http.Client{Transport: ft}}
		got, err := fetcher.Fetch(context.Background(), Source{URL: fmt.Sprintf("https://md.example/hop/%d", h), MaxBytes: max}, Validators{})

		downgraded := ft.downgradeAt >= 1 && ft.downgradeAt <= h
		switch {
		case h > MaxRedirects || downgraded:
			wantKind(t, err, KindRedirect)
		case ft.size > max:
			wantKind(t, err, KindTooLarge)
			if ft.served.Load() > max+1 {
				t.Fatalf("read %d bytes for a %d byte limit", ft.served.Load(), max)
			}
		default:
			if err != nil {
				t.Fatalf("size %d limit %d hops %d: %v", ft.size, max, h, err)
			}
			if int64(len(got.Body)) != ft.size || !bytes.Equal(got.Body, bytes.Repeat([]byte("<"), int(ft.size))) {
				t.Fatalf("body of %d bytes, want %d", len(got.Body), ft.size)
			}
		}
	})
}
