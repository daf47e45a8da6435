package form_test

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/fairlead/fairlead/internal/capture/form"
)

// catalog is a Catalog over fixed maps; its purposes mirror the built-in
// ones of internal/consent (that package's own check is in formcheck).
type catalog struct {
	purposes map[string]form.PurposeInfo
	notices  map[string]form.NoticeInfo
}

func (c catalog) Purpose(key string) (form.PurposeInfo, bool) { p, ok := c.purposes[key]; return p, ok }
func (c catalog) Notice(hash string) (form.NoticeInfo, bool)  { n, ok := c.notices[hash]; return n, ok }
func (c catalog) PurposeKeys() []string {
	var keys []string
	for k := range c.purposes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

var all = []string{"email", "sms", "phone", "post"}

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Notice versions of the test catalogue, by kind and language.
var (
	nlDE, nlEN           = hash("consent newsletter de"), hash("consent newsletter en")
	callsDE, callsEN     = hash("consent calls de"), hash("consent calls en")
	postDE, postEN       = hash("consent post de"), hash("consent post en")
	privacyDE, privacyEN = hash("privacy de"), hash("privacy en")
	unknownHash          = hash("not in the catalogue")
)

func testCatalog() catalog {
	contact := []string{"name", "email"}
	c := catalog{
		purposes: map[string]form.PurposeInfo{
			"newsletter":           {Key: "newsletter", Kind: "direct_marketing", DataCategories: contact, Channels: all},
			"event_invitations":    {Key: "event_invitations", Kind: "direct_marketing", DataCategories: contact, Channels: all},
			"product_offers":       {Key: "product_offers", Kind: "direct_marketing", DataCategories: []string{"name", "email", "postal_address", "purchase_history"}, Channels: all},
			"sales_calls":          {Key: "sales_calls", Kind: "direct_marketing", DataCategories: []string{"name", "phone", "organization"}, Channels: all},
			"supplier_acquisition": {Key: "supplier_acquisition", Kind: "direct_marketing", DataCategories: []string{"name", "organization", "postal_address"}, Channels: []string{"post"}},
			"order_processing":     {Key: "order_processing", Kind: "contract", DataCategories: []string{"name", "email", "phone", "postal_address", "order_data"}, Channels: all},
			"inquiry_replies":      {Key: "inquiry_replies", Kind: "inquiry_reply", DataCategories: contact, Channels: all},
			"web_analytics":        {Key: "web_analytics", Kind: "analytics", DataCategories: []string{"usage_data", "device_identifiers"}, Channels: []string{"web"}},
			"email_tracking":       {Key: "email_tracking", Kind: "analytics", DataCategories: []string{"email", "usage_data"}, Channels: []string{"email"}},
		},
		notices: map[string]form.NoticeInfo{},
	}
	for h, n := range map[string][2]string{
		nlDE: {"consent_text", "de"}, nlEN: {"consent_text", "en"},
		callsDE: {"consent_text", "de"}, callsEN: {"consent_text", "en"},
		postDE: {"consent_text", "de"}, postEN: {"consent_text", "en"},
		privacyDE: {"privacy_notice", "de"}, privacyEN: {"privacy_notice", "en"},
	} {
		c.notices[h] = form.NoticeInfo{Hash: h, Kind: n[0], Language: n[1]}
	}
	return c
}

func txt(de, en string) map[string]string { return map[string]string{"de": de, "en": en} }

func demo() form.Definition { return form.Demo(nlDE, nlEN, privacyDE, privacyEN) }

// richForm is a contact form that is valid and lint clean: it answers
// inquiries (its service) and offers three optional consents, one per
// channel with a contact point.
func richForm() form.Definition {
	return form.Definition{
		Key:             "contact-sales",
		Title:           txt("Kontakt", "Contact"),
		Intro:           txt("Schreiben Sie uns.", "Write to us."),
		Languages:       []string{"de", "en"},
		ServicePurposes: []string{"inquiry_replies"},
		Fields: []form.Field{
			{Name: "email", Type: "email", Label: txt("E-Mail", "E-mail"), Required: true, Purposes: []string{"inquiry_replies", "newsletter"}},
			{Name: "last_name", Type: "text", Label: txt("Nachname", "Last name"), Required: true, Purposes: []string{"inquiry_replies"}},
			{Name: "first_name", Type: "text", Label: txt("Vorname", "First name"), Purposes: []string{"inquiry_replies"}},
			{Name: "phone", Type: "tel", Label: txt("Telefon", "Phone"), Purposes: []string{"sales_calls"}},
			{Name: "company", Type: "text", Label: txt("Firma", "Company"), Purposes: []string{"sales_calls"}},
			{Name: "topic", Type: "select", Label: txt("Thema", "Topic"), Purposes: []string{"inquiry_replies"}, Options: []form.Option{
				{Value: "pricing", Label: txt("Preise", "Pricing")},
				{Value: "support", Label: txt("Hilfe", "Support")},
			}},
			{Name: "message", Type: "textarea", Label: txt("Nachricht", "Message"), Purposes: []string{"inquiry_replies"}},
			{Name: "street", Type: "text", Label: txt("Straße", "Street"), Purposes: []string{"product_offers"}},
			{Name: "postal_code", Type: "text", Label: txt("PLZ", "Postal code"), MaxLength: 10, Purposes: []string{"product_offers"}},
			{Name: "city", Type: "text", Label: txt("Ort", "City"), Purposes: []string{"product_offers"}},
		},
		Consents: []form.Consent{
			{Key: "newsletter_email", Purposes: []string{"newsletter"}, Channels: []string{"email"}, Notice: txt(nlDE, nlEN)},
			{Key: "sales_calls_phone", Purposes: []string{"sales_calls"}, Channels: []string{"phone"}, Notice: txt(callsDE, callsEN)},
			{Key: "offers_post", Purposes: []string{"product_offers"}, Channels: []string{"post"}, Notice: txt(postDE, postEN)},
		},
		PrivacyNotice:  txt(privacyDE, privacyEN),
		Offer:          &form.Offer{Title: txt("Preisliste", "Price list"), URL: "https://www.example.com/prices.pdf"},
		AllowedOrigins: []string{"https://www.example.com", "https://shop.example.com:8443"},
		Success:        txt("Danke!", "Thank you!"),
	}
}
