package msgtracetest

import (
	"errors"
	"fmt"
	"strings"
)

// A deliberately small OData $filter reader: comparisons `prop op literal`,
// functions `fn(prop,'text')`, parentheses, joined by `and`/`or`. Both Graph and the
// legacy service only support ANDed simple clauses; `or` is accepted and treated like
// `and` (observed Graph behaviour: "silently ignored, last value per property").

type tokKind int

const (
	tokWord tokKind = iota
	tokString
	tokTyped // datetime'...'
	tokLParen
	tokRParen
	tokComma
)

type token struct {
	kind tokKind
	text string // word text, string content (unescaped), typed literal content
	typ  string // for tokTyped: the type prefix as written (datetime, DateTime)
}

func tokenize(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch c {
		case ' ', '\t':
			i++
		case '(':
			toks = append(toks, token{kind: tokLParen})
			i++
		case ')':
			toks = append(toks, token{kind: tokRParen})
			i++
		case ',':
			toks = append(toks, token{kind: tokComma})
			i++
		case '\'':
			str, n, err := readQuoted(s[i:])
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tokString, text: str})
			i += n
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t(),'", rune(s[j])) {
				j++
			}
			word := s[i:j]
			if j < len(s) && s[j] == '\'' {
				str, n, err := readQuoted(s[j:])
				if err != nil {
					return nil, err
				}
				toks = append(toks, token{kind: tokTyped, typ: word, text: str})
				i = j + n
				continue
			}
			toks = append(toks, token{kind: tokWord, text: word})
			i = j
		}
	}
	return toks, nil
}

// readQuoted reads a quoted literal at the start of s; a doubled quote escapes a quote.
func readQuoted(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] == '\'' {
			if i+1 < len(s) && s[i+1] == '\'' {
				b.WriteByte('\'')
				i++
				continue
			}
			return b.String(), i + 1, nil
		}
		b.WriteByte(s[i])
	}
	return "", 0, errors.New("unterminated string literal")
}

type clause struct {
	prop string // as written
	op   string // lower case: eq ge le gt lt ne contains startswith endswith
	val  token
}

type filterParser struct {
	toks []token
	pos  int
	out  []clause
}

func parseFilter(s string) ([]clause, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, errors.New("empty filter")
	}
	p := &filterParser{toks: toks}
	if err := p.expr(); err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("syntax error at position %d", p.pos)
	}
	return p.out, nil
}

func (p *filterParser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

func (p *filterParser) next() (token, bool) {
	t, ok := p.peek()
	if ok {
		p.pos++
	}
	return t, ok
}

func (p *filterParser) expr() error {
	if err := p.term(); err != nil {
		return err
	}
	for {
		t, ok := p.peek()
		if !ok || t.kind != tokWord {
			return nil
		}
		switch strings.ToLower(t.text) {
		case "and", "or":
			p.pos++
			if err := p.term(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("syntax error: unexpected '%s'", t.text)
		}
	}
}

func (p *filterParser) term() error {
	t, ok := p.next()
	if !ok {
		return errors.New("syntax error: unexpected end of filter")
	}
	if t.kind == tokLParen {
		if err := p.expr(); err != nil {
			return err
		}
		if t, ok := p.next(); !ok || t.kind != tokRParen {
			return errors.New("syntax error: ')' expected")
		}
		return nil
	}
	if t.kind != tokWord {
		return errors.New("syntax error: property or function expected")
	}
	switch lw := strings.ToLower(t.text); lw {
	case "not":
		return errors.New("the 'not' operator is not supported")
	case "contains", "startswith", "endswith":
		if n, ok := p.peek(); ok && n.kind == tokLParen {
			p.pos++
			prop, ok := p.next()
			if !ok || prop.kind != tokWord {
				return fmt.Errorf("syntax error: property expected in %s()", t.text)
			}
			if c, ok := p.next(); !ok || c.kind != tokComma {
				return fmt.Errorf("syntax error: ',' expected in %s()", t.text)
			}
			arg, ok := p.next()
			if !ok || arg.kind != tokString {
				return fmt.Errorf("syntax error: string literal expected in %s()", t.text)
			}
			if c, ok := p.next(); !ok || c.kind != tokRParen {
				return fmt.Errorf("syntax error: ')' expected in %s()", t.text)
			}
			p.out = append(p.out, clause{prop: prop.text, op: lw, val: arg})
			return nil
		}
	}
	op, ok := p.next()
	if !ok || op.kind != tokWord {
		return fmt.Errorf("syntax error: operator expected after '%s'", t.text)
	}
	lop := strings.ToLower(op.text)
	switch lop {
	case "eq", "ge", "le", "gt", "lt", "ne":
	case "in":
		return errors.New("the 'in' operator is not supported")
	default:
		return fmt.Errorf("syntax error: unknown operator '%s'", op.text)
	}
	val, ok := p.next()
	if !ok || (val.kind != tokWord && val.kind != tokString && val.kind != tokTyped) {
		return fmt.Errorf("syntax error: literal expected after '%s %s'", t.text, op.text)
	}
	if lop == "ne" {
		return errors.New("the 'ne' operator is not supported")
	}
	p.out = append(p.out, clause{prop: t.text, op: lop, val: val})
	return nil
}
