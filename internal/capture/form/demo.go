package form

// DemoKey is the key of the demo form.
const DemoKey = "demo-newsletter"

// Demo is the demo form: a newsletter sign-up with an e-book as content
// offer. Its service is the newsletter, so the one checkbox may be required
// (a pure sign-up has nothing else to couple it to). Only the e-mail address
// is mandatory; the first name is optional (for the salutation, which the
// newsletter purpose's data category "name" covers). The arguments are the
// notice versions: consent text and privacy notice, German and English.
func Demo(newsletterNoticeDE, newsletterNoticeEN, privacyDE, privacyEN string) Definition {
	return Definition{
		Key:   DemoKey,
		Title: map[string]string{"de": "Newsletter abonnieren", "en": "Subscribe to our newsletter"},
		Intro: map[string]string{
			"de": "Melden Sie sich für unseren Newsletter an und erhalten Sie unser E-Book als Dankeschön.",
			"en": "Sign up for our newsletter and get our e-book as a thank-you.",
		},
		Languages:       []string{"de", "en"},
		MarketingSignup: true,
		ServicePurposes: []string{},
		Fields: []Field{
			{Name: "email", Type: "email", Label: map[string]string{"de": "E-Mail-Adresse", "en": "E-mail address"},
				Required: true, Purposes: []string{"newsletter"}},
			{Name: "first_name", Type: "text", Label: map[string]string{"de": "Vorname", "en": "First name"},
				Purposes: []string{"newsletter"}},
		},
		Consents: []Consent{
			{Key: "newsletter_email", Purposes: []string{"newsletter"}, Channels: []string{"email"},
				Notice: map[string]string{"de": newsletterNoticeDE, "en": newsletterNoticeEN}, Required: true},
		},
		PrivacyNotice: map[string]string{"de": privacyDE, "en": privacyEN},
		Offer: &Offer{
			Title: map[string]string{"de": "Ihr E-Book: Leads rechtssicher gewinnen", "en": "Your e-book: winning leads lawfully"},
			URL:   "/p/forms/" + DemoKey + "/ebook",
		},
		Success: map[string]string{
			"de": "Bitte bestätigen Sie Ihre Anmeldung über den Link in der E-Mail, die wir Ihnen gerade geschickt haben.",
			"en": "Please confirm your sign-up with the link in the e-mail we have just sent you.",
		},
	}
}
