package msgtracetest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// cursor is what a Graph skiptoken carries, like the V2 cmdlet's
// (StartingRecipientAddress, EndDate) pair: the last row handed out (its received
// time, id and recipient) and the effective query window, so the next page continues
// strictly after that row in newest-first order. It is a position, not an offset.
type cursor struct {
	recv     time.Time
	key      rowKey
	winStart time.Time
	winEnd   time.Time
}

const skiptokenVersion = 1

var errBadSkiptoken = errors.New("invalid skiptoken")

// encodeSkiptoken: version | recv | winStart | winEnd (unix ns) | len+id | len+recipient
// | 4-byte nonce (each handed-out token is unique, so a poisoned one stays alone) |
// 12-byte HMAC-SHA256 over everything before it. base64url without padding.
func (s *Server) encodeSkiptoken(c cursor) string {
	b := []byte{skiptokenVersion}
	b = binary.BigEndian.AppendUint64(b, uint64(c.recv.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(c.winStart.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(c.winEnd.UnixNano()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.key.id)))
	b = append(b, c.key.id...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.key.recipient)))
	b = append(b, c.key.recipient...)
	var nonce [4]byte
	_, _ = rand.Read(nonce[:])
	b = append(b, nonce[:]...)
	m := hmac.New(sha256.New, s.macKey)
	m.Write(b)
	b = append(b, m.Sum(nil)[:12]...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) decodeSkiptoken(tok string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 1+24+2+2+4+12 || b[0] != skiptokenVersion {
		return cursor{}, errBadSkiptoken
	}
	body, mac := b[:len(b)-12], b[len(b)-12:]
	m := hmac.New(sha256.New, s.macKey)
	m.Write(body)
	if !hmac.Equal(mac, m.Sum(nil)[:12]) {
		return cursor{}, errBadSkiptoken
	}
	p := body[1:]
	c := cursor{
		recv:     time.Unix(0, int64(binary.BigEndian.Uint64(p[0:8]))).UTC(),
		winStart: time.Unix(0, int64(binary.BigEndian.Uint64(p[8:16]))).UTC(),
		winEnd:   time.Unix(0, int64(binary.BigEndian.Uint64(p[16:24]))).UTC(),
	}
	p = p[24:]
	readStr := func() (string, bool) {
		if len(p) < 2 {
			return "", false
		}
		n := int(binary.BigEndian.Uint16(p))
		if len(p) < 2+n {
			return "", false
		}
		v := string(p[2 : 2+n])
		p = p[2+n:]
		return v, true
	}
	var ok1, ok2 bool
	c.key.id, ok1 = readStr()
	c.key.recipient, ok2 = readStr()
	if !ok1 || !ok2 || len(p) != 4 {
		return cursor{}, errBadSkiptoken
	}
	return c, nil
}
