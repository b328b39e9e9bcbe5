package metadata

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCanonicalisationVectors runs the canonicaliser over the examples of
// the W3C recommendations, with the expected outputs produced by libxml2
// (testdata/c14n/generate.py: xmllint for the whole document with
// comments, xmlsec1's pre-digest bytes for a Reference URI="" and "#e2").
//
// Inputs (testdata/c14n):
//   - 3.1, 3.2, 3.3, 3.4, 3.6: Canonical XML 1.0 (W3C Recommendation
//     15 March 2001, https://www.w3.org/TR/2001/REC-xml-c14n-20010315),
//     section 3 "Examples of XML Canonicalization", 3.1 to 3.4 and 3.6,
//     without their DOCTYPEs (this package refuses DTDs, so 3.3's default
//     attribute and 3.4's ID/NMTOKENS normalisation do not apply) and with
//     3.6 in UTF-8 (this package reads only UTF-8). 3.4 adds literal tabs,
//     newlines and CRs in an attribute value. 3.5 (entity references) and
//     3.7 (XPath subsets) need a DTD or XPath and are not covered.
//   - exc-2.2-a/-b: Exclusive XML Canonicalization 1.0 (W3C
//     Recommendation 18 July 2002,
//     https://www.w3.org/TR/2002/REC-xml-exc-c14n-20020718), section 2.2,
//     as whole documents, and as subtree-exc-2.2-a/-b: the n1:elem2 subtree
//     whose ancestors' namespaces and xml:* attributes inclusive C14N
//     inherits and exclusive C14N does not (an Id attribute added so
//     xmlsec1 can reference it).
//
// Modes: C14N 1.0, Exclusive C14N 1.0 (also with the PrefixList
// "n1 n3 #default xsi"), C14N 1.1, each with and without comments.
func TestCanonicalisationVectors(t *testing.T) {
	modes := map[string]c14nMode{
		"c14n":            {},
		"c14n-comments":   {comments: true},
		"exc":             {exclusive: true},
		"exc-comments":    {exclusive: true, comments: true},
		"c14n11":          {c14n11: true},
		"c14n11-comments": {c14n11: true, comments: true},
	}
	pl := c14nMode{exclusive: true}
	pl.setPrefixList("n1 n3 #default xsi")
	modes["exc-prefixlist"] = pl

	inputs, _ := filepath.Glob("testdata/c14n/*.xml")
	if len(inputs) < 9 {
		t.Fatalf("%d vector inputs, want 9", len(inputs))
	}
	checked := 0
	for _, in := range inputs {
		doc, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(in), ".xml")
		for mode, m := range modes {
			want, err := os.ReadFile(filepath.Join("testdata/c14n", name+"."+mode+".out"))
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			if strings.HasPrefix(name, "subtree-") {
				got = canonicalSubtree(t, doc, m, "e2")
			} else {
				got, err = canonicalDocument(doc, m, canonOpts{wholeDocument: true, outsideComments: true})
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s, %s:\n got %q\nwant %q", name, mode, got, want)
			}
			checked++
		}
	}
	if checked != 57 {
		t.Fatalf("only %d vectors checked", checked)
	}
}

// canonicalSubtree canonicalises the element with Id=id, with its
// ancestors' namespaces in scope and their xml:* attributes inherited, as
// SignedInfo is canonicalised inside ds:Signature.
func canonicalSubtree(t *testing.T, doc []byte, mode c14nMode, id string) []byte {
	var out bytes.Buffer
	var scope nsScope
	var ancestors [][]xml.Attr
	var c *canonicalizer
	dec := xml.NewDecoder(newLexFilter(t.Context(), bytes.NewReader(doc), DefaultLimits))
	depth, apexDepth := 0, 0
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			tk = tk.Copy()
			scope.push(tk.Attr)
			depth++
			if v, _ := attr(tk, "Id"); c == nil && v == id {
				c = newCanonicalizer(&out, mode, &scope)
				c.xmlAttrs = inheritedXMLAttrs(ancestors...)
				apexDepth = depth
			}
			ancestors = append(ancestors, tk.Attr)
			if c != nil && apexDepth > 0 {
				c.start(tk)
			}
		case xml.EndElement:
			if c != nil && apexDepth > 0 {
				c.end(tk.Name)
				if depth == apexDepth {
					apexDepth = 0
				}
			}
			scope.pop()
			ancestors = ancestors[:len(ancestors)-1]
			depth--
		default:
			if c != nil && apexDepth > 0 {
				c.token(tk)
			}
		}
	}
	if c == nil {
		t.Fatalf("no element with Id %q", id)
	}
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
