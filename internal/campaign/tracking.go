package campaign

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"html"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/track"
)

// TrackingPurpose is the business purpose whose decision allows the open
// pixel and tracked links in a message (rules §3: analytics on e-mail).
const TrackingPurpose = "email_tracking"

// ErrTrackingLink means a tracking link is not one of ours.
var ErrTrackingLink = errors.New("the tracking link is not valid")

const (
	trackOpen  = 'o'
	trackClick = 'c'
	trackMAC   = 16
	maxLinkURL = 1500
)

// trackToken signs what an open or click reports: workspace, contact,
// campaign, step and (for a click) the target URL. Nothing is stored; a
// link is checked by recomputing its MAC.
func (s *Service) trackToken(kind byte, ws, contactID, campaignID string, step int, target string) string {
	b := make([]byte, 0, 64+len(target))
	b = append(b, 1, kind)
	for _, x := range []string{ws, contactID, campaignID} {
		raw, _ := id.Bytes(x)
		b = append(b, raw[:]...)
	}
	b = append(b, byte(step))
	b = append(b, target...)
	b = append(b, s.Capture.Keys.MAC("link:campaign-track", b)[:trackMAC]...)
	return base64.RawURLEncoding.EncodeToString(b)
}

type tracked struct {
	kind                      byte
	ws, contactID, campaignID string
	step                      int
	target                    string
}

func (s *Service) parseTrack(kind byte, tok string) (tracked, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) < 2+48+1+trackMAC || b[0] != 1 || b[1] != kind {
		return tracked{}, ErrTrackingLink
	}
	body, mac := b[:len(b)-trackMAC], b[len(b)-trackMAC:]
	if !hmac.Equal(mac, s.Capture.Keys.MAC("link:campaign-track", body)[:trackMAC]) {
		return tracked{}, ErrTrackingLink
	}
	t := tracked{kind: kind, ws: string(id.AppendText(nil, body[2:18])), contactID: string(id.AppendText(nil, body[18:34])),
		campaignID: string(id.AppendText(nil, body[34:50])), step: int(body[50]), target: string(body[51:])}
	return t, nil
}

// record stores an open or click, but only while the engine still allows
// e-mail tracking for the contact: a withdrawal after the message was sent
// stops the recording, not the link.
func (s *Service) record(ctx context.Context, t tracked, typ string) error {
	if s.Track == nil {
		return nil
	}
	ds, err := s.Engine.DecideContacts(ctx, t.ws, []string{t.contactID}, TrackingPurpose, "email", audience.Campaign{})
	if err != nil {
		return err
	}
	if d, ok := ds[t.contactID]; !ok || !d.Allowed {
		return nil
	}
	ref := "campaign:" + t.campaignID + ":" + strconv.Itoa(t.step)
	name := "campaign:" + t.campaignID
	if t.target != "" {
		name = t.target
		if len(name) > track.MaxName {
			name = name[:track.MaxName]
		}
	}
	return s.Track.Record(ctx, s.DB.W, t.ws, []track.Event{{ContactID: t.contactID, Type: typ, Name: name, Ref: ref, At: s.now()}})
}

// TrackOpen records the open behind an open-pixel token.
func (s *Service) TrackOpen(ctx context.Context, tok string) error {
	t, err := s.parseTrack(trackOpen, tok)
	if err != nil {
		return err
	}
	return s.record(ctx, t, "email_open")
}

// TrackClick records the click behind a link token and returns where the
// link goes.
func (s *Service) TrackClick(ctx context.Context, tok string) (string, error) {
	t, err := s.parseTrack(trackClick, tok)
	if err != nil {
		return "", err
	}
	return t.target, s.record(ctx, t, "email_click")
}

var hrefRE = regexp.MustCompile(`href="(https?://[^"]+)"`)

// trackHTML routes the body's http(s) links through click tokens and adds
// the open pixel. It runs before the footer is added, so the imprint,
// privacy, preference and unsubscribe links are never tracked.
func (s *Service) trackHTML(body, publicURL, ws, contactID, campaignID string, step int) string {
	body = hrefRE.ReplaceAllStringFunc(body, func(m string) string {
		target := html.UnescapeString(hrefRE.FindStringSubmatch(m)[1])
		if len(target) > maxLinkURL {
			return m
		}
		if u, err := url.Parse(target); err != nil || u.Host == "" {
			return m
		}
		return `href="` + publicURL + "/p/t/c/" + s.trackToken(trackClick, ws, contactID, campaignID, step, target) + `"`
	})
	pixel := `<img src="` + publicURL + "/p/t/o/" + s.trackToken(trackOpen, ws, contactID, campaignID, step, "") + `" width="1" height="1" alt="" style="display:block;border:0">`
	if i := strings.LastIndex(strings.ToLower(body), "</body>"); i >= 0 {
		return body[:i] + pixel + body[i:]
	}
	return body + "\n" + pixel
}
