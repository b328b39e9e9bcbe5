package tenant

import (
	"fmt"
	"io"
	"net/http"
)

// MaxResponseBytes caps every Graph and Key Vault response body the
// reader's transports carry. kiota and azcore read a body whole into
// memory; an answer that never ends (a broken proxy, a hostile endpoint
// behind a DNS mistake) would otherwise grow until the process dies. A
// Graph page of 100 partners with their certificates is a few hundred
// kilobytes and a $batch of 20 such pages a few megabytes; Key Vault pages
// hold 25 items.
const MaxResponseBytes = 32 << 20

// BodyTooLargeError is an answer whose body passed the cap. It is not
// retried: the same request would get the same answer.
type BodyTooLargeError struct {
	Method string
	// URL is scheme, host and path; the query is left out (a nextLink's
	// skip token says nothing to a reader of the error).
	URL   string
	Limit int64
}

func (e *BodyTooLargeError) Error() string {
	return fmt.Sprintf("%s %s: the response body is larger than %d MB; Graph and Key Vault answers are far smaller, so it is not read further", e.Method, e.URL, e.Limit>>20)
}

// NonRetriable tells azcore's retry policy not to repeat the request.
func (e *BodyTooLargeError) NonRetriable() {}

// cappedTransport refuses a response whose declared length is over limit
// and ends the reading of any body at limit with a BodyTooLargeError.
type cappedTransport struct {
	next  http.RoundTripper
	limit int64
}

func (t *cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	tooLarge := &BodyTooLargeError{Method: req.Method, URL: req.URL.Scheme + "://" + req.URL.Host + req.URL.Path, Limit: t.limit}
	if resp.ContentLength > t.limit {
		resp.Body.Close()
		return nil, tooLarge
	}
	resp.Body = &cappedBody{body: resp.Body, left: t.limit, err: tooLarge}
	return resp, nil
}

type cappedBody struct {
	body io.ReadCloser
	left int64
	err  error
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// At the cap: one more byte means the body is over it.
		var one [1]byte
		n, err := b.body.Read(one[:])
		if n > 0 {
			return 0, b.err
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.body.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.body.Close() }
