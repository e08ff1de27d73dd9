package tracepage // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The decoders below are a hand-written, single-pass scanner for the two flat envelopes
// instead of encoding/json: a full 5,000-row Graph page is about 2 MB and reflection-based
// decoding cost more than building the records. They keep encoding/json's semantics exactly
// (the differential fuzz targets in differential_test.go hold them to it):
//
//   - the whole body must be valid JSON (unknown members are validated and skipped, nesting is
//     limited to 10,000 levels), with nothing but whitespace after the object;
//   - member names match exactly, else case-insensitively with encoding/json's folding;
//   - a repeated member overwrites the earlier one, and a repeated array decodes into the rows
//     the earlier one left, as encoding/json does with a slice it already holds;
//   - null leaves a non-pointer field (Graph id and receivedDateTime) unchanged and clears the
//     others; a value of the wrong type is an error; size must be an integer that fits int64;
//   - strings are unescaped (\uXXXX with surrogate pairs) and invalid UTF-8 or unpaired
//     surrogates become U+FFFD.
//
// All string values of a page are unescaped into one buffer that becomes a single string, and
// rows share their substrings, so a page costs a handful of allocations instead of one per
// value. Values repeated from the previous row (the recipients of one message) are stored once.

// Row fields. The first ones are the fields both APIs have.
const (
	fID = iota
	fMessageID
	fSender
	fRecipient
	fSubject
	fReceived
	fStatus
	fFromIP
	fToIP
	fOrganization
	nStrFields
	fSize   = nStrFields     // integer field
	fIgnore = nStrFields + 1 // a member the row does not have
)

// strRef is a string value inside the page's string buffer.
type strRef struct{ off, n int32 }

// rawRow is a row while its page is decoded.
type rawRow struct {
	str  [nStrFields]strRef
	size int64
	// bad says why a member of the row has the wrong type ("" = none did); the row is then
	// delivered raw instead of failing the page.
	bad string
	// rawStart and rawEnd are the row's JSON within the body.
	rawStart, rawEnd int
}

// rowTable describes one API's row object: member names by field and which fields, being
// plain strings in the reference types, ignore null.
type rowTable struct {
	names       [nStrFields + 1]string // indexed by field; "" = not in this API
	folded      [nStrFields + 1]string
	keepOnNull  [nStrFields]bool
	lengthsMask uint64 // bit n set when some name has n bytes (n < 64)
}

func newRowTable(names map[int]string, keepOnNull ...int) *rowTable {
	t := &rowTable{}
	for f, n := range names {
		t.names[f] = n
		t.folded[f] = string(appendFoldedName(nil, []byte(n)))
		t.lengthsMask |= 1 << uint(len(n))
	}
	for _, f := range keepOnNull {
		t.keepOnNull[f] = true
	}
	return t
}

var (
	graphRows = newRowTable(map[int]string{
		fID: "id", fMessageID: "messageId", fSender: "senderAddress", fRecipient: "recipientAddress",
		fSubject: "subject", fReceived: "receivedDateTime", fStatus: "status", fSize: "size",
		fFromIP: "fromIP", fToIP: "toIP",
	}, fID, fReceived)
	legacyRows = newRowTable(map[int]string{
		fOrganization: "Organization", fMessageID: "MessageId", fReceived: "Received",
		fSender: "SenderAddress", fRecipient: "RecipientAddress", fSubject: "Subject",
		fStatus: "Status", fToIP: "ToIP", fFromIP: "FromIP", fSize: "Size", fID: "MessageTraceId",
	})
)

// field returns the row field a member name selects, like encoding/json: exact match first,
// then the folded name.
func (t *rowTable) field(key []byte) int {
	// Exact names, by the lengths that occur in either API.
	switch len(key) {
	case 2:
		if string(key) == t.names[fID] {
			return fID
		}
	case 4:
		switch string(key) {
		case t.names[fSize]:
			return fSize
		case t.names[fToIP]:
			return fToIP
		}
	case 6:
		switch string(key) {
		case t.names[fStatus]:
			return fStatus
		case t.names[fFromIP]:
			return fFromIP
		}
	case 7:
		if string(key) == t.names[fSubject] {
			return fSubject
		}
	case 8:
		if string(key) == t.names[fReceived] {
			return fReceived
		}
	case 9:
		if string(key) == t.names[fMessageID] {
			return fMessageID
		}
	}
	for f := range t.names {
		if t.names[f] != "" && string(key) == t.names[f] {
			return f
		}
	}
	return t.foldedField(key)
}

func (t *rowTable) foldedField(key []byte) int {
	if isASCII(key) && (len(key) >= 64 || t.lengthsMask&(1<<uint(len(key))) == 0) {
		return fIgnore
	}
	var arr [64]byte
	k := appendFoldedName(arr[:0], key)
	for f := range t.folded {
		if t.folded[f] != "" && string(k) == t.folded[f] {
			return f
		}
	}
	return fIgnore
}

// nameIs reports whether a member name selects the envelope field named name (ASCII).
func nameIs(key []byte, name string) bool {
	if string(key) == name {
		return true
	}
	if isASCII(key) && len(key) != len(name) {
		return false
	}
	var arr [64]byte
	return string(appendFoldedName(arr[:0], key)) == string(appendFoldedName(nil, []byte(name)))
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// appendFoldedName is encoding/json's case folding of member names.
func appendFoldedName(out, in []byte) []byte {
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		out = utf8.AppendRune(out, foldRune(r))
		i += n
	}
	return out
}

// foldRune returns the smallest rune of r's fold set, as encoding/json does.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// maxNestingDepth is encoding/json's limit.
const maxNestingDepth = 10000

// MaxNestingDepth is the nesting limit: a row nested deeper is delivered raw, with ParseError
// "nested deeper than 10000 levels"; anything else nested deeper fails its page.
const MaxNestingDepth = maxNestingDepth

// rowArray is a decoded JSON array of rows with encoding/json's slice semantics: set says the
// field is a non-nil slice, n is its length, and backing keeps rows a longer earlier array of
// the same member left, which a repeated member decodes into.
type rowArray struct {
	set     bool
	n       int
	backing []rawRow
}

// pageDecoder scans one response body.
type pageDecoder struct {
	b     []byte
	i     int
	depth int
	table *rowTable
	strs  []byte // every decoded string value of the page
	key   []byte // scratch for member names with escapes
	prev  [nStrFields][]byte
	prevR [nStrFields]strRef
	err   error
	// tooDeep says err is the nesting limit, which a row can be skipped past (skipDeep).
	tooDeep bool
	// maxRows refuses a rows array longer than $top (0 = no limit): a page with more rows than
	// asked for is a server bug, and decoding it anyway lets one response cost any memory.
	maxRows int
}

// syntaxError is a body that is not JSON.
type syntaxError struct {
	msg string
	off int
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.off) }

func (d *pageDecoder) fail(msg string) error {
	if d.err == nil {
		d.err = &syntaxError{msg: msg, off: d.i}
	}
	return d.err
}

func (d *pageDecoder) typeError(what string) error {
	if d.err == nil {
		d.err = fmt.Errorf("cannot decode %s at offset %d", what, d.i)
	}
	return d.err
}

func (d *pageDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte (0 at the end).
func (d *pageDecoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// enter consumes an opening bracket and counts the nesting.
func (d *pageDecoder) enter() error {
	d.i++
	d.depth++
	if d.depth > maxNestingDepth {
		d.tooDeep = d.err == nil
		return d.fail("exceeded max depth")
	}
	return nil
}

// first reports whether the object or array just entered has a first element, consuming its
// closing bracket if not.
func (d *pageDecoder) first(closing byte) bool {
	if d.peek() == closing {
		d.i++
		d.depth--
		return false
	}
	return true
}

// more consumes the separator after an element and reports whether another follows.
func (d *pageDecoder) more(closing byte) (bool, error) {
	switch d.peek() {
	case ',':
		d.i++
		return true, nil
	case closing:
		d.i++
		d.depth--
		return false, nil
	}
	return false, d.fail("invalid character after element")
}

// member reads a member name and its colon; the name is only valid until the next member.
func (d *pageDecoder) member() ([]byte, error) {
	if d.peek() != '"' {
		return nil, d.fail("expected a member name")
	}
	raw, plain, err := d.str()
	if err != nil {
		return nil, err
	}
	key := raw
	if !plain {
		d.key = unquote(d.key[:0], raw)
		key = d.key
	}
	if d.peek() != ':' {
		return nil, d.fail("expected ':' after a member name")
	}
	d.i++
	d.ws()
	return key, nil
}

// strClass marks bytes that end the fast path of a string: quote, backslash, control
// characters and non-ASCII bytes.
var strClass = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf
	}
	return t
}()

// lsb has the lowest bit of every byte set.
const lsb = 0x0101010101010101

// str reads a string starting at its opening quote and returns its raw content and whether it
// is plain (ASCII without escapes, usable as is).
func (d *pageDecoder) str() (raw []byte, plain bool, err error) {
	start := d.i + 1
	i := start
	plain = true
	b := d.b
	for {
		// Eight bytes at a time while none is special (the usual case: addresses, ids).
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			q, bs := w^(lsb*'"'), w^(lsb*'\\')
			if (w|(w-lsb*0x20)|((q-lsb)&^q)|((bs-lsb)&^bs))&(lsb*0x80) != 0 {
				break
			}
			i += 8
		}
		for i < len(b) && !strClass[b[i]] {
			i++
		}
		if i >= len(b) {
			d.i = i
			return nil, false, d.fail("unexpected end of JSON input in string")
		}
		switch c := b[i]; {
		case c == '"':
			d.i = i + 1
			return b[start:i], plain, nil
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				d.i = i
				return nil, false, d.fail("unexpected end of JSON input in string escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					d.i = i
					return nil, false, d.fail("invalid \\u escape in string")
				}
				i += 6
			default:
				d.i = i
				return nil, false, d.fail("invalid escape in string")
			}
		case c < 0x20:
			d.i = i
			return nil, false, d.fail("invalid control character in string")
		default: // non-ASCII: valid or not, handled when unquoting
			plain = false
			i++
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unquote appends the unescaped form of a validated raw string, as encoding/json does.
func unquote(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			switch raw[i+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(raw[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' && isHex(raw[i+2]) && isHex(raw[i+3]) && isHex(raw[i+4]) && isHex(raw[i+5]) {
						if dec := utf16.DecodeRune(r, hex4(raw[i+2:])); dec != unicode.ReplacementChar {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // " \ /
				dst = append(dst, raw[i+1])
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, unicode.ReplacementChar)
			} else {
				dst = append(dst, raw[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

// strValue decodes the string at the cursor into the page's buffer. Values equal to the same
// field of the previous row share its bytes.
func (d *pageDecoder) strValue(field int) (strRef, error) {
	if field < nStrFields {
		// The previous row's raw value was a complete string: the same bytes followed by a
		// quote are the same string, without scanning it again.
		if p, end := d.prev[field], d.i+1+len(d.prev[field]); p != nil && end < len(d.b) && d.b[end] == '"' && bytes.Equal(p, d.b[d.i+1:end]) {
			d.i = end + 1
			return d.prevR[field], nil
		}
	}
	raw, plain, err := d.str()
	if err != nil {
		return strRef{}, err
	}
	off := len(d.strs)
	if plain {
		d.strs = append(d.strs, raw...)
	} else {
		d.strs = unquote(d.strs, raw)
	}
	ref := strRef{off: int32(off), n: int32(len(d.strs) - off)}
	if field < nStrFields {
		d.prev[field], d.prevR[field] = raw, ref
	}
	return ref, nil
}

// number validates a JSON number at the cursor and returns its text.
func (d *pageDecoder) number() ([]byte, error) {
	b, start, i := d.b, d.i, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		d.i = i
		return nil, d.fail("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			return nil, d.fail("invalid number")
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.i = i
			return nil, d.fail("invalid number")
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	d.i = i
	return b[start:i], nil
}

// literal consumes true, false or null.
func (d *pageDecoder) literal(word string) error {
	if len(d.b)-d.i < len(word) || string(d.b[d.i:d.i+len(word)]) != word {
		return d.fail("invalid literal")
	}
	d.i += len(word)
	return nil
}

// skip validates and skips any value.
func (d *pageDecoder) skip() error {
	switch c := d.peek(); c {
	case '"':
		_, _, err := d.str()
		return err
	case '{':
		if err := d.enter(); err != nil {
			return err
		}
		for ok := d.first('}'); ok; {
			if _, err := d.member(); err != nil {
				return err
			}
			if err := d.skip(); err != nil {
				return err
			}
			var err error
			if ok, err = d.more('}'); err != nil {
				return err
			}
		}
		return nil
	case '[':
		if err := d.enter(); err != nil {
			return err
		}
		for ok := d.first(']'); ok; {
			if err := d.skip(); err != nil {
				return err
			}
			var err error
			if ok, err = d.more(']'); err != nil {
				return err
			}
		}
		return nil
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		_, err := d.number()
		return err
	}
}

// isNull consumes null if it is next.
func (d *pageDecoder) isNull() (bool, error) {
	if d.peek() != 'n' {
		return false, nil
	}
	return true, d.literal("null")
}

// optString decodes a string member of an envelope: null keeps the current value.
func (d *pageDecoder) optString(cur strRef) (strRef, error) {
	switch d.peek() {
	case '"':
		return d.strValue(fIgnore)
	case 'n':
		return cur, d.literal("null")
	}
	return cur, d.typeError("a non-string value into a string")
}

// rows decodes an array of row objects into a, with encoding/json's slice semantics.
func (d *pageDecoder) rows(a *rowArray) error {
	switch d.peek() {
	case 'n':
		*a = rowArray{}
		return d.literal("null")
	case '[':
	default:
		return d.typeError("a non-array value into the rows")
	}
	if err := d.enter(); err != nil {
		return err
	}
	if a.backing == nil {
		// Rows are at least ~250 bytes on either API: one allocation for the whole page, never
		// more rows than $top (a 60 MB page of tiny rows must not reserve room for 250,000).
		n := len(d.b)/256 + 1
		if d.maxRows > 0 {
			n = min(n, d.maxRows)
		}
		a.backing = make([]rawRow, 0, n)
	}
	n := 0
	for ok := d.first(']'); ok; n++ {
		if d.maxRows > 0 && n >= d.maxRows {
			return fmt.Errorf("%w: the page holds more than the %d rows asked for ($top); a server bug", ErrTooManyRows, d.maxRows)
		}
		if n == len(a.backing) {
			a.backing = append(a.backing, rawRow{})
		}
		// Every row is decoded afresh: a repeated rows member replaces the rows, it does not
		// merge into them (the reference decodes each row on its own).
		a.backing[n] = rawRow{}
		if depth := d.depth; d.row(&a.backing[n]) != nil {
			if err := d.skipTooDeep(&a.backing[n], depth); err != nil {
				return err
			}
		}
		var err error
		if ok, err = d.more(']'); err != nil {
			return err
		}
	}
	if n == 0 {
		a.backing = nil // encoding/json replaces an emptied slice by a new empty one
	}
	a.set, a.n = true, n
	return nil
}

// row decodes one row object (or null, which leaves it empty). A value of the wrong type, for
// the row or one of its members, makes the row bad, not the page: it is still valid JSON, so
// the rest of the page can be read.
func (d *pageDecoder) row(r *rawRow) error {
	c := d.peek()
	r.rawStart = d.i
	defer func() { r.rawEnd = d.i }()
	switch c {
	case 'n':
		return d.literal("null")
	case '{':
	default:
		if err := d.skip(); err != nil {
			return err
		}
		r.bad = "the row is not a JSON object"
		return nil
	}
	if err := d.enter(); err != nil {
		return err
	}
	for ok := d.first('}'); ok; {
		key, err := d.member()
		if err != nil {
			return err
		}
		switch f := d.table.field(key); f {
		case fIgnore:
			if err := d.skip(); err != nil {
				return err
			}
		case fSize:
			switch c := d.peek(); {
			case c == 'n':
				if err := d.literal("null"); err != nil {
					return err
				}
				r.size = 0
			case c == '-' || '0' <= c && c <= '9':
				num, err := d.number()
				if err != nil {
					return err
				}
				v, perr := strconv.ParseInt(string(num), 10, 64)
				if perr != nil {
					r.badf("%s is not an integer of 64 bits", d.table.names[fSize])
				}
				r.size = v
			default:
				if err := d.skip(); err != nil {
					return err
				}
				r.badf("%s is not a number", d.table.names[fSize])
			}
		default:
			switch c := d.peek(); c {
			case '"':
				if r.str[f], err = d.strValue(f); err != nil {
					return err
				}
			case 'n':
				if err := d.literal("null"); err != nil {
					return err
				}
				if !d.table.keepOnNull[f] {
					r.str[f] = strRef{}
				}
			default:
				if err := d.skip(); err != nil {
					return err
				}
				r.badf("%s is not a string", d.table.names[f])
			}
		}
		if ok, err = d.more('}'); err != nil {
			return err
		}
	}
	return nil
}

// tooDeepReason is what an unparsed row nested deeper than the limit says.
var tooDeepReason = fmt.Sprintf("nested deeper than %d levels", maxNestingDepth)

// skipTooDeep turns a row that failed at the nesting limit into a bad row and moves past it,
// so that one such row never fails its page: the row is scanned again from its start without
// recursion (skipFlat). Any other error, or a row that is not valid JSON, still fails the page.
func (d *pageDecoder) skipTooDeep(r *rawRow, depth int) error {
	if !d.tooDeep {
		return d.err // every error of row is d.err (fail, typeError)
	}
	d.err, d.tooDeep = nil, false
	d.i, d.depth = r.rawStart, depth
	if err := d.skipFlat(); err != nil {
		return err
	}
	r.rawEnd = d.i
	r.bad = tooDeepReason
	return nil
}

// skipFlat validates and skips any value at any depth without recursion: the open containers
// are one bit each (object or array), so a body of n bytes needs at most n/8 bytes of them.
func (d *pageDecoder) skipFlat() error {
	var objects []uint64 // bit k set: the k-th open container is an object
	open := 0
	isObject := func() bool { return objects[(open-1)/64]>>((open-1)%64)&1 == 1 }
	for {
		// A value.
		switch c := d.peek(); c {
		case '{', '[':
			d.i++
			if open/64 == len(objects) {
				objects = append(objects, 0)
			}
			bit := uint64(1) << (open % 64)
			objects[open/64] &^= bit
			if c == '{' {
				objects[open/64] |= bit
			}
			open++
			closing := byte(']')
			if c == '{' {
				closing = '}'
			}
			if d.peek() != closing {
				if c == '{' {
					if _, err := d.member(); err != nil {
						return err
					}
				}
				continue // its first element
			}
			d.i++
			open--
		case '"':
			if _, _, err := d.str(); err != nil {
				return err
			}
		case 't':
			if err := d.literal("true"); err != nil {
				return err
			}
		case 'f':
			if err := d.literal("false"); err != nil {
				return err
			}
		case 'n':
			if err := d.literal("null"); err != nil {
				return err
			}
		default:
			if _, err := d.number(); err != nil {
				return err
			}
		}
		// After a value: close what ends here, or go on with the next element.
		for next := false; !next; {
			if open == 0 {
				return nil
			}
			closing := byte(']')
			if isObject() {
				closing = '}'
			}
			switch d.peek() {
			case ',':
				d.i++
				if isObject() {
					if _, err := d.member(); err != nil {
						return err
					}
				}
				next = true
			case closing:
				d.i++
				open--
			default:
				return d.fail("invalid character after element")
			}
		}
	}
}

// badf records the first reason a row is bad.
func (r *rawRow) badf(format string, args ...any) {
	if r.bad == "" {
		r.bad = fmt.Sprintf(format, args...)
	}
}

// object iterates the members of an object at the cursor.
func (d *pageDecoder) object(member func(key []byte) error) error {
	if d.peek() != '{' {
		return d.fail("expected an object")
	}
	if err := d.enter(); err != nil {
		return err
	}
	for ok := d.first('}'); ok; {
		key, err := d.member()
		if err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
		if ok, err = d.more('}'); err != nil {
			return err
		}
	}
	return nil
}

// end checks that only whitespace follows the top-level object.
func (d *pageDecoder) end() error {
	if d.peek() != 0 || d.i < len(d.b) {
		return d.fail("invalid character after top-level value")
	}
	return nil
}
