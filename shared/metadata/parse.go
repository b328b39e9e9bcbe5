package metadata

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

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
func ReadBytes(doc []byte, opts ReadOptions) (*Document, error) {
	return Read(bytes.NewReader(doc), opts)
}

// Read reads a SAML metadata document (EntityDescriptor or a nested
// EntitiesDescriptor aggregate) in one streaming pass: it finds the entity,
// records the validUntil/cacheDuration of everything enclosing it and, with
// opts.Trust, canonicalises and hashes the root for its enveloped signature
// as the tokens go by. No DOM is built, so a 50 MB aggregate costs little
// more than the decoder's buffers.
//
// Errors are *Error: not-xml, not-metadata, signature, unsigned, expired,
// entity-not-found or ambiguous-entity. A signature failure wins over the
// others, because nothing read from a document that fails its signature can
// be trusted, not even "the entity is missing".
func Read(r io.Reader, opts ReadOptions) (*Document, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if err := opts.Trust.check(); err != nil {
		return nil, err
	}
	h := sha256.New()
	counter := &countingWriter{w: h}
	br := bufio.NewReaderSize(io.TeeReader(r, counter), 64<<10)
	// encoding/xml does not skip a UTF-8 byte order mark; AD FS and Entra
	// documents start with one.
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
		br.Discard(3)
	}
	d := &docReader{opts: opts, dec: xml.NewDecoder(br)}
	d.dec.Strict = true
	// run reads to EOF, so on success the hash covers every byte.
	if err := d.run(); err != nil {
		return nil, err
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	doc := &d.doc
	doc.SHA256 = hex.EncodeToString(h.Sum(nil))
	doc.Size = counter.n
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
	sigBeforeFirstChild sigPhase = iota // root opened, no child element yet
	sigCapturing                        // inside the root's ds:Signature
	sigDone                             // past the place a root signature may be
)

type docReader struct {
	opts  ReadOptions
	dec   *xml.Decoder
	doc   Document
	scope nsScope
	open  []xml.Name // raw names of open elements, to match end tags
	// validity has one frame per open Entities/EntityDescriptor.
	validity []validityFrame

	phase     sigPhase
	rootStart xml.StartElement
	pending   []xml.Token // root's non-element content before its first child
	sigTokens []xml.Token
	sig       *parsedSignature
	hasher    *canonicalizer

	// entityDepth is the depth of the open EntityDescriptor (0: none);
	// entityIsIdP says whether it has an IdP role so far.
	entityDepth int
	entityIsIdP bool

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

func (d *docReader) run() error {
	sawRoot := false
	for {
		tok, err := d.dec.RawToken()
		if err == io.EOF {
			if !sawRoot {
				return errorf(KindNotXML, "no root element")
			}
			if len(d.open) > 0 {
				return errorf(KindNotXML, "document ends inside <%s>", qname(d.open[len(d.open)-1]))
			}
			return nil
		}
		if err != nil {
			return &Error{Kind: KindNotXML, Err: err}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(d.open) == 0 && sawRoot {
				return errorf(KindNotXML, "content after the root element")
			}
			sawRoot = true
			if err := d.startElement(t); err != nil {
				return err
			}
		case xml.EndElement:
			if err := d.endElement(t); err != nil {
				return err
			}
		case xml.Directive:
			// A DTD can define entities that make two parsers disagree
			// about the content; metadata never needs one.
			return errorf(KindNotXML, "DTD or directive not allowed")
		case xml.CharData:
			if len(d.open) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return errorf(KindNotXML, "text outside the root element")
				}
				continue
			}
			d.content(t)
		case xml.Comment, xml.ProcInst:
			if len(d.open) == 0 {
				continue
			}
			d.content(t)
		}
	}
}

// content handles character data, comments and processing instructions
// inside the root.
func (d *docReader) content(tok xml.Token) {
	switch d.phase {
	case sigBeforeFirstChild:
		d.pending = append(d.pending, xml.CopyToken(tok))
		return
	case sigCapturing:
		d.sigTokens = append(d.sigTokens, xml.CopyToken(tok))
		return
	}
	if d.hasher != nil {
		d.hasher.token(tok)
	}
	if cd, ok := tok.(xml.CharData); ok && d.cur != nil {
		d.cur.text(cd)
	}
}

func (d *docReader) startElement(t xml.StartElement) error {
	if err := checkAttrs(t); err != nil {
		return err
	}
	d.scope.push(t.Attr)
	d.open = append(d.open, t.Name)
	space, err := d.resolve(t.Name)
	if err != nil {
		return err
	}
	for _, a := range t.Attr {
		if _, isDecl := declaredPrefix(a.Name); !isDecl && a.Name.Space != "" {
			if _, ok := d.scope.lookup(a.Name.Space); !ok {
				return errorf(KindNotXML, "undeclared namespace prefix %q", a.Name.Space)
			}
		}
	}
	depth := len(d.open)
	name := xml.Name{Space: space, Local: t.Name.Local}

	if depth == 1 {
		if space != nsMD || (name.Local != "EntityDescriptor" && name.Local != "EntitiesDescriptor") {
			return errorf(KindNotMetadata, "root element is {%s}%s, not a SAML metadata EntityDescriptor or EntitiesDescriptor", space, name.Local)
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
			d.pending = nil // unsigned: nothing to hash
		case isSig:
			// The SAML metadata schema puts ds:Signature first; a second
			// or misplaced one is how wrapping attacks look.
			return errorf(KindSignature, "the root has a second or misplaced ds:Signature")
		}
	}
	if d.phase == sigCapturing {
		d.sigTokens = append(d.sigTokens, t.Copy())
		return nil
	}
	if d.hasher != nil {
		d.hasher.start(t)
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
	}
	d.extractEnd(name, n)
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

// checkAttrs refuses an element with the same attribute twice: parsers
// disagree about which one wins, which is what wrapping attacks feed on.
func checkAttrs(t xml.StartElement) error {
	repeated := func(n xml.Name) error {
		return errorf(KindNotXML, "attribute %q repeated on <%s>", qname(n), qname(t.Name))
	}
	if len(t.Attr) > 16 { // a map, so a hostile element cannot cost n²
		seen := make(map[xml.Name]bool, len(t.Attr))
		for _, a := range t.Attr {
			if seen[a.Name] {
				return repeated(a.Name)
			}
			seen[a.Name] = true
		}
		return nil
	}
	for i := range t.Attr {
		for j := i + 1; j < len(t.Attr); j++ {
			if t.Attr[i].Name == t.Attr[j].Name {
				return repeated(t.Attr[i].Name)
			}
		}
	}
	return nil
}

// entityCapture collects one EntityDescriptor while it streams by.
type entityCapture struct {
	entity   Entity
	depth    int
	role     *Role
	roleKind string // "saml" or "wsFed"
	// certs are the raw base64 strings, decoded at the end only for the
	// entity that is kept (decoding every certificate of a 10,000-entity
	// aggregate would cost more than reading it).
	certs   map[*Role][]string
	inKey   bool // inside a signing KeyDescriptor
	textFor string
	textBuf []byte
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
	if name.Space == nsMD && (name.Local == "EntitiesDescriptor" || name.Local == "EntityDescriptor") {
		f, err := readValidity(t)
		if err != nil {
			return err
		}
		d.validity = append(d.validity, f)
	}
	if name.Space == nsMD && name.Local == "EntityDescriptor" {
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
			d.cur = &entityCapture{entity: Entity{EntityID: id}, depth: depth, certs: map[*Role][]string{}}
		}
		return nil
	}
	if depth == d.entityDepth+1 && name.Space == nsMD &&
		(name.Local == "IDPSSODescriptor" || name.Local == "RoleDescriptor" && d.isSTSType(t)) {
		d.entityIsIdP = true
	}
	e := d.cur
	if e == nil {
		return nil
	}
	switch {
	case depth == e.depth+1 && name.Space == nsMD && name.Local == "IDPSSODescriptor":
		if e.entity.SAML == nil {
			e.entity.SAML = &Role{}
		}
		e.role, e.roleKind = e.entity.SAML, ProtocolSAML
		if p, ok := attr(t, "protocolSupportEnumeration"); ok {
			e.role.Protocols = strings.TrimSpace(strings.Join([]string{e.role.Protocols, p}, " "))
		}
	case depth == e.depth+1 && name.Space == nsMD && name.Local == "RoleDescriptor" && d.isSTSType(t):
		if e.entity.WSFed == nil {
			e.entity.WSFed = &Role{}
		}
		e.role, e.roleKind = e.entity.WSFed, ProtocolWSFed
	case e.role == nil:
	case depth == e.depth+2 && name.Space == nsMD && name.Local == "KeyDescriptor":
		use, _ := attr(t, "use")
		e.inKey = use == "" || use == "signing"
	case e.inKey && name.Space == nsDS && name.Local == "X509Certificate":
		e.textFor, e.textBuf = "cert", e.textBuf[:0]
	case depth == e.depth+2 && e.roleKind == ProtocolSAML && name.Space == nsMD && name.Local == "SingleSignOnService":
		b, _ := attr(t, "Binding")
		l, _ := attr(t, "Location")
		e.role.SingleSignOnServices = append(e.role.SingleSignOnServices, Endpoint{Binding: b, Location: l})
	case depth == e.depth+2 && e.roleKind == ProtocolWSFed && name.Space == nsFed && name.Local == "PassiveRequestorEndpoint":
		e.passive = true
	case e.passive && name.Space == nsWSA && name.Local == "Address":
		e.textFor, e.textBuf = "passive", e.textBuf[:0]
	}
	return nil
}

// isSTSType reports whether a RoleDescriptor's xsi:type is
// fed:SecurityTokenServiceType, resolving the prefix in the value.
func (d *docReader) isSTSType(t xml.StartElement) bool {
	for _, a := range t.Attr {
		if a.Name.Local != "type" || a.Name.Space == "" {
			continue
		}
		if uri, _ := d.scope.lookup(a.Name.Space); uri != nsXSI {
			continue
		}
		prefix, local, ok := strings.Cut(strings.TrimSpace(a.Value), ":")
		if !ok {
			prefix, local = "", prefix
		}
		uri, _ := d.scope.lookup(prefix)
		return uri == nsFed && local == "SecurityTokenServiceType"
	}
	return false
}

func (d *docReader) extractEnd(name xml.Name, depth int) {
	if name.Space == nsMD && (name.Local == "EntitiesDescriptor" || name.Local == "EntityDescriptor") {
		defer func() { d.validity = d.validity[:len(d.validity)-1] }()
	}
	if depth == d.entityDepth {
		if d.entityIsIdP {
			d.doc.IdPCount++
		}
		d.entityDepth = 0
	}
	e := d.cur
	if e == nil {
		return
	}
	switch {
	case depth == e.depth:
		d.entityDone()
	case e.textFor == "cert" && name.Space == nsDS && name.Local == "X509Certificate":
		e.certs[e.role] = append(e.certs[e.role], string(e.textBuf))
		e.textFor = ""
	case e.textFor == "passive" && name.Space == nsWSA && name.Local == "Address":
		if addr := strings.TrimSpace(string(e.textBuf)); addr != "" {
			e.role.PassiveRequestorEndpoints = append(e.role.PassiveRequestorEndpoints, addr)
		}
		e.textFor = ""
	case depth == e.depth+2 && name.Space == nsMD && name.Local == "KeyDescriptor":
		e.inKey = false
	case depth == e.depth+2 && name.Space == nsFed && name.Local == "PassiveRequestorEndpoint":
		e.passive = false
	case depth == e.depth+1 && e.role != nil:
		e.role, e.roleKind = nil, ""
	}
}

// entityDone is called at the end of a candidate EntityDescriptor, while its
// validity frame is still on the stack.
func (d *docReader) entityDone() {
	e := d.cur
	d.cur = nil
	var vu *time.Time
	cd, cdRaw := time.Duration(0), ""
	for _, f := range d.validity {
		if f.validUntil != nil && (vu == nil || f.validUntil.Before(*vu)) {
			vu = f.validUntil
		}
		if f.cacheDuration != "" && (cdRaw == "" || f.cacheDur < cd) {
			cd, cdRaw = f.cacheDur, f.cacheDuration
		}
	}
	e.entity.ValidUntil, e.entity.CacheDuration = vu, cdRaw
	if d.opts.EntityID != "" {
		d.matches++
		if d.found == nil {
			d.found = e
		}
		return
	}
	if !e.entity.IsIdP() {
		return
	}
	d.idpNames = append(d.idpNames, e.entity.EntityID)
	if d.found == nil {
		d.found = e
	}
}

func readValidity(t xml.StartElement) (validityFrame, error) {
	var f validityFrame
	if v, ok := attr(t, "validUntil"); ok {
		tm, err := parseDateTime(v)
		if err != nil {
			return f, errorf(KindNotMetadata, "validUntil %q is not an xs:dateTime", v)
		}
		f.validUntil = &tm
	}
	if v, ok := attr(t, "cacheDuration"); ok {
		if dur, err := parseISODuration(v); err == nil {
			f.cacheDuration, f.cacheDur = v, dur
		}
	}
	return f, nil
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
	if vu := d.doc.Entity.ValidUntil; vu != nil && !d.opts.Now.Before(*vu) {
		return errorf(KindExpired, "validUntil %s has passed", vu.UTC().Format(time.RFC3339))
	}
	return nil
}

// decode turns the captured base64 strings into certificates.
func (e *entityCapture) decode() Entity {
	ent := e.entity
	for _, role := range []*Role{ent.SAML, ent.WSFed} {
		if role == nil {
			continue
		}
		seen := map[string]bool{}
		for _, b64 := range e.certs[role] {
			der, err := inventory.DecodeBase64DER(b64)
			if err != nil {
				ent.Problems = append(ent.Problems, "signing certificate skipped: "+err.Error())
				continue
			}
			c, err := inventory.CertificateFromDER(der)
			if err != nil {
				ent.Problems = append(ent.Problems, "signing certificate skipped: "+err.Error())
				continue
			}
			sc := SigningCertificate{Certificate: c, Base64: base64Std(der)}
			if !seen[sc.SHA256] {
				seen[sc.SHA256] = true
				role.SigningCertificates = append(role.SigningCertificates, sc)
			}
		}
		if role.SigningCertificates == nil {
			role.SigningCertificates = []SigningCertificate{}
		}
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
func parseISODuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("not an ISO 8601 duration: %q", s)
	rest, neg := strings.CutPrefix(strings.TrimSpace(s), "-")
	rest, ok := strings.CutPrefix(rest, "P")
	if !ok || rest == "" {
		return 0, bad
	}
	var total float64
	inTime, components := false, 0
	units := map[bool]map[byte]float64{
		false: {'Y': 365 * 24 * 3600, 'M': 30 * 24 * 3600, 'W': 7 * 24 * 3600, 'D': 24 * 3600},
		true:  {'H': 3600, 'M': 60, 'S': 1},
	}
	num := ""
	for i := 0; i < len(rest); i++ {
		ch := rest[i]
		switch {
		case ch == 'T' && !inTime && num == "":
			inTime = true
		case (ch >= '0' && ch <= '9') || ch == '.':
			num += string(ch)
		default:
			mult, ok := units[inTime][ch]
			if !ok || num == "" {
				return 0, bad
			}
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, bad
			}
			total += v * mult
			num = ""
			components++
		}
	}
	if num != "" || components == 0 || strings.HasSuffix(rest, "T") {
		return 0, bad
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
