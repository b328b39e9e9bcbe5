package metadata

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// ReadOptions says which entity to take from a document and how to trust it.
type ReadOptions struct {
	// EntityID names the entity to take. Empty means the document's only
	// IdP entity (an error when there are several).
	EntityID string
	// Trust, when set, makes Read verify the root signature against it.
	// Nil reports the signature without verifying it.
	Trust *TrustAnchor
	// Now is the time validUntil is checked against; zero means time.Now().
	Now time.Time
	// Limits bound what a document may make Read hold or do before its
	// signature is checked; zero fields take DefaultLimits.
	Limits Limits

	// survey reads a document that validUntil would refuse, keeping
	// expired roles, so that inspect can show what a refused document
	// says. Nothing read this way is used.
	survey bool
	// divertAt and reserveAt replace spillAt and bigAt (tests: long-value
	// diversion on short documents).
	divertAt, reserveAt int
}

// Document is the result of reading one metadata document.
type Document struct {
	// SHA256 of the bytes read, hex lower case.
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Root is "EntityDescriptor" or "EntitiesDescriptor".
	Root        string `json:"root"`
	EntityCount int    `json:"entityCount"`
	IdPCount    int    `json:"idpCount"`
	// Entity is the entity asked for, read from the same token stream the
	// signature digest was computed over.
	Entity    Entity          `json:"entity"`
	Signature SignatureStatus `json:"signature"`
}

// ReadBytes is Read over a byte slice.
func ReadBytes(ctx context.Context, doc []byte, opts ReadOptions) (*Document, error) {
	return Read(ctx, bytes.NewReader(doc), opts)
}

// Read reads a SAML metadata document (EntityDescriptor or a nested
// EntitiesDescriptor aggregate) in one streaming pass: it finds the entity,
// records the validUntil/cacheDuration of everything enclosing it and, with
// opts.Trust, canonicalises and hashes the root for its enveloped signature
// as the tokens go by. No DOM is built, so a 50 MB aggregate costs little
// more than the decoder's buffers. The work is linear in the document, what
// must be held before the signature is checked is capped (opts.Limits), and
// ctx stops the read between two reads of r or two tokens.
//
// Errors are *Error: not-xml, not-metadata, signature, unsigned, expired,
// entity-not-found, ambiguous-entity, limit or canceled. A signature
// failure wins over the later ones, because nothing read from a document
// that fails its signature can be trusted, not even "the entity is
// missing".
func Read(ctx context.Context, r io.Reader, opts ReadOptions) (*Document, error) {
	doc, err := read(ctx, r, opts)
	if err != nil {
		return nil, err
	}
	return doc, nil
}

var utf8BOM = []byte("\xEF\xBB\xBF")

// read is Read, except that a failure also returns what had been read
// (inspect shows it, marked as refused).
func read(ctx context.Context, r io.Reader, opts ReadOptions) (*Document, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if err := opts.Trust.check(); err != nil {
		return nil, err
	}
	lim := opts.Limits.withDefaults()
	h := sha256.New()
	counter := &countingWriter{w: h}
	lex := newLexFilter(ctx, io.TeeReader(r, counter), lim)
	lex.spill = newSpiller(inputSize(r))
	if opts.divertAt > 0 {
		lex.spill.at, lex.spill.big = opts.divertAt, max(opts.reserveAt, 1)
	}
	br := bufio.NewReaderSize(lex, 64<<10)
	// encoding/xml does not skip a UTF-8 byte order mark; AD FS and Entra
	// documents start with one.
	if b, _ := br.Peek(3); bytes.Equal(b, utf8BOM) {
		br.Discard(3)
	}
	d := &docReader{ctx: ctx, opts: opts, lim: lim, dec: xml.NewDecoder(br), spill: lex.spill}
	d.dec.Strict = true
	// run reads to EOF, so on success the hash covers every byte.
	err := d.run()
	if err == nil {
		err = d.finish()
	}
	doc := &d.doc
	doc.Size = counter.n
	if err != nil {
		if d.found != nil && doc.Entity.EntityID == "" {
			doc.Entity = d.found.decode()
		}
		return doc, err
	}
	doc.SHA256 = hex.EncodeToString(h.Sum(nil))
	return doc, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.w.Write(p)
}

type sigPhase int

const (
	sigBeforeFirstChild sigPhase = iota // root not yet opened, or no child element yet
	sigCapturing                        // inside the root's ds:Signature
	sigDone                             // past the place a root signature may be
)

type docReader struct {
	ctx  context.Context
	opts ReadOptions
	lim  Limits
	dec  *xml.Decoder
	// spill holds the long attribute values encoding/xml did not see
	// whole; diverted counts their bytes, to add to its InputOffset.
	spill    *spiller
	starts   int // start tags read
	diverted int64
	doc      Document
	scope    nsScope
	open     []xml.Name // raw names of open elements, to match end tags
	// validity has one frame per open Entities/EntityDescriptor, each
	// holding the earliest validUntil and shortest cacheDuration of the
	// element and its enclosing ones.
	validity []validityFrame
	tokens   int
	first    bool // no token read yet
	rootDone bool // the root element has ended

	phase     sigPhase
	rootStart xml.StartElement
	// prologPIs are processing instructions before the root: part of the
	// canonical form of a Reference URI="" (the whole document).
	prologPIs []xml.ProcInst
	pending   []xml.Token // root's non-element content before its first child
	sigTokens []xml.Token
	held      int // tokens held in prologPIs, pending and sigTokens
	sig       *parsedSignature
	hasher    *canonicalizer
	// wholeDocument is true for a Reference URI="": processing
	// instructions outside the root are digested too.
	wholeDocument bool

	// entityDepth is the depth of the open EntityDescriptor (0: none);
	// entityIsIdP says whether it has a live IdP role so far.
	entityDepth int
	entityIsIdP bool
	role        roleState

	attrs     resolvedAttrs // the open element's, from checkAttrs
	attrOrder []int32       // scratch of checkAttrs
	sorter    nameSorter    // scratch of checkAttrs

	cur      *entityCapture // entity being read, when it is a candidate
	found    *entityCapture
	matches  int
	idpNames []string
}

type validityFrame struct {
	validUntil    *time.Time
	cacheDuration string
	cacheDur      time.Duration
}

// roleState follows the open child element of an EntityDescriptor.
type roleState struct {
	depth int    // its depth; 0 when no child is open
	kind  string // ProtocolSAML, ProtocolWSFed, or "" (not an IdP role, or not yet known)
	// pending is set while a RoleDescriptor's xsi:type prefix waits for
	// the binding the element's content gives it (see stsType).
	pending    *typePrefix
	validUntil *time.Time
	expired    bool
	facts      *roleFacts // what the role says, for the candidate entity
}

// typePrefix is the prefix of a RoleDescriptor's xsi:type QName that the
// canonical form leaves unbound on the element itself.
type typePrefix struct {
	prefix   string
	src      string // its binding in the document as read
	srcBound bool
}

type roleFacts struct {
	sso       []Endpoint
	passive   []string
	certs     []string
	protocols string
}

func (d *docReader) run() error {
	sawRoot := false
	d.first = true
	for {
		tok, err := d.dec.RawToken()
		if err == io.EOF {
			if d.spill.unclaimed() {
				return tokenError(errSpillMismatch)
			}
			if !sawRoot {
				return errorf(KindNotXML, "no root element")
			}
			if len(d.open) > 0 {
				return errorf(KindNotXML, "document ends inside <%s>", qname(d.open[len(d.open)-1]))
			}
			return nil
		}
		if err != nil {
			return tokenError(err)
		}
		if el, ok := tok.(xml.StartElement); ok {
			d.starts++
			n, err := d.spill.claim(&el, d.starts)
			if err != nil {
				return tokenError(err)
			}
			d.diverted += int64(n)
			tok = el
		}
		d.tokens++
		if d.tokens&255 == 0 {
			if err := d.ctx.Err(); err != nil {
				return tokenError(err)
			}
		}
		first := d.first
		d.first = false
		if err := d.token(tok, first, &sawRoot); err != nil {
			return err
		}
		// Everything up to the end of the root signature is held until the
		// signature is checked.
		if d.phase != sigDone && d.dec.InputOffset()+d.diverted > int64(d.lim.MaxSignatureBytes) {
			return limitErr("MaxSignatureBytes", d.lim.MaxSignatureBytes)
		}
	}
}

// token handles one raw token.
func (d *docReader) token(tok xml.Token, first bool, sawRoot *bool) error {
	switch t := tok.(type) {
	case xml.StartElement:
		if d.rootDone {
			return errorf(KindNotXML, "content after the root element")
		}
		*sawRoot = true
		if err := d.startElement(t); err != nil {
			return err
		}
	case xml.EndElement:
		if err := d.endElement(t); err != nil {
			return err
		}
		d.rootDone = len(d.open) == 0
	case xml.Directive:
		// A DTD can define entities that make two parsers disagree
		// about the content; metadata never needs one.
		return errorf(KindNotXML, "DTD or directive not allowed")
	case xml.CharData:
		if len(d.open) == 0 {
			if len(bytes.TrimSpace(t)) > 0 {
				return errorf(KindNotXML, "text outside the root element")
			}
			return nil
		}
		if err := d.content(t); err != nil {
			return err
		}
	case xml.ProcInst:
		if err := checkPI(t, first); err != nil {
			return err
		}
		if t.Target == "xml" {
			return nil // the XML declaration is not part of any canonical form
		}
		if len(d.open) == 0 {
			if err := d.outsidePI(t); err != nil {
				return err
			}
			return nil
		}
		if err := d.content(t); err != nil {
			return err
		}
	case xml.Comment:
		if len(d.open) == 0 {
			return nil // never digested: a whole-document reference drops comments
		}
		if err := d.content(t); err != nil {
			return err
		}
	}
	return nil
}

func tokenError(err error) error {
	var le *LimitError
	switch {
	case errors.As(err, &le):
		return &Error{Kind: KindLimit, Err: le}
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindCanceled, Detail: "reading stopped", Err: err}
	}
	return &Error{Kind: KindNotXML, Err: err}
}

// hold counts a token kept in memory until the signature is known.
func (d *docReader) hold() error {
	d.held++
	if d.held > d.lim.MaxSignatureNodes {
		return limitErr("MaxSignatureNodes", d.lim.MaxSignatureNodes)
	}
	return nil
}

// outsidePI handles a processing instruction before or after the root.
func (d *docReader) outsidePI(p xml.ProcInst) error {
	if !d.rootDone {
		if err := d.hold(); err != nil {
			return err
		}
		d.prologPIs = append(d.prologPIs, p.Copy())
		return nil
	}
	if d.hasher != nil && d.wholeDocument {
		d.hasher.epilogPI(p)
	}
	return nil
}

// content handles character data, comments and processing instructions
// inside the root.
func (d *docReader) content(tok xml.Token) error {
	switch d.phase {
	case sigBeforeFirstChild:
		if err := d.hold(); err != nil {
			return err
		}
		d.pending = append(d.pending, xml.CopyToken(tok))
		return nil
	case sigCapturing:
		if err := d.hold(); err != nil {
			return err
		}
		d.sigTokens = append(d.sigTokens, xml.CopyToken(tok))
		return nil
	}
	if d.hasher != nil {
		d.hasher.token(tok)
	}
	if cd, ok := tok.(xml.CharData); ok && d.cur != nil {
		d.cur.text(cd)
	}
	return nil
}

func (d *docReader) startElement(t xml.StartElement) error {
	if len(d.open) >= d.lim.MaxDepth {
		return limitErr("MaxDepth", d.lim.MaxDepth)
	}
	if err := checkNames(t); err != nil {
		return err
	}
	d.scope.push(t.Attr)
	if len(d.scope.b) > d.lim.MaxNamespaces {
		return limitErr("MaxNamespaces", d.lim.MaxNamespaces)
	}
	d.open = append(d.open, t.Name)
	space, err := d.resolve(t.Name)
	if err != nil {
		return err
	}
	if err := d.checkAttrs(t); err != nil {
		return err
	}
	depth := len(d.open)
	name := xml.Name{Space: space, Local: t.Name.Local}

	if depth == 1 {
		if space != nsMD || (name.Local != "EntityDescriptor" && name.Local != "EntitiesDescriptor") {
			return errorf(KindNotMetadata, "root element is {%s}%s, not a SAML metadata EntityDescriptor or EntitiesDescriptor", clip(space), clip(name.Local))
		}
		d.doc.Root = name.Local
		d.rootStart = t.Copy()
	}

	if depth == 2 {
		isSig := space == nsDS && name.Local == "Signature"
		switch {
		case d.phase == sigBeforeFirstChild && isSig:
			d.phase = sigCapturing
		case d.phase == sigBeforeFirstChild:
			d.phase = sigDone
			d.pending, d.prologPIs = nil, nil // unsigned: nothing to hash
		case isSig:
			// The SAML metadata schema puts ds:Signature first; a second
			// or misplaced one is how wrapping attacks look.
			return errorf(KindSignature, "the root has a second or misplaced ds:Signature")
		}
	}
	if d.phase == sigCapturing {
		if err := d.hold(); err != nil {
			return err
		}
		d.sigTokens = append(d.sigTokens, t.Copy())
		return nil
	}
	if d.hasher != nil {
		d.hasher.startResolved(t, &d.attrs)
	}
	if d.role.pending != nil && depth > d.role.depth {
		if err := d.resolveTypePrefix(); err != nil {
			return err
		}
	}
	return d.extractStart(name, t, depth)
}

func (d *docReader) endElement(t xml.EndElement) error {
	n := len(d.open)
	if n == 0 || d.open[n-1] != t.Name {
		return errorf(KindNotXML, "unexpected end tag </%s>", qname(t.Name))
	}
	space, _ := d.resolve(t.Name)
	name := xml.Name{Space: space, Local: t.Name.Local}
	if d.phase == sigCapturing {
		if err := d.hold(); err != nil {
			return err
		}
		d.sigTokens = append(d.sigTokens, t)
		d.scope.pop()
		d.open = d.open[:n-1]
		if n == 2 {
			// The Signature's own declarations are out of scope now, as
			// they must be when the root start tag is canonicalised.
			d.phase = sigDone
			return d.signatureCaptured()
		}
		return nil
	}
	if n == 1 && d.phase == sigBeforeFirstChild {
		d.phase = sigDone // an empty root: unsigned
		d.pending, d.prologPIs = nil, nil
	}
	if err := d.extractEnd(name, n); err != nil {
		return err
	}
	if d.hasher != nil {
		d.hasher.end(t.Name)
	}
	d.scope.pop()
	d.open = d.open[:n-1]
	return nil
}

func (d *docReader) resolve(n xml.Name) (string, error) {
	uri, ok := d.scope.lookup(n.Space)
	if !ok {
		return "", errorf(KindNotXML, "undeclared namespace prefix %q", n.Space)
	}
	return uri, nil
}

// checkAttrs runs once the element's declarations are in scope. It
// refuses an element with the same attribute twice, whether written the
// same (parsers disagree about which one wins, which is what wrapping
// attacks feed on) or with two prefixes bound to one namespace (libxml2
// refuses that; the canonical order of such a pair is undefined), and an
// undeclared attribute prefix. It leaves what it resolved in d.attrs for
// the canonicaliser: each prefix is looked up once, and on an element
// with many attributes the one sort that finds repeats is also the
// canonical attribute order. Its cost is O(n log n) in the attributes.
func (d *docReader) checkAttrs(t xml.StartElement) error {
	ra := &d.attrs
	if i := ra.resolve(&d.scope, t.Attr); i >= 0 {
		return errorf(KindNotXML, "undeclared namespace prefix %q", t.Attr[i].Name.Space)
	}
	names := ra.names
	repeated := func(i int) error {
		return errorf(KindNotXML, "attribute %q repeated on <%s> (as {%s}%s)", clip(qname(t.Attr[i].Name)), clip(qname(t.Name)), clip(names[i].Space), clip(names[i].Local))
	}
	if len(names) <= 8 {
		for i := range names {
			for j := i + 1; j < len(names); j++ {
				if names[i] == names[j] {
					return repeated(j)
				}
			}
		}
		return nil
	}
	order := d.attrOrder[:0]
	for i := range names {
		order = append(order, int32(i))
	}
	d.sorter.sort(order, names) // repeats stay in document order
	d.attrOrder, ra.order = order, order
	for k := 1; k < len(order); k++ {
		if names[order[k-1]] == names[order[k]] {
			return repeated(int(order[k]))
		}
	}
	return nil
}

// checkNames refuses what Namespaces in XML 1.0 forbids and encoding/xml
// lets through, as libxml2 does: a name that is not a QName, the xmlns
// prefix on an element, a prefix undeclared with xmlns:p="" (XML 1.1 only:
// a canonicaliser drops it while a reader would take the prefix as having
// no namespace), and the xml and xmlns prefixes or namespace names bound
// to anything but each other.
func checkNames(t xml.StartElement) error {
	if err := checkQName(t.Name); err != nil {
		return err
	}
	if t.Name.Space == "xmlns" {
		return errorf(KindNotXML, "element <%s> uses the reserved prefix xmlns", qname(t.Name))
	}
	for _, a := range t.Attr {
		if err := checkQName(a.Name); err != nil {
			return err
		}
		p, isDecl := declaredPrefix(a.Name)
		if !isDecl {
			continue
		}
		bad := ""
		switch {
		case p == "xmlns":
			bad = "the xmlns prefix cannot be declared"
		case p == "xml" && a.Value != nsXML:
			bad = "the xml prefix can only be bound to " + nsXML
		case p != "xml" && a.Value == nsXML:
			bad = "only the xml prefix can be bound to " + nsXML
		case a.Value == nsXMLNS:
			bad = "no prefix can be bound to " + nsXMLNS
		case p != "" && a.Value == "":
			bad = "an empty namespace name for a prefix is XML 1.1, not XML 1.0"
		}
		if bad != "" {
			return errorf(KindNotXML, "namespace declaration %s=%q on <%s>: %s", clip(qname(a.Name)), clip(a.Value), clip(qname(t.Name)), bad)
		}
	}
	return nil
}

func checkQName(n xml.Name) error {
	if strings.Contains(n.Local, ":") {
		return errorf(KindNotXML, "%q is not a namespace-well-formed name", qname(n))
	}
	return nil
}

// checkPI refuses processing instructions Namespaces in XML and XML 1.0
// forbid and encoding/xml accepts: a target with a colon, and an XML
// declaration that is not the first thing in the document.
func checkPI(p xml.ProcInst, first bool) error {
	switch {
	case strings.Contains(p.Target, ":"):
		return errorf(KindNotXML, "processing instruction target %q contains a colon", p.Target)
	case p.Target == "xml" && !first:
		return errorf(KindNotXML, "XML declaration not at the start of the document")
	case p.Target != "xml" && strings.EqualFold(p.Target, "xml"):
		return errorf(KindNotXML, "processing instruction target %q is reserved", p.Target)
	case p.Target == "xml" && !xmlDeclPattern.Match(p.Inst):
		return errorf(KindNotXML, "malformed XML declaration")
	}
	return nil
}

// xmlDeclPattern is XML 1.0's XMLDecl after "<?xml" (production 23):
// version, then optional encoding and standalone, in that order.
// encoding/xml checks only the values it needs.
var xmlDeclPattern = regexp.MustCompile(`^version[ \t\r\n]*=[ \t\r\n]*("1\.[0-9]+"|'1\.[0-9]+')` +
	`([ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*("[A-Za-z][A-Za-z0-9._-]*"|'[A-Za-z][A-Za-z0-9._-]*'))?` +
	`([ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*("(yes|no)"|'(yes|no)'))?[ \t\r\n]*$`)

// entityCapture collects one EntityDescriptor while it streams by.
type entityCapture struct {
	entity Entity
	depth  int
	// Certificates are the raw base64 strings, decoded at the end only
	// for the entity that is kept (decoding every certificate of a
	// 10,000-entity aggregate would cost more than reading it).
	samlCerts, wsFedCerts []string
	samlProtocols         []string
	expiredRoles          int
	inKey                 bool // inside a signing KeyDescriptor
	textFor               string
	textBuf               []byte
	// passive is true inside fed:PassiveRequestorEndpoint.
	passive bool
}

func (e *entityCapture) text(cd xml.CharData) {
	if e.textFor != "" {
		e.textBuf = append(e.textBuf, cd...)
	}
}

func attr(t xml.StartElement, local string) (string, bool) {
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

func (d *docReader) extractStart(name xml.Name, t xml.StartElement, depth int) error {
	isMD := name.Space == nsMD
	if isMD && (name.Local == "EntitiesDescriptor" || name.Local == "EntityDescriptor") {
		if err := d.pushValidity(t); err != nil {
			return err
		}
	}
	if isMD && name.Local == "EntityDescriptor" {
		if d.entityDepth != 0 {
			return errorf(KindNotMetadata, "EntityDescriptor nested in an EntityDescriptor")
		}
		d.entityDepth, d.entityIsIdP = depth, false
		d.doc.EntityCount++
		id, _ := attr(t, "entityID")
		if id == "" {
			return errorf(KindNotMetadata, "EntityDescriptor without entityID")
		}
		if d.opts.EntityID == "" || id == d.opts.EntityID {
			d.cur = &entityCapture{entity: Entity{EntityID: id}, depth: depth}
		}
		return nil
	}
	if d.entityDepth != 0 && depth == d.entityDepth+1 {
		return d.roleStart(name, t, depth)
	}
	e, rf := d.cur, d.role.facts
	if e == nil || rf == nil {
		return nil
	}
	switch {
	case depth == d.role.depth+1 && isMD && name.Local == "KeyDescriptor":
		use, _ := attr(t, "use")
		e.inKey = use == "" || use == "signing"
	case e.inKey && name.Space == nsDS && name.Local == "X509Certificate":
		e.textFor, e.textBuf = "cert", e.textBuf[:0]
	case depth == d.role.depth+1 && d.role.kind == ProtocolSAML && isMD && name.Local == "SingleSignOnService":
		b, _ := attr(t, "Binding")
		l, _ := attr(t, "Location")
		rf.sso = append(rf.sso, Endpoint{Binding: b, Location: l})
	case depth == d.role.depth+1 && d.role.kind != ProtocolSAML && name.Space == nsFed && name.Local == "PassiveRequestorEndpoint":
		e.passive = true
	case e.passive && name.Space == nsWSA && name.Local == "Address":
		e.textFor, e.textBuf = "passive", e.textBuf[:0]
	}
	return nil
}

// roleStart opens a child element of an EntityDescriptor and works out
// whether it is an IdP role: IDPSSODescriptor, or a RoleDescriptor of
// xsi:type fed:SecurityTokenServiceType.
func (d *docReader) roleStart(name xml.Name, t xml.StartElement, depth int) error {
	d.role = roleState{depth: depth}
	if name.Space != nsMD {
		return nil
	}
	switch name.Local {
	case "IDPSSODescriptor":
		d.role.kind = ProtocolSAML
	case "RoleDescriptor":
		sts, pending, err := d.stsType(t)
		if err != nil {
			return err
		}
		if sts {
			d.role.kind = ProtocolWSFed
		}
		d.role.pending = pending
		if !sts && pending == nil {
			return nil
		}
	default:
		return nil
	}
	// SAML metadata §2.4.1: a role's validUntil means what it means on an
	// entity. An expired role contributes nothing (see doc.go).
	if v, ok := attr(t, "validUntil"); ok {
		tm, err := parseDateTime(v)
		if err != nil {
			return errorf(KindNotMetadata, "validUntil %q of <%s> is not an xs:dateTime", clip(v), clip(qname(t.Name)))
		}
		d.role.validUntil = &tm
		d.role.expired = !d.opts.Now.Before(tm)
	}
	if d.cur != nil {
		d.role.facts = &roleFacts{}
		if d.role.kind == ProtocolSAML {
			d.role.facts.protocols, _ = attr(t, "protocolSupportEnumeration")
		}
	}
	return nil
}

// stsType reports whether a RoleDescriptor's xsi:type is
// fed:SecurityTokenServiceType. The prefix inside the value is the one
// binding the reader relies on that Exclusive C14N does not render by
// itself, so when the signature is verified it is resolved as the
// canonical form resolves it, never from an unsigned declaration:
//
//   - where the canonical form binds the prefix on the element (inclusive
//     C14N, or a PrefixList naming it), that binding decides, and the
//     document's own must be the same;
//   - where it does not (Exclusive C14N without a PrefixList, as AD FS
//     and Entra sign), the decision waits (pending): the binding the
//     canonical form gives the prefix on the role's first descendant that
//     declares it decides, and again the document's must agree;
//   - where nothing in the role binds it either, the signed bytes say
//     only the local name, and the role is an STS role by that name; a
//     document that binds the prefix to another namespace is refused.
//
// Unverified, the document's binding decides; where the prefix is not
// bound on the element, the same two rules apply, so reading a canonical
// form gives the facts its verified source gives.
func (d *docReader) stsType(t xml.StartElement) (bool, *typePrefix, error) {
	for _, a := range t.Attr {
		if a.Name.Local != "type" || a.Name.Space == "" || a.Name.Space == "xmlns" {
			continue
		}
		if uri, _ := d.scope.lookup(a.Name.Space); uri != nsXSI {
			continue
		}
		prefix, local, ok := strings.Cut(strings.TrimSpace(a.Value), ":")
		if !ok {
			prefix, local = "", prefix
		}
		if local != "SecurityTokenServiceType" {
			return false, nil, nil // no binding of the prefix could make it one
		}
		src, slot, srcBound := d.scope.lookupSlot(prefix)
		if d.hasher != nil {
			can, canBound := d.hasher.rendered.lookupSlot(prefix, slot)
			if !canBound {
				return false, &typePrefix{prefix: prefix, src: src, srcBound: srcBound}, nil
			}
			if can != src {
				return false, nil, sigErr("the xsi:type prefix %q of <%s> is bound to %q, but the signed form binds it to %q", clip(prefix), clip(qname(t.Name)), clip(src), clip(can))
			}
			return can == nsFed, nil, nil
		}
		if srcBound {
			return src == nsFed, nil, nil
		}
		return false, &typePrefix{prefix: prefix}, nil
	}
	return false, nil, nil
}

// resolveTypePrefix looks for the pending xsi:type prefix among the
// declarations of the element just opened (rendered ones when verifying).
func (d *docReader) resolveTypePrefix() error {
	p := d.role.pending
	var uri string
	var ok bool
	if d.hasher != nil {
		uri, ok = d.hasher.rendered.declared(p.prefix)
	} else {
		uri, ok = d.scope.declared(p.prefix)
	}
	if !ok {
		return nil
	}
	if d.hasher != nil && p.srcBound && uri != p.src {
		return sigErr("the xsi:type prefix %q of a RoleDescriptor is bound to %q, but the signed content binds it to %q", clip(p.prefix), clip(p.src), clip(uri))
	}
	d.role.pending = nil
	if uri == nsFed {
		d.role.kind = ProtocolWSFed
	}
	return nil
}

// roleEnd closes an entity's child element and adds what a live IdP role
// said to the entity.
func (d *docReader) roleEnd() error {
	r := d.role
	d.role = roleState{}
	if p := r.pending; p != nil {
		// The signed form binds the prefix nowhere in the role: the
		// type is judged by its local name, which is signed. A document
		// whose own binding says it is another namespace's type is
		// refused rather than read either way.
		if d.hasher != nil && p.srcBound && p.src != nsFed {
			return sigErr("the signature does not fix the namespace of the xsi:type prefix %q of a RoleDescriptor (Exclusive C14N renders it nowhere in the role) and the document binds it to %q, not to WS-Federation's; sign with an InclusiveNamespaces PrefixList naming it", clip(p.prefix), clip(p.src))
		}
		r.kind = ProtocolWSFed
	}
	if r.kind == "" {
		return nil
	}
	e := d.cur
	label := map[string]string{ProtocolSAML: "IDPSSODescriptor", ProtocolWSFed: "WS-Fed SecurityTokenServiceType RoleDescriptor"}[r.kind]
	if r.expired {
		if e != nil {
			e.expiredRoles++
			e.entity.Problems = append(e.entity.Problems, fmt.Sprintf("%s expired at %s (its validUntil)", label, r.validUntil.UTC().Format(time.RFC3339)))
		}
		if !d.opts.survey {
			return nil // an expired role contributes nothing
		}
	}
	d.entityIsIdP = true
	rf := r.facts
	if e == nil || rf == nil {
		return nil
	}
	dst, certs := &e.entity.SAML, &e.samlCerts
	if r.kind == ProtocolWSFed {
		dst, certs = &e.entity.WSFed, &e.wsFedCerts
	}
	if *dst == nil {
		*dst = &Role{}
	}
	role := *dst
	role.SingleSignOnServices = append(role.SingleSignOnServices, rf.sso...)
	role.PassiveRequestorEndpoints = append(role.PassiveRequestorEndpoints, rf.passive...)
	*certs = append(*certs, rf.certs...)
	if r.kind == ProtocolSAML {
		e.samlProtocols = append(e.samlProtocols, rf.protocols)
	}
	if vu := r.validUntil; vu != nil && (role.ValidUntil == nil || vu.Before(*role.ValidUntil)) {
		role.ValidUntil = vu
	}
	return nil
}

func (d *docReader) extractEnd(name xml.Name, depth int) error {
	if e, rf := d.cur, d.role.facts; e != nil && rf != nil {
		switch {
		case e.textFor == "cert" && name.Space == nsDS && name.Local == "X509Certificate":
			rf.certs = append(rf.certs, string(e.textBuf))
			e.textFor = ""
		case e.textFor == "passive" && name.Space == nsWSA && name.Local == "Address":
			if addr := strings.TrimSpace(string(e.textBuf)); addr != "" {
				rf.passive = append(rf.passive, addr)
			}
			e.textFor = ""
		case depth == d.role.depth+1 && name.Space == nsMD && name.Local == "KeyDescriptor":
			e.inKey = false
		case depth == d.role.depth+1 && name.Space == nsFed && name.Local == "PassiveRequestorEndpoint":
			e.passive = false
		}
	}
	if d.role.depth != 0 && depth == d.role.depth {
		if err := d.roleEnd(); err != nil {
			return err
		}
	}
	if d.entityDepth != 0 && depth == d.entityDepth {
		if d.cur != nil {
			d.entityDone()
		}
		if d.entityIsIdP {
			d.doc.IdPCount++
		}
		d.entityDepth = 0
	}
	if name.Space == nsMD && (name.Local == "EntitiesDescriptor" || name.Local == "EntityDescriptor") {
		d.validity = d.validity[:len(d.validity)-1]
	}
	return nil
}

// entityDone is called at the end of a candidate EntityDescriptor, while its
// validity frame is still on the stack.
func (d *docReader) entityDone() {
	e := d.cur
	d.cur = nil
	f := d.validity[len(d.validity)-1]
	e.entity.ValidUntil, e.entity.CacheDuration = f.validUntil, f.cacheDuration
	if d.opts.EntityID != "" {
		d.matches++
		if d.found == nil {
			d.found = e
		}
		return
	}
	// An entity whose IdP roles have all expired is still the IdP the
	// document describes: it is chosen, then refused as expired.
	if !e.entity.IsIdP() && e.expiredRoles == 0 {
		return
	}
	d.idpNames = append(d.idpNames, e.entity.EntityID)
	if d.found == nil {
		d.found = e
	}
}

// pushValidity opens the validity frame of an Entities/EntityDescriptor.
func (d *docReader) pushValidity(t xml.StartElement) error {
	var f validityFrame
	if v, ok := attr(t, "validUntil"); ok {
		tm, err := parseDateTime(v)
		if err != nil {
			return errorf(KindNotMetadata, "validUntil %q is not an xs:dateTime", clip(v))
		}
		f.validUntil = &tm
	}
	if v, ok := attr(t, "cacheDuration"); ok {
		if dur, err := parseISODuration(v); err == nil {
			f.cacheDuration, f.cacheDur = v, dur
		}
	}
	// Fold in the enclosing frame (outer wins a tie), so an entity's
	// validity is one look, however deep the groups nest.
	if n := len(d.validity); n > 0 {
		p := d.validity[n-1]
		if p.validUntil != nil && (f.validUntil == nil || !f.validUntil.Before(*p.validUntil)) {
			f.validUntil = p.validUntil
		}
		if p.cacheDuration != "" && (f.cacheDuration == "" || p.cacheDur <= f.cacheDur) {
			f.cacheDuration, f.cacheDur = p.cacheDuration, p.cacheDur
		}
	}
	d.validity = append(d.validity, f)
	return nil
}

// finish applies the checks that need the whole document: signature digest,
// entity choice and validity.
func (d *docReader) finish() error {
	if err := d.finishSignature(); err != nil {
		return err
	}
	if d.found == nil {
		if d.opts.EntityID != "" {
			return errorf(KindEntityNotFound, "no EntityDescriptor with entityID %q", d.opts.EntityID)
		}
		return errorf(KindEntityNotFound, "the document has no IdP entity (IDPSSODescriptor or WS-Fed STS role)")
	}
	if d.matches > 1 {
		return errorf(KindAmbiguousEntity, "entityID %q appears %d times", d.opts.EntityID, d.matches)
	}
	if d.opts.EntityID == "" && len(d.idpNames) > 1 {
		return errorf(KindAmbiguousEntity, "the document has %d IdP entities; name one (for example %q)", len(d.idpNames), d.idpNames[0])
	}
	d.doc.Entity = d.found.decode()
	if d.opts.survey {
		return nil
	}
	if vu := d.doc.Entity.ValidUntil; vu != nil && !d.opts.Now.Before(*vu) {
		return errorf(KindExpired, "validUntil %s has passed", vu.UTC().Format(time.RFC3339))
	}
	if !d.doc.Entity.IsIdP() && d.found.expiredRoles > 0 {
		return errorf(KindExpired, "every IdP role of %s has expired: %s", d.doc.Entity.EntityID, strings.Join(d.doc.Entity.Problems, "; "))
	}
	return nil
}

// maxProblems bounds Entity.Problems: a hostile entity can hold a
// million broken certificates, and a report needs a handful.
const maxProblems = 20

// decode turns the captured base64 strings into certificates.
func (e *entityCapture) decode() Entity {
	ent := e.entity
	ent.Problems = slices.Clone(ent.Problems)
	skipped := 0
	problem := func(msg string) {
		if len(ent.Problems) < maxProblems {
			ent.Problems = append(ent.Problems, msg)
		} else {
			skipped++
		}
	}
	roles := []struct {
		role  *Role
		certs []string
	}{{ent.SAML, e.samlCerts}, {ent.WSFed, e.wsFedCerts}}
	for i, r := range roles {
		if r.role == nil {
			continue
		}
		role := *r.role // a copy: decode may run twice on one capture
		role.SigningCertificates = []SigningCertificate{}
		if i == 0 {
			role.Protocols = strings.TrimSpace(strings.Join(e.samlProtocols, " "))
		}
		seen := map[string]bool{}
		for _, b64 := range r.certs {
			der, err := inventory.DecodeBase64DER(b64)
			if err != nil {
				problem("signing certificate skipped: " + err.Error())
				continue
			}
			c, err := inventory.CertificateFromDER(der)
			if err != nil {
				problem("signing certificate skipped: " + err.Error())
				continue
			}
			sc := SigningCertificate{Certificate: c, Base64: base64Std(der)}
			if !seen[sc.SHA256] {
				seen[sc.SHA256] = true
				role.SigningCertificates = append(role.SigningCertificates, sc)
			}
		}
		if i == 0 {
			ent.SAML = &role
		} else {
			ent.WSFed = &role
		}
	}
	if skipped > 0 {
		ent.Problems = append(ent.Problems, fmt.Sprintf("and %d more problems", skipped))
	}
	return ent
}

// parseDateTime reads an xs:dateTime; one without a zone is taken as UTC.
func parseDateTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("2006-01-02T15:04:05.999999999", s)
	return t.UTC(), err
}

// parseISODuration reads an xs:duration such as PT6H or
// P0Y0M30DT0H0M0.000S. Years and months count as 365 and 30 days: a cache
// duration needs no calendar.
//
// A hostile value can be megabytes of digits, so nothing here copies it:
// the error is made only on failure and quotes the value clipped, and
// strconv.ParseFloat, whose errors clone their input, only sees numbers it
// can parse.
func parseISODuration(s string) (time.Duration, error) {
	bad := func() error { return fmt.Errorf("not an ISO 8601 duration: %q", clip(s)) }
	rest, neg := strings.CutPrefix(strings.TrimSpace(s), "-")
	rest, ok := strings.CutPrefix(rest, "P")
	if !ok || rest == "" {
		return 0, bad()
	}
	var total float64
	inTime, components := false, 0
	// num is the start of the number being read (-1: none); the number is
	// sliced, not built a byte at a time, so a long one costs its length.
	num := -1
	for i := 0; i < len(rest); i++ {
		ch := rest[i]
		switch {
		case ch == 'T' && !inTime && num < 0:
			inTime = true
		case (ch >= '0' && ch <= '9') || ch == '.':
			if num < 0 {
				num = i
			}
		default:
			mult := durationUnit(inTime, ch)
			if mult == 0 || num < 0 {
				return 0, bad()
			}
			v, ok := parseDecimal(rest[num:i])
			if !ok {
				return 0, bad()
			}
			total += v * mult
			num = -1
			components++
		}
	}
	if num >= 0 || components == 0 || strings.HasSuffix(rest, "T") {
		return 0, bad()
	}
	if total > float64(1<<62)/1e9 {
		return 0, errors.New("duration too long")
	}
	d := time.Duration(total * float64(time.Second))
	if neg {
		d = -d
	}
	return d, nil
}

// parseDecimal reads digits with at most one decimal point. A number with
// more than 18 significant digits before the point is +Inf: as a duration
// it is too long whatever its unit.
func parseDecimal(s string) (float64, bool) {
	intPart, frac, dot := strings.Cut(s, ".")
	if (dot && strings.Contains(frac, ".")) || intPart == "" && frac == "" {
		return 0, false
	}
	if len(strings.TrimLeft(intPart, "0")) > 18 {
		return math.Inf(1), true
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// clip shortens a document's string for an error message: a value can be
// megabytes long, and Error.Detail holds names and short identifiers.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("…(%d bytes)", len(s))
}

// durationUnit is the number of seconds of an xs:duration designator; 0 for
// none.
func durationUnit(inTime bool, ch byte) float64 {
	if inTime {
		switch ch {
		case 'H':
			return 3600
		case 'M':
			return 60
		case 'S':
			return 1
		}
		return 0
	}
	switch ch {
	case 'Y':
		return 365 * 24 * 3600
	case 'M':
		return 30 * 24 * 3600
	case 'W':
		return 7 * 24 * 3600
	case 'D':
		return 24 * 3600
	}
	return 0
}
