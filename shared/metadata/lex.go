package metadata

import (
	"bytes"
	"context"
	"errors"
	"io"
)

// lexFilter sits between the document's bytes and encoding/xml. It follows
// XML's lexical states (text, start tag, attribute value, end tag, comment,
// processing instruction, CDATA section) to do what encoding/xml cannot:
//
//   - Attribute-value normalisation (XML 1.0 §3.3.3): a literal tab,
//     newline or carriage return (CR LF counting as one) in an attribute
//     value becomes a space. encoding/xml hands a literal newline and a
//     &#10; reference back as the same byte, after which the canonical form
//     (&#xA;) would differ from every other XML processor's; with the
//     filter a literal one reaches it as a space and only the reference
//     stays a newline, as in libxml2.
//   - Limits before encoding/xml buffers a token: MaxTokenBytes and
//     MaxAttributes.
//   - The context, checked on every read.
//   - With spillLongValues, attribute values longer than spillAt never
//     reach encoding/xml whole (see spill.go): it would buffer a value of
//     MaxTokenBytes in a buffer that doubles, then copy it.
//
// On a document that is not well-formed the filter may track the wrong
// state; encoding/xml refuses such a document anyway. After "<!" that opens
// neither a comment nor a CDATA section (a DTD, which Read refuses) it stops
// transforming and only counts bytes.
type lexFilter struct {
	r   io.Reader
	ctx context.Context
	lim Limits

	state    lexState
	quote    byte    // the quote that closes the attribute value
	bangCDAT bool    // after "<![": matching "[CDATA["
	match    int     // bytes of "--" or "[CDATA[" matched after "<!"
	tail     [2]byte // the last two bytes of a comment, PI or CDATA section
	skipLF   bool    // a CR in an attribute value was just turned into a space
	piTarget bool    // reading a processing instruction's target
	tokBytes int     // bytes of the current token
	attrs    int     // attribute values in the current tag
	err      error

	spill *spiller // nil: values pass whole
}

type lexState uint8

const (
	lxText lexState = iota
	lxLT            // after '<'
	lxBang          // after "<!"
	lxComment
	lxPI
	lxCDATA
	lxEndTag
	lxTag
	lxAttrValue
	lxOff // after a DTD: bytes pass unchanged
)

const cdataOpen = "[CDATA["

func newLexFilter(ctx context.Context, r io.Reader, lim Limits) *lexFilter {
	return &lexFilter{r: r, ctx: ctx, lim: lim}
}

func (f *lexFilter) Read(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	for {
		if err := f.ctx.Err(); err != nil {
			f.err = err
			return 0, err
		}
		n, err := f.r.Read(p)
		m, ferr := f.filter(p[:n])
		if f.spill != nil {
			f.spill.in += int64(n)
		}
		if ferr != nil {
			f.err = ferr
			return 0, ferr
		}
		if m > 0 || err != nil {
			return m, err
		}
	}
}

// filter rewrites b in place and returns its new length (a CR LF pair in
// an attribute value shrinks to one space).
func (f *lexFilter) filter(b []byte) (int, error) {
	w, i := 0, 0
	// keep moves b[i:j] to the output.
	keep := func(j int) {
		if w != i {
			copy(b[w:], b[i:j])
		}
		w += j - i
		f.tokBytes += j - i
		i = j
	}
	for i < len(b) {
		switch f.state {
		case lxText:
			j := bytes.IndexByte(b[i:], '<')
			if j < 0 {
				keep(len(b))
				break
			}
			keep(i + j)
			if err := f.checkToken(); err != nil {
				return w, err
			}
			f.tokBytes = 0
			keep(i + 1)
			f.state = lxLT
		case lxLT:
			switch b[i] {
			case '!':
				f.state, f.match = lxBang, 0
			case '?':
				f.state, f.tail, f.piTarget = lxPI, [2]byte{}, true
			case '/':
				f.state = lxEndTag
			default:
				f.state, f.attrs = lxTag, 0
				if f.spill != nil {
					f.spill.tags++
				}
			}
			keep(i + 1)
		case lxBang:
			c := b[i]
			if f.match == 0 {
				f.bangCDAT = c == '['
			}
			switch {
			case f.bangCDAT && c == cdataOpen[f.match]:
				f.match++
				if f.match == len(cdataOpen) {
					f.state, f.tail = lxCDATA, [2]byte{}
				}
			case !f.bangCDAT && c == '-':
				f.match++
				if f.match == 2 {
					f.state, f.tail = lxComment, [2]byte{}
				}
			default:
				f.state = lxOff
			}
			keep(i + 1)
		case lxComment, lxPI, lxCDATA:
			if f.piTarget {
				// XML 1.0 production 16: white space must separate a
				// PI's target from its data; encoding/xml skips it
				// unseen, so "<?xm|…" would pass for "<?xm |…".
				for i < len(b) && f.piTarget {
					c := b[i]
					switch {
					case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '?':
						f.piTarget = false
					case c < 0x80 && !isASCIINameByte(c):
						return w, errPITarget
					default:
						keep(i + 1)
					}
				}
				continue
			}
			j := bytes.IndexByte(b[i:], '>')
			if j < 0 {
				f.noteTail(b[i:])
				keep(len(b))
				break
			}
			k := i + j
			var p2, p1 byte // the two bytes before '>'
			switch j {
			case 0:
				p2, p1 = f.tail[0], f.tail[1]
			case 1:
				p2, p1 = f.tail[1], b[k-1]
			default:
				p2, p1 = b[k-2], b[k-1]
			}
			ends := false
			switch f.state {
			case lxComment:
				ends = p2 == '-' && p1 == '-'
			case lxPI:
				ends = p1 == '?'
			case lxCDATA:
				ends = p2 == ']' && p1 == ']'
			}
			f.noteTail(b[i : k+1])
			keep(k + 1)
			if ends {
				if err := f.checkToken(); err != nil {
					return w, err
				}
				f.state, f.tokBytes = lxText, 0
			}
		case lxEndTag:
			j := bytes.IndexByte(b[i:], '>')
			if j < 0 {
				keep(len(b))
				break
			}
			keep(i + j + 1)
			f.state, f.tokBytes = lxText, 0
		case lxTag:
			j := i
			for j < len(b) && b[j] != '"' && b[j] != '\'' && b[j] != '>' {
				j++
			}
			if j == len(b) {
				keep(j)
				break
			}
			c := b[j]
			keep(j + 1)
			if c == '>' {
				if err := f.checkToken(); err != nil {
					return w, err
				}
				if f.spill != nil {
					f.spill.endTag()
				}
				f.state, f.tokBytes = lxText, 0
				break
			}
			f.attrs++
			if f.attrs > f.lim.MaxAttributes {
				return w, &LimitError{Limit: "MaxAttributes", Max: f.lim.MaxAttributes}
			}
			f.state, f.quote, f.skipLF = lxAttrValue, c, false
		case lxAttrValue:
			if f.spill != nil {
				var err error
				if w, i, err = f.spill.attrValue(f, b, w, i); err != nil {
					return w, err
				}
				break
			}
			for i < len(b) && f.state == lxAttrValue {
				c := b[i]
				switch {
				case c == '\n' && f.skipLF:
					i++ // the LF of a CR LF pair: dropped
					f.skipLF = false
					continue
				case c == '\t' || c == '\n':
					c = ' '
				case c == '\r':
					c, f.skipLF = ' ', true
					b[w] = c
					w, i = w+1, i+1
					f.tokBytes++
					continue
				case c == f.quote:
					f.state = lxTag
				}
				f.skipLF = false
				b[w] = c
				w, i = w+1, i+1
				f.tokBytes++
			}
		case lxOff:
			keep(len(b))
		}
		if f.tokBytes > f.lim.MaxTokenBytes {
			return w, &LimitError{Limit: "MaxTokenBytes", Max: f.lim.MaxTokenBytes}
		}
	}
	return w, nil
}

func (f *lexFilter) checkToken() error {
	if f.tokBytes > f.lim.MaxTokenBytes {
		return &LimitError{Limit: "MaxTokenBytes", Max: f.lim.MaxTokenBytes}
	}
	return nil
}

func (f *lexFilter) noteTail(seg []byte) {
	switch n := len(seg); {
	case n >= 2:
		f.tail = [2]byte{seg[n-2], seg[n-1]}
	case n == 1:
		f.tail = [2]byte{f.tail[1], seg[0]}
	}
}

// errPITarget is a processing instruction whose target is not followed by
// white space or "?>".
var errPITarget = errors.New("malformed processing instruction: white space must follow its target")

func isASCIINameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == ':' || c == '-' || c == '.'
}
