package metadata

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hostile is the worst input we know of one resource class: a document
// that made an earlier version of the reader spend quadratic time or
// unbounded memory before the signature was checked.
type hostile struct {
	name  string
	doc   []byte
	opts  ReadOptions
	check func(d *Document, err error) error
}

// hostileDocs builds each class at about size bytes. Documents that need
// the canonicaliser to run are signed (ECDSA, this package's canonical
// form), since it runs only after SignedInfo has verified; the same work is
// done for a forged body under a replayed signature, which fails only at
// the final digest comparison.
func hostileDocs(t testing.TB, size int) []hostile {
	ec := key(t, "ec-federation")
	trust := &TrustAnchor{Certificates: []*x509.Certificate{ec.cert}, RequireSignature: true}
	const md = `xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"`
	signed := func(tmpl string, s sigTmpl) []byte {
		doc := ourSigned(t, tmpl, s, ec)
		if doc == nil {
			t.Fatal("could not sign the hostile document")
		}
		return doc
	}
	verified := func(entity string) func(d *Document, err error) error {
		return func(d *Document, err error) error {
			if err != nil || !d.Signature.Verified || d.Entity.EntityID != entity {
				return fmt.Errorf("want %s verified: %v", entity, err)
			}
			return nil
		}
	}
	refused := func(kind ErrorKind) func(d *Document, err error) error {
		return func(d *Document, err error) error {
			if KindOf(err) != kind {
				return fmt.Errorf("got %v, want kind %s", err, kind)
			}
			return nil
		}
	}
	entity := func(id, extra string) string {
		return `<md:EntityDescriptor entityID="` + id + `"` + extra + `><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="` + BindingHTTPRedirect + `" Location="https://` + id + `/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>`
	}
	var out []hostile

	// A long number: cacheDuration and validUntil digits were built a byte
	// at a time (string +=). Token-sized: the largest a token may be.
	digits := strings.Repeat("1", min(size, (DefaultLimits.MaxTokenBytes-256)*2/3))
	out = append(out, hostile{
		name: "long number",
		doc: []byte(`<md:EntitiesDescriptor ` + md + `><md:EntityDescriptor entityID="urn:n" cacheDuration="P` + digits + `D" validUntil="2030-01-01T00:00:00.` + digits[:len(digits)/2] + `Z">` +
			`<md:IDPSSODescriptor protocolSupportEnumeration="p"/></md:EntityDescriptor></md:EntitiesDescriptor>`),
		opts: ReadOptions{Now: testNow},
		check: func(d *Document, err error) error {
			if err != nil || d.Entity.CacheDuration != "" || d.Entity.ValidUntil == nil {
				return fmt.Errorf("%v %+v", err, d)
			}
			return nil
		},
	})

	// One attribute value as long as a token may be, in a signed entity:
	// encoding/xml alone would buffer it in a doubling buffer and copy it,
	// and the canonicaliser would escape it into its buffer whole.
	value := strings.Repeat("v", min(size, DefaultLimits.MaxTokenBytes-512))
	out = append(out, hostile{
		name:  "one maximal attribute value",
		doc:   signed(`<md:EntitiesDescriptor `+md+` ID="v">`+sigMarker+entity("urn:value", ` x="`+value+`"`)+`</md:EntitiesDescriptor>`, sigTmpl{c14n: algExcC14N, uri: "#v"}),
		opts:  ReadOptions{Now: testNow, Trust: trust},
		check: verified("urn:value"),
	})

	// Many text fragments: a certificate split by comments was gathered
	// with string +=.
	var frag strings.Builder
	for frag.Len() < size {
		frag.WriteString("QUFB<!---->")
	}
	out = append(out, hostile{
		name: "many text fragments",
		doc: signed(`<md:EntityDescriptor `+md+` ID="f" entityID="urn:f">`+sigMarker+`<md:IDPSSODescriptor protocolSupportEnumeration="p"><md:KeyDescriptor><ds:KeyInfo xmlns:ds="`+nsDS+`"><ds:X509Data><ds:X509Certificate>`+
			frag.String()+`</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor></md:EntityDescriptor>`, sigTmpl{c14n: algExcC14NWithComment, uri: "#f"}),
		opts: ReadOptions{Now: testNow, Trust: trust},
		check: func(d *Document, err error) error {
			if err != nil || !d.Signature.Verified || len(d.Entity.Problems) != 1 {
				return fmt.Errorf("%v %+v", err, d)
			}
			return nil
		},
	})

	// Many namespace declarations in scope: every lookup scanned them all.
	// Nested elements declare 1,000 prefixes each, up to MaxNamespaces;
	// then elements and attributes look prefixes up, inclusive C14N
	// rendering each level.
	var ns strings.Builder
	levels := DefaultLimits.MaxNamespaces/1000 - 1
	for l := range levels {
		ns.WriteString("<md:Extensions")
		for p := range 1000 {
			fmt.Fprintf(&ns, ` xmlns:p%d="urn:%d:%d"`, p, l, p)
		}
		ns.WriteString(">")
	}
	for ns.Len() < size*3/2 {
		ns.WriteString(`<p5:x p7:a="1" p999:b="2"/>`)
	}
	for range levels {
		ns.WriteString("</md:Extensions>")
	}
	out = append(out, hostile{
		name:  "namespace declarations at the cap",
		doc:   signed(`<md:EntityDescriptor `+md+` ID="n" entityID="urn:ns">`+sigMarker+ns.String()+`<md:IDPSSODescriptor protocolSupportEnumeration="p"/></md:EntityDescriptor>`, sigTmpl{c14n: algC14N10, uri: "#n"}),
		opts:  ReadOptions{Now: testNow, Trust: trust},
		check: verified("urn:ns"),
	})

	// A long InclusiveNamespaces PrefixList on the reference: every element
	// looped over it.
	var prefixes, decls strings.Builder
	for p := range 1000 {
		fmt.Fprintf(&prefixes, "q%d ", p)
		fmt.Fprintf(&decls, ` xmlns:q%d="urn:q:%d"`, p, p)
	}
	var body strings.Builder
	for body.Len() < size {
		body.WriteString(`<md:Extensions><q1:x q2:y="z"/></md:Extensions>`)
	}
	out = append(out, hostile{
		name:  "long PrefixList",
		doc:   signed(`<md:EntityDescriptor `+md+decls.String()+` ID="p" entityID="urn:pl">`+sigMarker+body.String()+`<md:IDPSSODescriptor protocolSupportEnumeration="p"/></md:EntityDescriptor>`, sigTmpl{c14n: algExcC14N, prefixList: prefixes.String(), uri: "#p"}),
		opts:  ReadOptions{Now: testNow, Trust: trust},
		check: verified("urn:pl"),
	})

	// Deep group nesting: every entity walked every enclosing group.
	var deep strings.Builder
	depth := DefaultLimits.MaxDepth - 4
	for g := range depth {
		fmt.Fprintf(&deep, `<md:EntitiesDescriptor validUntil="2030-01-%02dT00:00:00Z" cacheDuration="PT%dH">`, 1+g%28, 1+g)
	}
	n := 0
	for deep.Len() < size {
		deep.WriteString(entity(fmt.Sprintf("e%d.example", n), ""))
		n++
	}
	for range depth {
		deep.WriteString("</md:EntitiesDescriptor>")
	}
	target := fmt.Sprintf("e%d.example", n-1)
	out = append(out, hostile{
		name: "deep nesting",
		doc:  signed(`<md:EntitiesDescriptor `+md+` ID="d">`+sigMarker+deep.String()+`</md:EntitiesDescriptor>`, sigTmpl{c14n: algExcC14N, uri: "#d"}),
		opts: ReadOptions{Now: testNow, Trust: trust, EntityID: target},
		check: func(d *Document, err error) error {
			if err != nil || d.Entity.ValidUntil == nil || d.Entity.ValidUntil.Day() != 1 || d.Entity.CacheDuration != "PT1H" || d.EntityCount != n {
				return fmt.Errorf("%v %+v", err, d)
			}
			return nil
		},
	})

	// Many attributes, each with its own prefix, on many elements: the
	// exclusive canonicaliser deduplicated rendered prefixes pairwise.
	var pa, pdecl strings.Builder
	for p := range 1000 {
		fmt.Fprintf(&pdecl, ` xmlns:a%d="urn:a:%d"`, p, p)
	}
	var elem strings.Builder
	elem.WriteString("<md:Extensions")
	for p := range 1000 {
		fmt.Fprintf(&elem, ` a%d:x="%d"`, p, p)
	}
	elem.WriteString("/>")
	for pa.Len() < size {
		pa.WriteString(elem.String())
	}
	out = append(out, hostile{
		name:  "many prefixed attributes",
		doc:   signed(`<md:EntityDescriptor `+md+pdecl.String()+` ID="a" entityID="urn:attrs">`+sigMarker+pa.String()+`<md:IDPSSODescriptor protocolSupportEnumeration="p"/></md:EntityDescriptor>`, sigTmpl{c14n: algExcC14N, uri: "#a"}),
		opts:  ReadOptions{Now: testNow, Trust: trust},
		check: verified("urn:attrs"),
	})

	// A signature at the size cap (a KeyInfo stuffed with names): held in
	// memory until it is checked; one byte more is refused.
	stuffed := ourSigned(t, plainEntity(t), sigTmpl{c14n: algExcC14N, uri: "#_plain"}, ec)
	perName := (DefaultLimits.MaxSignatureNodes - 100) / 3 // start, text, end
	kn := "<ds:KeyName>" + strings.Repeat("k", (DefaultLimits.MaxSignatureBytes-len(stuffed))/perName-32) + "</ds:KeyName>"
	var names strings.Builder
	for range perName {
		names.WriteString(kn)
	}
	out = append(out, hostile{
		name:  "signature at the cap",
		doc:   insertAfter(t, stuffed, `</ds:SignatureValue>`, `<ds:KeyInfo>`+names.String()+`</ds:KeyInfo>`),
		opts:  ReadOptions{Now: testNow, Trust: trust},
		check: verified("urn:plain"),
	})

	// Huge text runs at the token cap.
	text := strings.Repeat("t", min(size, DefaultLimits.MaxTokenBytes-16))
	var texts strings.Builder
	for texts.Len() < size {
		texts.WriteString("<md:Extensions>" + text + "</md:Extensions>")
	}
	out = append(out, hostile{
		name:  "long text runs",
		doc:   signed(`<md:EntityDescriptor `+md+` ID="t" entityID="urn:text">`+sigMarker+texts.String()+`<md:IDPSSODescriptor protocolSupportEnumeration="p"/></md:EntityDescriptor>`, sigTmpl{c14n: algC14N10, uri: "#t"}),
		opts:  ReadOptions{Now: testNow, Trust: trust},
		check: verified("urn:text"),
	})

	// An unsigned document where a signature is required: refused at the
	// root's first child, however long the rest.
	var rest strings.Builder
	rest.WriteString(`<md:EntitiesDescriptor ` + md + `>`)
	for i := 0; rest.Len() < size; i++ {
		rest.WriteString(entity(fmt.Sprintf("u%d", i), ""))
	}
	rest.WriteString(`</md:EntitiesDescriptor>`)
	out = append(out, hostile{name: "unsigned, signature required", doc: []byte(rest.String()), opts: ReadOptions{Now: testNow, Trust: trust}, check: refused(KindUnsigned)})
	return out
}

// heapSampler records the peak of live heap objects while a read runs
// (runtime/metrics, which does not stop the world).
type heapSampler struct {
	peak atomic.Uint64
	stop chan struct{}
	wg   sync.WaitGroup
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			if v := heapObjects(); v > h.peak.Load() {
				h.peak.Store(v)
			}
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) done() uint64 {
	close(h.stop)
	h.wg.Wait()
	return h.peak.Load()
}

// BenchmarkHostile reads the worst input of each resource class (about
// 8 MB each, or the largest a limit lets through) and reports MB/s and
// peak-MB: the peak of live heap during one read beyond what was live
// before it (the document itself, held by the caller, is not counted;
// measured in an untimed read with GOGC=10 so that garbage not yet
// collected does not count as memory the reader needs), and peak/doc, that
// peak over the document size. Goals: ≥ 20 MB/s, peak/doc ≤ 2. On a
// shared machine cpu-MB/s (bytes per CPU second of this process) is the
// steadier figure; rawtoken-cpu-MB/s is encoding/xml's tokenizer alone on
// the same bytes, the ceiling of a reader built on it.
//
//	go test -run='^$' -bench=Hostile -benchtime=3x ./shared/metadata/
func BenchmarkHostile(b *testing.B) {
	const size = 8 << 20
	for i, h := range hostileDocs(b, 64<<10) { // names only
		b.Run(h.name, func(b *testing.B) {
			h := hostileDocs(b, size)[i] // only this document stays live
			if dir := os.Getenv("IDPKEEPER_HOSTILE_OUT"); dir != "" {
				// For measuring another build on the same inputs.
				writeHostile(b, dir, i, h)
			}
			runtime.GC()
			b.SetBytes(int64(len(h.doc)))
			cpu0 := processCPU()
			for b.Loop() {
				d, err := ReadBytes(context.Background(), h.doc, h.opts)
				if err := h.check(d, err); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(len(h.doc))*float64(b.N)/(processCPU()-cpu0).Seconds()/1e6, "cpu-MB/s")
			// For scale: encoding/xml's tokenizer alone on the same bytes,
			// the floor of any reader built on it.
			cpu0 = processCPU()
			dec := xml.NewDecoder(bytes.NewReader(h.doc))
			for {
				if _, err := dec.RawToken(); err != nil {
					break
				}
			}
			b.ReportMetric(float64(len(h.doc))/(processCPU()-cpu0).Seconds()/1e6, "rawtoken-cpu-MB/s")
			old := debug.SetGCPercent(10)
			runtime.GC()
			base := heapObjects()
			s := startHeapSampler()
			ReadBytes(context.Background(), h.doc, h.opts)
			peak := s.done()
			debug.SetGCPercent(old)
			if peak < base {
				peak = base
			}
			b.ReportMetric(float64(peak-base)/(1<<20), "peak-MB")
			b.ReportMetric(float64(peak-base)/float64(len(h.doc)), "peak/doc")
			b.ReportMetric(float64(len(h.doc))/(1<<20), "doc-MB")
		})
	}
}

// processCPU is the CPU time this process has used: on a shared machine,
// bytes per CPU second says more about the reader than bytes per second.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeHostile writes a hostile document, its read options (entity) and
// the signer's certificate to dir.
func writeHostile(tb testing.TB, dir string, i int, h hostile) {
	base := filepath.Join(dir, fmt.Sprintf("%02d", i))
	files := map[string][]byte{".xml": h.doc, ".entity": []byte(h.opts.EntityID), ".name": []byte(h.name)}
	if h.opts.Trust != nil {
		files[".pem"] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.opts.Trust.Certificates[0].Raw})
	}
	for ext, data := range files {
		if err := os.WriteFile(base+ext, data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}
