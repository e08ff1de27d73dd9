// Package jsonlibs is the issue 13 comparison of JSON libraries that could replace the
// hand-written page decoder (sonic, goccy/go-json, json-iterator, segmentio/encoding, fastjson).
// It is a Go module of its own (issue 21), so that none of the five is a requirement of the
// receiver's module and a user's build of the receiver never resolves them.
package jsonlibs // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage/jsonlibs"

import (
	"bytes"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/bytedance/sonic"
	gojson "github.com/goccy/go-json"
	jsoniter "github.com/json-iterator/go"
	segjson "github.com/segmentio/encoding/json"
	"github.com/valyala/fastjson"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage/tracepagetest"
)

// Issue 13 asked whether a maintained JSON library can replace the hand-written decoder. Each candidate below decodes a page the way the encoding/json reference does (the
// page into per-row RawMessages, then each row on its own, so a bad row is delivered raw and
// does not fail the page); fastjson has no struct decoding and walks the parsed tree instead.
// The test requires every candidate to produce today's rows on the real pages before the
// benchmark's figures mean anything.

// Library is one JSON library behind both page decoders.
type Library struct {
	Name          string
	Graph, Legacy func([]byte) (*tracepage.Page, error)
}

// Libraries are the candidates, encoding/json first.
func Libraries() []Library {
	return []Library{
		{Name: "encoding_json", Graph: tracepagetest.ReferenceGraph, Legacy: tracepagetest.ReferenceLegacy},
		{Name: "goccy_go_json", Graph: tracepagetest.GraphVia(gojson.Unmarshal), Legacy: tracepagetest.LegacyVia(gojson.Unmarshal)},
		{Name: "segmentio", Graph: tracepagetest.GraphVia(segjson.Unmarshal), Legacy: tracepagetest.LegacyVia(segjson.Unmarshal)},
		{Name: "sonic_std", Graph: tracepagetest.GraphVia(sonic.ConfigStd.Unmarshal), Legacy: tracepagetest.LegacyVia(sonic.ConfigStd.Unmarshal)},
		{
			Name: "jsoniter_std", Graph: tracepagetest.GraphVia(jsoniter.ConfigCompatibleWithStandardLibrary.Unmarshal),
			Legacy: tracepagetest.LegacyVia(jsoniter.ConfigCompatibleWithStandardLibrary.Unmarshal),
		},
		{Name: "fastjson", Graph: fastjsonGraphPage, Legacy: fastjsonLegacyPage},
	}
}

var fastjsonParsers fastjson.ParserPool

func fastjsonGraphPage(body []byte) (*tracepage.Page, error) {
	if !tracepage.LooksLikeJSONObject(body) {
		return nil, tracepage.ErrNotJSON
	}
	p := fastjsonParsers.Get()
	defer fastjsonParsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, fmt.Errorf("malformed Graph response: %w", err)
	}
	out := &tracepage.Page{}
	if n := fjField(v, "@odata.nextLink"); n != nil && n.Type() == fastjson.TypeString {
		out.Next = fjString(n)
	}
	rows, err := fjRows(fjField(v, "value"))
	if err != nil {
		return nil, fmt.Errorf("malformed Graph response: %w", err)
	}
	out.Rows = make([]tracepage.Row, 0, len(rows))
	for _, row := range rows {
		f, size, typeErr := fjRowFields(row, graphFieldNames)
		received, err := time.Parse(time.RFC3339Nano, f[5])
		switch {
		case typeErr != nil:
			out.Rows = append(out.Rows, tracepage.Unparsed(row.MarshalTo(nil), typeErr.Error(), received.UTC(), err == nil))
			continue
		case err != nil:
			out.Rows = append(out.Rows, tracepage.Unparsed(row.MarshalTo(nil), err.Error(), time.Time{}, false))
			continue
		case f[0] == "":
			out.Rows = append(out.Rows, tracepage.Unparsed(row.MarshalTo(nil), "no id", received.UTC(), true))
			continue
		}
		out.Rows = append(out.Rows, tracepage.Row{
			ID: f[0], MessageID: f[1], Sender: f[2], Recipient: f[3], Subject: f[4], Status: f[6],
			FromIP: f[7], ToIP: f[8], Received: received.UTC(), Size: size,
		})
	}
	tracepage.PlaceUnparsed(out.Rows)
	return out, nil
}

func fastjsonLegacyPage(body []byte) (*tracepage.Page, error) {
	if !tracepage.LooksLikeJSONObject(body) {
		return nil, tracepage.ErrNotJSON
	}
	p := fastjsonParsers.Get()
	defer fastjsonParsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, fmt.Errorf("malformed Reporting Web Service response: %w", err)
	}
	list, nextV := fjField(v, "value"), fjField(v, "odata.nextLink")
	if d := fjField(v, "d"); d != nil && d.Type() == fastjson.TypeObject {
		list, nextV = fjField(d, "results"), fjField(d, "__next")
	} else if list == nil || list.Type() == fastjson.TypeNull {
		return nil, errors.New("malformed Reporting Web Service response: neither d.results nor value")
	}
	out := &tracepage.Page{}
	if nextV != nil && nextV.Type() == fastjson.TypeString {
		out.Next = fjString(nextV)
	}
	rows, err := fjRows(list)
	if err != nil {
		return nil, fmt.Errorf("malformed Reporting Web Service response: %w", err)
	}
	out.Rows = make([]tracepage.Row, 0, len(rows))
	for _, row := range rows {
		f, size, typeErr := fjRowFields(row, legacyFieldNames)
		received, err := tracepagetest.RefParseLegacyDate(f[2])
		switch {
		case typeErr != nil:
			out.Rows = append(out.Rows, tracepage.Unparsed(row.MarshalTo(nil), typeErr.Error(), received, err == nil))
			continue
		case err != nil:
			out.Rows = append(out.Rows, tracepage.Unparsed(row.MarshalTo(nil), err.Error(), time.Time{}, false))
			continue
		case f[9] == "":
			out.Rows = append(out.Rows, tracepage.Unparsed(row.MarshalTo(nil), "no MessageTraceId", received, true))
			continue
		}
		out.Rows = append(out.Rows, tracepage.Row{
			ID: f[9], MessageID: f[1], Sender: f[3], Recipient: f[4], Subject: f[5], Status: f[6],
			FromIP: f[8], ToIP: f[7], Organization: f[0], Received: received, Size: size,
		})
	}
	tracepage.PlaceUnparsed(out.Rows)
	return out, nil
}

// The string fields of a row in the order fjRowFields returns them; "size"/"Size" is apart.
var (
	graphFieldNames = [][]byte{
		[]byte("id"), []byte("messageId"), []byte("senderAddress"), []byte("recipientAddress"),
		[]byte("subject"), []byte("receivedDateTime"), []byte("status"), []byte("fromIP"), []byte("toIP"),
	}
	legacyFieldNames = [][]byte{
		[]byte("Organization"), []byte("MessageId"), []byte("Received"), []byte("SenderAddress"),
		[]byte("RecipientAddress"), []byte("Subject"), []byte("Status"), []byte("ToIP"), []byte("FromIP"), []byte("MessageTraceId"),
	}
	sizeFieldName = []byte("size")
)

// fjField finds key as encoding/json would: exact match first, else case-insensitive; the
// last duplicate wins.
func fjField(v *fastjson.Value, key string) *fastjson.Value {
	o, err := v.Object()
	if err != nil {
		return nil
	}
	var exact, folded *fastjson.Value
	o.Visit(func(k []byte, v *fastjson.Value) {
		if string(k) == key {
			exact = v
		} else if bytes.EqualFold(k, []byte(key)) {
			folded = v
		}
	})
	if exact != nil {
		return exact
	}
	return folded
}

func fjRows(v *fastjson.Value) ([]*fastjson.Value, error) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	return v.Array()
}

// fjRowFields reads a row's string fields and size with encoding/json's typing: null leaves a
// field empty, any other type than string (or number for size) is a type error.
func fjRowFields(row *fastjson.Value, names [][]byte) (fields []string, size int64, err error) {
	fields = make([]string, len(names))
	o, err := row.Object()
	if err != nil {
		return fields, 0, err
	}
	o.Visit(func(k []byte, v *fastjson.Value) {
		if bytes.EqualFold(k, sizeFieldName) {
			switch v.Type() {
			case fastjson.TypeNull:
			case fastjson.TypeNumber:
				n, e := v.Int64()
				if e != nil && err == nil {
					err = e
				}
				size = n
			default:
				if err == nil {
					err = fmt.Errorf("size: %s is not a number", v.Type())
				}
			}
			return
		}
		for i, name := range names {
			if !bytes.EqualFold(k, name) {
				continue
			}
			switch v.Type() {
			case fastjson.TypeNull:
				fields[i] = ""
			case fastjson.TypeString:
				fields[i] = fjString(v)
			default:
				if err == nil {
					err = fmt.Errorf("%s: %s is not a string", name, v.Type())
				}
			}
			return
		}
	})
	return fields, size, err
}

// fjString copies a string value out of the parser's buffer, replacing each invalid UTF-8
// byte by U+FFFD as encoding/json does (fastjson passes them through).
func fjString(v *fastjson.Value) string {
	b := v.GetStringBytes()
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]rune, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		out = append(out, r)
		b = b[n:]
	}
	return string(out)
}
